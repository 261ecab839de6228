// helperd.conf: the daemon's configuration, parsed once at the edge into this
// typed form (docs/config.md documents every key). INI-like: "[section]"
// headers, "key = value" lines, '#' or ';' comment lines; values may be
// double-quoted. Unknown sections/keys and duplicates are errors.
#pragma once

#include <jit/decision.hpp>
#include <jit/paths.h>
#include <jit/result.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jit::helperd {

inline constexpr std::string_view kDefaultConfigPath = JIT_HELPERD_CONFIG_PATH;

struct AuthorityConfig {
    std::string url;                 // base URL, no trailing slash
    bool plain_http = false;         // http:// to a loopback address (tests/dev only)
    std::string host_id;             // default: short hostname
    std::string trusted_keys_dir = JIT_TRUSTED_KEYS_DIR;
    std::string ca_file;             // "" = system store
    std::string client_cert;         // "" = no mTLS
    std::string client_key;
    std::string token_file;          // "" = no bearer token
    int poll_wait = 55;              // seconds, 0-60 (PROTOCOL.md §1)
    int connect_timeout = 10;        // seconds
    int backoff_min = 1;             // seconds
    int backoff_max = 300;           // seconds
    std::int64_t clock_skew = 300;   // seconds
    bool upload_events = true;       // send audit events to the authority (PROTOCOL.md §3)
    int upload_sync_ms = 1000;       // spool group commit: fdatasync at most this long after an event; 0 = per event
};

// authority.connect_timeout is 1..kMaxConnectTimeout seconds. A request the
// daemon relays to the authority for a local user (op=request,
// request_status) waits connect_timeout + kRelayWait seconds at most; the
// socket keeps that client's connection open kRelayAnswerTimeoutMs.
inline constexpr int kMaxConnectTimeout = 60;
inline constexpr int kRelayWait = 20;
inline constexpr int kRelayAnswerTimeoutMs = (kMaxConnectTimeout + kRelayWait + 5) * 1000;

struct SocketConfig {
    std::string path = JIT_SOCKET_PATH;
    std::uint32_t mode = 0666;       // peers are checked with SO_PEERCRED per op
    std::string group;               // "" = keep the daemon's group
    int io_timeout_ms = 2000;        // per connection: whole request + answer
    int max_connections = 64;
    int max_connections_per_user = 8;  // non-root peers (jitctl), per uid
};

struct NssConfig {
    std::string db_path = JIT_NSS_DB_PATH;
    std::uint32_t uid_min = JIT_DEFAULT_UID_MIN;  // host-allocated uids for grants without one
    std::uint32_t uid_max = JIT_DEFAULT_UID_MAX;
    std::int64_t retention = 0;      // seconds the passwd entry is kept after the last window ends
    std::int64_t uid_quarantine = 90 * 86400;  // seconds before an allocated uid may go to someone else
    std::string home_base = "/home";
    std::string default_shell = "/bin/bash";
    std::string nologin_shell = "/usr/sbin/nologin";
    bool create_home = true;         // create the home (from skel) at the first session
    std::string skel = "/etc/skel";  // what a new home is a copy of
};

struct EnforceConfig {
    std::vector<int> warn_before = {600, 60};  // seconds before not_after
    int kill_grace = 5;                        // seconds between TerminateSession and KillSession
    int home_retention_days = -1;              // homes jitlogin created: -1 keep forever, else days without any grant
    bool home_retention_delete = false;        // false: archive (tar.gz under state_dir/home-archives), true: delete
};

// sshd integration (docs/ssh.md).
struct SshConfig {
    std::string key_options;                   // canonical (jit::parse_ssh_key_options), "" = none
    std::string keys_command_user = "jit-ssh"; // AuthorizedKeysCommandUser: may ask for anyone's keys
    std::string users_group = "jit-users";     // every JIT user's group (sshd "Match Group"), "" = none
};

// Session recording with tlog (docs/ssh.md "Session recording"): while on,
// every JIT user with a login window gets `shell` (jit-rec-session, which
// starts tlog-rec-session) as their login shell. Read at start.
struct RecordingConfig {
    bool sessions = false;
    std::string shell = JIT_REC_SESSION_PATH;
};

struct Config {
    std::string path;                // the file it came from
    AuthorityConfig authority;
    SocketConfig socket;
    std::string state_dir = JIT_STATE_DIR;
    int pam_timeout_ms = JIT_PAM_TIMEOUT_MS;  // hint for pam_jit.so (it reads it from op=status / its own args)
    HostPolicy policy;               // host_id, break-glass, managed range/groups, stale policy, request hint
    int account_cache_ttl = 5;       // seconds passwd/group answers are reused between checks; 0 = never
    NssConfig nss;
    std::string sudoers_path = JIT_SUDOERS_PATH;  // "" = do not write sudoers
    EnforceConfig enforce;
    SshConfig ssh;
    RecordingConfig recording;
};

// One problem in a config file: where and what.
struct ConfigIssue {
    std::string file;
    int line = 0;                    // 0: not tied to a line (e.g. a missing key)
    std::string key;                 // "section.key", "" for syntax errors
    std::string message;
    std::string to_string() const;   // "file:line: key 'authority.url': message"
};

// Checks that can touch the file system (token file mode, key dir, ...) are
// done by load_config; parse_config only checks syntax and values.
struct ParseOptions {
    bool check_files = true;
    std::string default_host_id;     // "" = gethostname() short form
};

// Parses `text` (named `file` in messages). On failure the Error's message
// lists every issue, one per line, and code is "config".
Result<Config> parse_config(std::string_view text, const std::string& file, const ParseOptions& options = {});
std::vector<ConfigIssue> config_issues(std::string_view text, const std::string& file, const ParseOptions& options,
                                       Config* out);
// Reads and parses the file.
Result<Config> load_config(const std::string& file, const ParseOptions& options = {});

// Every "section.key" the parser knows (docs/config.md documents each one).
std::vector<std::string> config_keys();

// A line or value without the blanks around it (space, tab, CR), as the INI
// syntax of helperd.conf and of jit-authority's rules reads it.
std::string_view trim_blanks(std::string_view s);
// "55", "55s", "10m", "2h", "7d" -> seconds; nullopt when malformed or out of int range.
std::optional<std::int64_t> parse_duration(std::string_view text);
// Whether the host part of an http(s) URL is a loopback address (127.0.0.0/8, ::1, localhost).
bool url_host_is_loopback(std::string_view url);

}  // namespace jit::helperd
