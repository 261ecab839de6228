// The daemon's table of JIT users' sessions (docs/enforcement.md).
//
// A session is keyed by its logind session id when PAM saw one
// (XDG_SESSION_ID, set by pam_systemd), else by (pid, tty) of the process
// that ran pam_open_session (sshd's per-connection process, su, login).
// Each session is bound to one grant: the one that lets it exist.
#pragma once

#include <jit/enforce/home.hpp>
#include <jit/grant.hpp>
#include <jit/result.hpp>

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace jit::enforce {

struct Session {
    std::string key;         // session_key(logind_id, pid, tty)
    std::string logind_id;   // "" when the session has no logind session
    std::string user;
    std::uint32_t uid = 0;
    std::string service;     // PAM service
    std::string tty;         // PAM_TTY as given ("pts/3", "/dev/pts/3", "ssh", "")
    std::string rhost;
    pid_t pid = 0;           // process that ran pam_open_session
    std::uint64_t pid_start = 0;  // its start time, /proc/PID/stat field 22 (clock ticks after boot)
    UnixTime opened_at = 0;
    std::string grant_id;    // the grant this session lives under ("" = none)

    // Warning bookkeeping: the end time warned about and the smallest offset
    // (seconds before that end) already announced; a new end (renewal) resets it.
    UnixTime warned_end = 0;
    std::int64_t warned_offset = 0;

    // Termination in progress. The decision is persisted when it is taken, so
    // a restart during the grace completes it (session.ended, once) instead of
    // reporting the session as gone while the daemon was down.
    bool ending = false;
    std::string end_reason;       // "window_ended", "revoked", "stale", "no_active_grant"
    std::string end_grant_id;     // grant whose end caused it
    UnixTime end_not_after = 0;
    UnixTime end_decided_at = 0;  // wall clock of the decision
    std::string end_how;          // JIT_HOW of the polite step once it answered ("" while pending)
    std::string end_error;        // its error, if any
    // Not persisted (monotonic, this run only):
    std::int64_t kill_deadline_ms = 0;  // escalate to the hard kill after this
    std::uint64_t end_token = 0;        // identifies this run's termination for late answers
    bool end_checking = false;          // the liveness check / hard step is under way
};

// "logind:<id>" when logind_id is set, else "pid:<pid>:<tty>".
std::string session_key(const std::string& logind_id, pid_t pid, const std::string& tty);

// The table, persisted as JSON (jsoncpp) with an atomic replace (write to a
// temporary file in the same directory, fsync, rename, fsync the directory).
using SessionMap = std::map<std::string, Session>;

// Grant lifecycle as last announced in the audit trail (so that each edge is
// announced once, across restarts).
enum class GrantPhase { Pending, Active, Ended };
struct GrantState {
    GrantPhase phase = GrantPhase::Pending;
    std::string user;
    UnixTime not_before = 0;
    UnixTime not_after = 0;
};
using GrantStates = std::map<std::string, GrantState>;

struct PersistedState {
    SessionMap sessions;
    GrantStates grants;
    // Last time each managed user held a grant (for home retention).
    std::map<std::string, UnixTime> user_last_grant;
    // Homes jitlogin created (the only ones retention may touch), by user.
    std::map<std::string, CreatedHome> homes;
};

// Error code "enforce.state": unreadable, malformed, or wrong version (the
// message names the file and the field). A missing file is an empty state.
Result<PersistedState> load_state(const std::string& path);
// Error code "enforce.state": the write, fsync or rename failed (names the path).
Status save_state(const std::string& path, const PersistedState& state);

// Start time (field 22 of /proc/PID/stat) of a live process; nullopt when the
// process does not exist or the file cannot be parsed.
std::optional<std::uint64_t> process_start_time(pid_t pid, const std::string& proc_root = "/proc");

const char* to_string(GrantPhase phase);

}  // namespace jit::enforce
