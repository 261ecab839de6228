// libFuzzer target for the edge parsers: parse_envelope, then parse_payload on
// the decoded payload, and parse_payload on the raw input too (so payload
// bugs are reachable without forging base64). Neither may crash, hang, leak
// or trip a sanitizer; whatever they accept must honour the documented limits.
#include <jit/base64.hpp>
#include <jit/bundle.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void check_payload(std::string_view bytes) {
    const auto p = jit::parse_payload(bytes);
    if (!p.ok()) {
        if (p.error().code.empty() || p.error().message.empty()) std::abort();
        return;
    }
    // Anything accepted is within the limits the rest of the project relies on.
    if (p->type != jit::kGrantsType || p->revision < 1 || p->expires_at <= p->issued_at) std::abort();
    if (p->grants.size() > jit::limits::kMaxGrants) std::abort();
    for (const jit::Grant& g : p->grants) {
        if (g.not_after <= g.not_before || g.user.empty() || g.user.size() > 32) std::abort();
        if (g.uid && (*g.uid < jit::limits::kMinUid || *g.uid > jit::limits::kMaxUid)) std::abort();
        if (g.reason.size() > jit::limits::kMaxReasonBytes || g.display_name.find(':') != std::string::npos) std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    if (const auto env = jit::parse_envelope(input); env.ok()) {
        if (env->signature.size() != jit::limits::kEd25519SignatureBytes) std::abort();
        check_payload(env->payload);
    }
    check_payload(input);
    // Strict base64 must round-trip whatever it accepts.
    if (const auto decoded = jit::base64_decode(input); decoded.ok()) {
        if (jit::base64_encode(*decoded) != input) std::abort();
    }
    return 0;
}
