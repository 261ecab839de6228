// Pure access policy: (grants, host policy, request, time) -> decision with a reason.
#pragma once

#include <jit/grant.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jit {

// What the PAM stack is asking for.
enum class AccessKind { Login, Sudo, Su };

struct AccessRequest {
    std::string user;     // PAM_USER (for sudo: the invoking user; for su: the target user)
    std::string service;  // PAM service name, for the audit trail and classification
    AccessKind kind = AccessKind::Login;
    std::string run_as;   // sudo target when known ("" = unknown: any run_as in the rule)
    UnixTime now = 0;
};

// Host-side policy relevant to decisions (from helperd.conf).
struct HostPolicy {
    std::string host_id;
    std::vector<std::string> break_glass_users;   // never managed, never blocked
    std::uint32_t managed_uid_min = 70000;        // local accounts in this range are JIT-managed
    std::uint32_t managed_uid_max = 79999;
    std::vector<std::string> managed_groups;      // local members of these groups are JIT-managed
    enum class StalePolicy { Honour, Suspend } stale_policy = StalePolicy::Honour;
    std::string request_hint;                     // e.g. "run 'jitctl request' or visit https://..."
};

// What the daemon knows about the grants at decision time.
struct GrantView {
    bool have_bundle = false;        // false: never heard from the authority (nothing accepted, nothing cached)
    bool stale = false;              // now > expires_at of the last accepted bundle
    const std::vector<Grant>* grants = nullptr;
};

enum class Verdict { Allow, Deny, NotManaged };

struct Decision {
    Verdict verdict = Verdict::Deny;
    std::string reason;    // stable code: "active_grant", "no_grant", "window_ended", "not_yet",
                           // "no_sudo", "run_as", "no_login", "stale", "no_bundle", "break_glass", "not_managed"
    std::string message;   // one short line for the user ("jitlogin: ...")
    std::string grant_id;  // the grant that allowed, or the most relevant one for a denial
    UnixTime not_after = 0;
};

// `managed` says whether the user is JIT-managed on this host (decided by the
// caller from grants, UID allocations, managed range and groups); break-glass
// users are never managed whatever `managed` says.
Decision decide(const AccessRequest& request, const GrantView& view, const HostPolicy& policy, bool managed);

AccessKind classify_service(const std::string& service);  // sudo*, su*/runuser -> Sudo/Su, else Login
const char* to_string(Verdict verdict);
const char* to_string(AccessKind kind);

}  // namespace jit
