// libFuzzer target for pam_jit.so's argument parser (docs: pam_jit(8)): the
// words of a PAM line, from whoever wrote /etc/pam.d. Arbitrary arguments
// (NUL-separated in the input) must never crash it, and what it keeps is
// always usable: an absolute socket path that fits sockaddr_un, a timeout in
// range, a known kind, a uid range with min <= max, an absolute snapshot path,
// group and break-glass names a grant could carry; anything it did not take as
// given is named in a warning.
#include "module_core.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "require.hpp"

using jit::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> words;
    std::string cur;
    for (std::size_t i = 0; i < size; ++i) {
        if (data[i] == '\0') {
            words.push_back(cur);
            cur.clear();
        } else {
            cur += char(data[i]);
        }
    }
    words.push_back(cur);
    if (words.size() > 64) return 0;
    std::vector<const char*> argv;
    for (const auto& w : words) argv.push_back(w.c_str());
    argv.push_back(nullptr);  // PAM never passes one inside argc; the parser must skip it anyway

    using namespace jit::pam;
    const ModuleArgs a = parse_args(int(argv.size()), argv.data());
    require(!a.socket.empty() && a.socket[0] == '/' && a.socket.size() < 108, "an absolute socket path that fits");
    require(a.timeout_ms >= kMinTimeoutMs && a.timeout_ms <= kMaxTimeoutMs, "a timeout in range");
    require(a.kind.empty() || a.kind == "login" || a.kind == "sudo" || a.kind == "su", "a known kind");
    require(a.uid_min > 0 && a.uid_min <= a.uid_max, "a uid range with 0 < min <= max");
    require(!a.nss_db.empty() && a.nss_db[0] == '/', "an absolute snapshot path");
    for (const auto* list : {&a.managed_groups, &a.break_glass})
        for (const auto& name : *list) require(!never_managed(name) || name == "root", "only names a grant can carry");
    auto joined = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& n : v) out += (out.empty() ? "" : ",") + n;
        return out;
    };

    // Every word that is not a flag it recognised, or a key=value it took
    // exactly as written, has a warning.
    std::size_t unexplained = 0;
    for (const auto& w : words) {
        if (w == "debug" || w == "quiet") continue;
        if (w.rfind("socket=", 0) == 0 && a.socket == w.substr(7)) continue;
        if (w.rfind("timeout_ms=", 0) == 0 && std::to_string(a.timeout_ms) == w.substr(11)) continue;
        if (w.rfind("kind=", 0) == 0 && a.kind == w.substr(5)) continue;
        if (w.rfind("uid_min=", 0) == 0 && std::to_string(a.uid_min) == w.substr(8)) continue;
        if (w.rfind("uid_max=", 0) == 0 && std::to_string(a.uid_max) == w.substr(8)) continue;
        if (w.rfind("nss_db=", 0) == 0 && a.nss_db == w.substr(7)) continue;
        if (w.rfind("managed_groups=", 0) == 0 && joined(a.managed_groups) == w.substr(15)) continue;
        if (w.rfind("break_glass=", 0) == 0 && joined(a.break_glass) == w.substr(12)) continue;
        ++unexplained;
    }
    require(unexplained == 0 || !a.warnings.empty(), "an argument not taken as written has a warning");
    for (const auto& w : a.warnings) require(!w.empty(), "a warning says something");
    return 0;
}
