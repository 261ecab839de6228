// The logic of pam_jit.so without PAM headers (tested directly in tests/pam/):
// argument parsing, the daemon-less "is this user managed" fallback, and the
// mapping of daemon answers to outcomes. pam_jit.cpp only moves data between
// Linux-PAM and these functions.
//
// Code here is loaded into sshd, sudo, su, login...: no globals with
// constructors, no threads, no iostreams, no environment reads; nothing throws
// on purpose (std::bad_alloc is caught at the C ABI).
#pragma once

#include <jit/local_account.hpp>
#include <jit/paths.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jit::pam {

inline constexpr const char* kDefaultSocket = JIT_SOCKET_PATH;
inline constexpr int kDefaultTimeoutMs = JIT_PAM_TIMEOUT_MS;
inline constexpr int kMinTimeoutMs = 50;
inline constexpr int kMaxTimeoutMs = 10000;
inline constexpr std::uint32_t kDefaultUidMin = JIT_DEFAULT_UID_MIN;
inline constexpr std::uint32_t kDefaultUidMax = JIT_DEFAULT_UID_MAX;
inline constexpr const char* kDefaultNssDb = JIT_NSS_DB_PATH;

struct ModuleArgs {
    bool debug = false;
    bool quiet = false;                 // no "access until ..." on success (denials are always shown)
    std::string socket = kDefaultSocket;
    int timeout_ms = kDefaultTimeoutMs;
    std::string kind;                   // "" (classify by service), "login", "sudo" or "su"
    // The daemon's [access] policy, for the daemon-less fallback (keep equal to helperd.conf):
    std::uint32_t uid_min = kDefaultUidMin;      // managed_uid_min
    std::uint32_t uid_max = kDefaultUidMax;      // managed_uid_max
    std::vector<std::string> managed_groups;     // managed_groups
    std::vector<std::string> break_glass;        // break_glass_users
    std::string nss_db = kDefaultNssDb;          // the NSS snapshot jit-helperd publishes ([nss] db_path)
    std::vector<std::string> warnings;  // unknown or invalid arguments, for pam_syslog
};

ModuleArgs parse_args(int argc, const char** argv);

// True when `user` can never be JIT-managed whatever the daemon knows: root,
// and every name outside the grant name rule ^[a-z_][a-z0-9_-]{0,31}$
// (john.smith, alice@corp.example, Bob: directory and local accounts).
bool never_managed(const std::string& user);

// Whether `user` is in the NSS snapshot at `path` (read with the NSS module's
// reader, as untrusted input); false with *why set when it cannot be read.
bool in_nss_snapshot(const std::string& path, const std::string& user, std::string* why);

// What the daemon-less fallback reads; tests replace these.
struct LocalFacts {
    // jit::lookup_local_account: the user through NSS (uid, group names).
    LocalAccount (*account)(const std::string& user) = &lookup_local_account;
    // Whether `user` is in the NSS snapshot at `path`; false with *why set
    // when the snapshot cannot be read (missing, not root's, corrupt).
    bool (*in_snapshot)(const std::string& path, const std::string& user, std::string* why) = &in_nss_snapshot;
};

struct LocalVerdict {
    bool managed = true;
    std::string why;  // for the log: which fact decided
};

// Whether `user` is JIT-managed, decided without the daemon from facts that
// need none (pam_jit(8), "WHO IS MANAGED WHEN THE DAEMON CANNOT ANSWER"):
// never_managed() names and break-glass users: no; in the NSS snapshot: yes;
// unknown to NSS or an NSS error: yes (fail closed: only a JIT user can be
// missing); uid 0: no; uid in uid_min..uid_max or a member of a managed
// group: yes; otherwise (a directory or local account): no.
LocalVerdict managed_without_daemon(const std::string& user, const ModuleArgs& args, const LocalFacts& facts = {});

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
// For sudo (kind=sudo, or a sudo service) PAM_RUSER (the invoking user) is
// asked about first, as a sudo to PAM_USER; when it is not managed, becoming
// PAM_USER is checked as a su to it.
Outcome run_account(const ModuleArgs& args, const PamItems& items, const LocalFacts& facts = {});

// The session phase: op=session_open / op=session_close, for the same subject.
Outcome run_session(const ModuleArgs& args, const PamItems& items, bool open, const LocalFacts& facts = {});


// One printable line of at most 300 bytes (control bytes become '?').
std::string one_line(const std::string& text);

}  // namespace jit::pam
