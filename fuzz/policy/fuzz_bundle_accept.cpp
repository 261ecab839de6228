// libFuzzer target for the host's acceptance of a signed bundle
// (verify_and_accept, PROTOCOL.md §1 rules 1-5) past its signature: each input
// is a context (first byte: the last accepted revision; second byte: whether
// the last accepted bytes are this payload's, and whether the signature is
// spoiled) and a payload (the rest), signed here with the one trusted key, so
// that the rules after the signature check get the depth that a forged input
// never reaches. (fuzz_policy runs the parsers themselves on raw bytes, with
// no signature: much faster.)
// Whatever is accepted obeys the rules (this host, no rollback or fork,
// issued_at within the skew, expires_at after issued_at, every grant within
// the limits); whatever is refused has a code of rules 1-5 and a message; a
// spoiled signature is always refused as such.
#include <jit/bundle.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "require.hpp"
#include "test_util.hpp"

namespace {

using jit::fuzz::require;

constexpr jit::UnixTime kNow = 1764250000;
const jit::test::Signer* signer = nullptr;
const jit::TrustedKeys* keys = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    static const jit::test::Signer s;  // one key for the run, made before the first input
    static const jit::TrustedKeys k = s.keys("fuzz-key");
    signer = &s;
    keys = &k;
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    static constexpr std::int64_t kLast[] = {0, 1, 42, 1000, 9007199254740991};
    jit::AcceptContext ctx;
    ctx.host_id = "web-01";
    ctx.now = kNow;
    ctx.last_revision = kLast[data[0] % (sizeof kLast / sizeof kLast[0])];
    const std::string payload(reinterpret_cast<const char*>(data) + 2, size - 2);
    if (data[1] & 1) ctx.last_payload = payload;
    const bool spoil = (data[1] & 2) != 0;

    std::string sig = signer->sign(payload);
    if (spoil) sig[data[1] % sig.size()] ^= 0x20;
    const std::string envelope = R"({"key_id":"fuzz-key","payload":")" + jit::base64_encode(payload) +
                                 R"(","signature":")" + jit::base64_encode(sig) + R"("})";
    const auto r = jit::verify_and_accept(envelope, *keys, ctx);
    if (!r) {
        require(jit::acceptance_rule(r.error().code) != 0 && !r.error().message.empty(),
                "a refusal names its rule and says why");
        require(!spoil || r.error().code == "signature", "a spoiled signature is refused as such");
        return 0;
    }
    require(!spoil, "a spoiled signature is never accepted");
    const jit::GrantsPayload& p = r->payload;
    require(p.host_id == ctx.host_id && p.type == jit::kGrantsType, "accepted: this host's grants");
    require(p.revision > ctx.last_revision || (p.revision == ctx.last_revision && payload == ctx.last_payload),
            "accepted: no rollback, no fork");
    require(p.issued_at <= ctx.now + ctx.clock_skew && p.expires_at > p.issued_at, "accepted: issued and expiring in order");
    require(p.grants.size() <= jit::limits::kMaxGrants, "accepted: at most kMaxGrants grants");
    for (const jit::Grant& g : p.grants) {
        require(g.not_after > g.not_before && !g.user.empty() && g.user.size() <= 32, "accepted: a grant's window and user");
        require(!g.uid || (*g.uid >= jit::limits::kMinUid && *g.uid <= jit::limits::kMaxUid), "accepted: a grant's uid in range");
    }
    return 0;
}
