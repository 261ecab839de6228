// The kind of access a PAM stack asks for: from its service name, or named
// ("login", "sudo", "su": pam_jit.so's kind=, the socket's "kind"). The one
// place services are classified and kinds are spelled. Header-only so that
// pam_jit.so (which does not link jit_policy) classifies exactly as the
// daemon does.
#pragma once

#include <optional>
#include <string_view>

namespace jit {

enum class AccessKind { Login, Sudo, Su };

// sudo, sudo-i, sudo-* -> Sudo; su, su-l, runuser, runuser-l -> Su; anything else -> Login.
inline AccessKind classify_service(std::string_view service) {
    if (service == "sudo" || service.substr(0, 5) == "sudo-") return AccessKind::Sudo;
    if (service == "su" || service == "su-l" || service == "runuser" || service == "runuser-l") return AccessKind::Su;
    return AccessKind::Login;
}

// "login", "sudo", "su".
inline const char* to_string(AccessKind kind) {
    switch (kind) {
    case AccessKind::Login: return "login";
    case AccessKind::Sudo: return "sudo";
    case AccessKind::Su: return "su";
    }
    return "access";
}

// The inverse of to_string; nullopt for anything else (case matters).
inline std::optional<AccessKind> parse_access_kind(std::string_view text) {
    for (AccessKind k : {AccessKind::Login, AccessKind::Sudo, AccessKind::Su})
        if (text == to_string(k)) return k;
    return std::nullopt;
}

}  // namespace jit
