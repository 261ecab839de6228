// The kind of access a PAM stack asks for, from its service name. Header-only
// so that pam_jit.so (which does not link jit_policy) classifies exactly as
// the daemon does.
#pragma once

#include <string_view>

namespace jit {

enum class AccessKind { Login, Sudo, Su };

// sudo, sudo-i, sudo-* -> Sudo; su, su-l, runuser, runuser-l -> Su; anything else -> Login.
inline AccessKind classify_service(std::string_view service) {
    if (service == "sudo" || service.substr(0, 5) == "sudo-") return AccessKind::Sudo;
    if (service == "su" || service == "su-l" || service == "runuser" || service == "runuser-l") return AccessKind::Su;
    return AccessKind::Login;
}

}  // namespace jit
