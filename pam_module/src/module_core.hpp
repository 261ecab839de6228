// The logic of pam_jit.so without PAM headers (tested directly in tests/pam/):
// argument parsing, the daemon-less "is this user managed" fallback, and the
// mapping of daemon answers to outcomes. pam_jit.cpp only moves data between
// Linux-PAM and these functions.
//
// Code here is loaded into sshd, sudo, su, login...: no globals with
// constructors, no threads, no iostreams, no environment reads; nothing throws
// on purpose (std::bad_alloc is caught at the C ABI).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jit::pam {

inline constexpr const char* kDefaultSocket = "/run/jit/helperd.sock";
inline constexpr int kDefaultTimeoutMs = 1500;
inline constexpr int kMinTimeoutMs = 50;
inline constexpr int kMaxTimeoutMs = 10000;
inline constexpr std::uint32_t kDefaultUidMin = 70000;
inline constexpr std::uint32_t kDefaultUidMax = 79999;
inline constexpr const char* kPasswdFile = "/etc/passwd";

struct ModuleArgs {
    bool debug = false;
    bool quiet = false;                 // no "access until ..." on success (denials are always shown)
    std::string socket = kDefaultSocket;
    int timeout_ms = kDefaultTimeoutMs;
    std::string kind;                   // "" (classify by service in the daemon), "login", "sudo" or "su"
    std::uint32_t uid_min = kDefaultUidMin;  // managed uid range for the daemon-less fallback
    std::uint32_t uid_max = kDefaultUidMax;
    std::vector<std::string> warnings;  // unknown or invalid arguments, for pam_syslog
};

ModuleArgs parse_args(int argc, const char** argv);

// Whether `user` is JIT-managed, decided without the daemon (when it cannot be
// reached): root is never managed; a user listed in `passwd_file` is managed
// iff its uid is in [uid_min, uid_max]; a user not listed there (known only
// through NSS, e.g. libnss_jit) is managed. An unreadable passwd file counts as
// "not listed" (fail closed), except for root.
bool managed_without_daemon(const std::string& user, const ModuleArgs& args, const char* passwd_file = kPasswdFile);

// PAM items of the current transaction.
struct PamItems {
    std::string user;
    std::string service;
    std::string rhost;
    std::string tty;
    std::string ruser;
    std::string logind_session;  // XDG_SESSION_ID from pam_getenv (session only)
    long pid = 0;
};

enum class Code { Success, PermDenied, Ignore, AuthinfoUnavail, SessionErr };

struct Outcome {
    Code code = Code::PermDenied;
    std::string user_info;   // pam_info text ("" = none)
    std::string user_error;  // pam_error text ("" = none)
    std::string log;         // for pam_syslog ("" = nothing to log)
    bool log_is_error = false;  // LOG_ERR (else LOG_INFO, only with debug)
    std::string grant_id;    // from the daemon, when it allowed
};

// The account phase: asks the daemon op=check, falls back as documented.
Outcome run_account(const ModuleArgs& args, const PamItems& items, const char* passwd_file = kPasswdFile);

// The session phase: op=session_open / op=session_close.
Outcome run_session(const ModuleArgs& args, const PamItems& items, bool open, const char* passwd_file = kPasswdFile);

// One printable line of at most 300 bytes (control bytes become '?').
std::string one_line(const std::string& text);

}  // namespace jit::pam
