// Pure access policy: (grants, host policy, request, time) -> decision with a reason.
// No PAM headers, no daemon state, no I/O. The only environment read is the
// local time zone (localtime_r) used to render "HH:MM" in user messages.
#pragma once

#include <jit/access_kind.hpp>
#include <jit/grant.hpp>
#include <jit/limits.hpp>
#include <jit/paths.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jit {

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
    std::uint32_t managed_uid_min = JIT_DEFAULT_UID_MIN;  // local accounts in this range are JIT-managed
    std::uint32_t managed_uid_max = JIT_DEFAULT_UID_MAX;
    std::vector<std::string> managed_groups;      // local members of these groups are JIT-managed
    enum class StalePolicy { Honour, Suspend } stale_policy = StalePolicy::Honour;
    std::string request_hint;                     // e.g. "jitctl request" or a URL; "" = no hint
    GrantLimits limits;                           // what any grant may do on this host ([limits])
};

// Whether the grants give nothing now: they are stale and the host's
// stale_policy is suspend. The one statement of "suspended": decisions,
// the publishers' grants and enforcement all ask here.
inline bool grants_suspended(bool stale, const HostPolicy& policy) {
    return stale && policy.stale_policy == HostPolicy::StalePolicy::Suspend;
}
// "honour", "suspend" (helperd.conf authority.stale_policy).
const char* to_string(HostPolicy::StalePolicy policy);

// What the daemon knows about the grants at decision time.
struct GrantView {
    bool have_bundle = false;        // false: never heard from the authority (nothing accepted, nothing cached)
    bool stale = false;              // now > expires_at of the last accepted bundle
    const std::vector<Grant>* grants = nullptr;  // may be null when have_bundle is false
    // The grants host limits refused (they give nothing) and the notes on what
    // the limits changed (apply_limits); `grants` holds the bounded grants.
    const std::vector<Grant>* refused = nullptr;
    const std::vector<LimitNote>* limit_notes = nullptr;
};

enum class Verdict { Allow, Deny, NotManaged };

struct Decision {
    Verdict verdict = Verdict::Deny;
    std::string reason;    // stable code: "active_grant", "no_grant", "window_ended", "not_yet",
                           // "no_sudo", "run_as", "no_login", "stale", "no_bundle", "break_glass", "not_managed",
                           // "host_policy" (the only grant that would fit is refused by host limits)
    std::string message;   // one short line for the user ("jitlogin: ...")
    std::string grant_id;  // the grant that allowed, or the most relevant one for a denial ("" if none)
    UnixTime not_before = 0;  // window of grant_id (0 when no grant)
    UnixTime not_after = 0;
    std::string limits;    // what host limits changed in grant_id ("rule: action detail; ..."), "" if nothing
};

// What the caller knows about the local account (passwd/group lookups are the
// caller's job: this header stays pure).
struct LocalAccount {
    std::optional<std::uint32_t> uid;  // nullopt: no local (files) account / unknown
    std::vector<std::string> groups;   // supplementary + primary group names, may be empty
    bool lookup_failed = false;        // NSS answered with an error (not "no such user"): not to be remembered
};

// Whether `user` is JIT-managed on this host:
//   - "root", uid 0 and break-glass users: never;
//   - any user named by a grant in the view (refused ones included): yes;
//   - a local uid inside [managed_uid_min, managed_uid_max]: yes;
//   - a member of one of policy.managed_groups: yes;
//   - otherwise: no.
bool is_managed(const std::string& user, const LocalAccount& account, const GrantView& view,
                const HostPolicy& policy);

// The decision. `managed` comes from is_managed() (or the caller's stricter
// knowledge); break-glass users are never managed whatever `managed` says.
// For a managed user (first rule that applies):
//   no bundle ever            -> Deny "no_bundle"
//   stale and policy Suspend  -> Deny "stale"
//   an active grant fitting the kind (login:true for Login/Su; a sudo object
//     with matching run_as for Sudo; run_as "" matches any)
//                             -> Allow "active_grant", naming the ruling one (jit/ruling_grant.hpp:
//                                the latest not_after, ties: the smallest id)
//   an active grant refused by host limits that would fit
//                             -> Deny "host_policy" (the message names the rule)
//   an active grant that does not fit
//                             -> Deny "no_login" / "no_sudo" / "run_as"
//   a fitting grant later     -> Deny "not_yet" (the earliest not_before)
//   a fitting grant that ended-> Deny "window_ended" (the latest not_after)
// Every "latest"/"earliest" choice breaks ties by the smallest grant id, so a
// decision never depends on the order of the bundle's grants.
//   otherwise                 -> Deny "no_grant"
// Windows are half-open: not_before <= now < not_after. When host limits
// changed the grant a decision names, Decision::limits lists what, and a
// denial's message names the rule that took the right away.
Decision decide(const AccessRequest& request, const GrantView& view, const HostPolicy& policy, bool managed);

// classify_service(), to_string(AccessKind), parse_access_kind(): jit/access_kind.hpp.
const char* to_string(Verdict verdict);

// "15:30 (in 47 min)" / "14:05 (12 min ago)" (when <= now: "ago"); the date ("2026-11-28 15:30 ...")
// is added when `when` is not on the same local day as `now`. Local time zone.
std::string format_when(UnixTime when, UnixTime now);
// "47 min", "2 h 5 min", "3 d 4 h", "less than a minute" for |delta| seconds.
std::string format_duration(std::int64_t seconds);

}  // namespace jit
