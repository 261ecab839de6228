// The window scheduler: a pure function of (grants, sessions, what was already
// announced, now) -> the actions due now and the next absolute wakeup.
// Nothing here reads a clock or touches the system; enforcer.hpp carries the
// actions out. The rules are in docs/enforcement.md.
#pragma once

#include <jit/enforce/session.hpp>
#include <jit/grant.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jit::enforce {

enum class ActionKind {
    ActivateGrant,  // grant_id entered its window
    EndGrant,       // grant_id's window closed, or it left the bundle, or the view is suspended
    Warn,           // warn session_key: its access ends at `end` (grant_id), `offset` before it
    Rebind,         // session_key's grant ended but grant_id (same user, active, login) covers it
    Terminate,      // end session_key: nothing covers it any more
};

// Why a grant ended / a session is terminated.
enum class EndCause {
    Expired,        // now >= not_after
    Removed,        // absent from the newer bundle (revoked early or deleted)
    Suspended,      // the view is stale and host policy says suspend
    NoGrant,        // a session with no grant behind it (opened when none covered it)
};

struct Action {
    ActionKind kind;
    std::string grant_id;
    std::string session_key;
    EndCause cause = EndCause::Expired;
    UnixTime end = 0;           // Warn: when access ends; EndGrant/Terminate: the grant's not_after
    std::int64_t offset = 0;    // Warn: the warning offset that fired (seconds)
};

struct ScheduleInput {
    const std::vector<Grant>* grants = nullptr;   // latest accepted bundle (null: none yet)
    bool suspended = false;                       // stale view + StalePolicy::Suspend
    std::vector<std::int64_t> warn_offsets{600, 60};  // seconds before the end
    const SessionMap* sessions = nullptr;
    const GrantStates* states = nullptr;
    UnixTime now = 0;
};

struct Plan {
    std::vector<Action> actions;              // in order: activations, ends, rebinds/terminations, warnings
    std::optional<UnixTime> next_wakeup;      // earliest future edge (> now), absolute
};

Plan plan(const ScheduleInput& in);

// The grant a new session of `user` lives under: the ruling login grant
// (jit/ruling_grant.hpp). nullptr when none (or when `suspended`).
const Grant* binding_grant(const std::vector<Grant>& grants, const std::string& user, UnixTime now,
                           bool suspended = false);

// When access of a session bound to `g` really ends: g.not_after, pushed out
// while another login grant of the same user is in force at that instant
// (back-to-back or overlapping windows). *last receives the grant that ends it.
UnixTime effective_end(const std::vector<Grant>& grants, const Grant& g, const Grant** last = nullptr);

const char* to_string(ActionKind kind);
// "window_ended", "revoked", "stale", "no_active_grant".
const char* to_string(EndCause cause);

}  // namespace jit::enforce
