// The daemon's state and logic, independent of sd-event, curl and sockets:
// the current grants (accepted bundle), their durable copy, staleness and
// change-time timers, publishing (NSS snapshot, sudoers), the session table,
// and the local socket operations (docs/socket-protocol.md).
//
// Plug-in points for other parts of the daemon (enforcement, upload):
//   - Component: observers for "grants changed", sessions, reload, status;
//   - loop(): the timer facility (Loop), audit(): the event sink.
#pragma once

#include <jit/audit.hpp>
#include <jit/bundle.hpp>
#include <jit/decision.hpp>
#include <jit/helperd/authority_client.hpp>
#include <jit/helperd/config.hpp>
#include <jit/helperd/loop.hpp>
#include <jit/helperd/peer_budget.hpp>
#include <jit/helperd/request_owners.hpp>
#include <jit/helperd/state_store.hpp>
#include <jit/helperd/sync.hpp>
#include <jit/helperd/transport.hpp>
#include <jit/ipc.hpp>

#include <json/value.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

namespace jit::helperd {

// Who is on the other end of the socket (SO_PEERCRED).
struct Peer {
    uid_t uid = 0;
    gid_t gid = 0;
    pid_t pid = 0;
};

// Local account lookups (passwd/group), injected so tests need no real users.
class Accounts {
public:
    virtual ~Accounts() = default;
    virtual LocalAccount lookup(const std::string& user) = 0;          // uid + group names
    virtual std::optional<std::string> name_of(uid_t uid) = 0;         // getpwuid_r
};
class SystemAccounts final : public Accounts {
public:
    LocalAccount lookup(const std::string& user) override;
    std::optional<std::string> name_of(uid_t uid) override;
};

// Remembers another Accounts' answers for `ttl_ms` so that a PAM check does not
// pay for a passwd + group walk through every NSS module (nss-systemd probes
// five userdb directories per call). Any change to one of the watched files
// (size, mtime, inode: /etc/passwd, /etc/group, the NSS snapshot, nsswitch.conf)
// forgets everything at once; other NSS sources (LDAP, sssd) are seen within
// ttl_ms. The files are looked at (stat) at most every kRecheckMs, so an edit
// counts within that. ttl_ms 0: no caching. Not thread-safe (the loop only).
class CachingAccounts final : public Accounts {
public:
    using ClockMs = std::function<std::int64_t()>;  // monotonic milliseconds
    CachingAccounts(Accounts& inner, std::int64_t ttl_ms, std::vector<std::string> watched, ClockMs clock = {});
    LocalAccount lookup(const std::string& user) override;
    std::optional<std::string> name_of(uid_t uid) override;
    // New settings (SIGHUP); forgets everything.
    void configure(std::int64_t ttl_ms, std::vector<std::string> watched);
    void clear();
    static constexpr std::size_t kMaxEntries = 4096;  // per map; the oldest half goes when full
    static constexpr std::int64_t kRecheckMs = 100;    // how often the watched files are stat'ed

private:
    template <class V>
    struct Entry {
        V value;
        std::int64_t at = 0;
    };
    bool fresh(std::int64_t at, std::int64_t now) const { return now - at < ttl_ms_; }
    void revalidate(std::int64_t now);  // forgets everything when a watched file changed
    template <class M>
    static void make_room(M& map);
    // The answer for `key` from `map` if fresh, else fetch() remembered.
    template <class M, class K, class Fetch>
    auto cached(M& map, const K& key, Fetch fetch);

    Accounts& inner_;
    std::int64_t ttl_ms_;
    std::vector<std::string> watched_;
    ClockMs clock_;
    std::vector<std::string> stamp_;   // per watched file: "dev:ino:size:mtime_ns" or "-"
    std::optional<std::int64_t> stamped_at_;  // when stamp_ was taken
    std::map<std::string, Entry<LocalAccount>> by_name_;
    std::map<uid_t, Entry<std::optional<std::string>>> by_uid_;
};

// Something that turns the current grants into files (NSS snapshot, sudoers
// drop-in). Called after each accepted bundle and at each change time.
class Publisher {
public:
    virtual ~Publisher() = default;
    virtual const char* name() const = 0;
    virtual Status publish(const std::vector<Grant>& grants, UnixTime now) = 0;
    // The next time its output changes on its own (window edge, retention end).
    virtual std::optional<UnixTime> next_change(const std::vector<Grant>& grants, UnixTime now) = 0;
    // Whether it knows `user` as a JIT user (e.g. the NSS publisher's retained entries).
    virtual bool manages(const std::string& user) { return false; }
};

// The grants the daemon holds now.
struct GrantsSnapshot {
    bool have_bundle = false;
    bool stale = false;            // stale_at(now) when it was installed (Daemon::install)
    std::int64_t revision = 0;
    UnixTime issued_at = 0;
    UnixTime expires_at = 0;
    UnixTime accepted_at = 0;
    std::vector<Grant> received;   // as the authority signed them
    // What takes effect: `received` bounded by the host's [limits]
    // (jit::apply_limits), computed in one place (Daemon::install) so that
    // decisions, publishers and components all see the same bounded grants.
    std::vector<Grant> grants;
    std::vector<Grant> refused;    // refused whole by [limits]: they give nothing
    std::vector<LimitNote> limit_notes;
    std::vector<Revocation> revoked;
    // Without a bundle nothing is stale (that is "no bundle"); jit::is_stale otherwise.
    bool stale_at(UnixTime now) const { return have_bundle && is_stale(expires_at, now); }
};

enum class ChangeCause {
    Startup,       // loaded from disk (or nothing) at start
    BundleAccepted,
    TimeEdge,      // a window edge / retention end / expiry timer fired
    StaleChanged,
    Reload,        // SIGHUP
};
const char* to_string(ChangeCause cause);

struct SessionInfo {
    std::string user;
    std::string service;
    std::string tty;
    std::string rhost;
    pid_t pid = 0;
    std::string logind_session;  // "" when pam_systemd did not run before us
    std::string grant_id;        // the grant that allowed the login ("" if unknown)
    UnixTime opened_at = 0;
};

class Daemon;

// A part of the daemon that reacts to its state (enforcement, upload...).
class Component {
public:
    virtual ~Component() = default;
    virtual void grants_changed(const GrantsSnapshot& before, const GrantsSnapshot& now, ChangeCause cause) {}
    virtual void session_opened(std::uint64_t id, const SessionInfo& session) {}
    virtual void session_closed(std::uint64_t id, const SessionInfo& session) {}
    virtual void config_reloaded(const Config& config) {}
    virtual void add_status(Json::Value& status) {}
    virtual void stopping() {}
};

class Daemon {
public:
    struct Deps {
        Loop& loop;
        AuthorityClient& authority;  // its target follows the config (constructor, reload)
        audit::Sink& audit;
        Accounts& accounts;
    };

    Daemon(Config config, TrustedKeys keys, Deps deps);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    void add_publisher(std::unique_ptr<Publisher> publisher);
    void add_component(std::unique_ptr<Component> component);

    // Prepares the state dir, serves the stored bundle (re-verified), starts
    // the sync. Errors: the state dir cannot be used.
    Status start();
    void stop();
    // SIGHUP: a new config and keys; the grants stay.
    void reload(Config config, TrustedKeys keys);

    // Socket operations. `reply` may run later (request relay) but exactly once.
    void handle(const ipc::Message& request, const Peer& peer, std::function<void(ipc::Message)> reply);

    // For components and tests.
    const GrantsSnapshot& grants() const { return snapshot_; }
    const Config& config() const { return config_; }
    Loop& loop() { return deps_.loop; }
    audit::Sink& audit() { return deps_.audit; }
    const SyncStatus& sync_status() const { return sync_->status(); }
    const std::map<std::uint64_t, SessionInfo>& sessions() const { return sessions_; }
    // For components: drops a recorded session that will get no session_close
    // (e.g. enforcement ended it and sshd died with it). No event, no callbacks.
    void forget_session(std::uint64_t id) { sessions_.erase(id); }
    // Whether `user` is known to be managed (docs/config.md "who is
    // JIT-managed"). `account` (optional) receives the local account looked up
    // on the way (empty for root and break-glass users, who need none).
    // `unknown` (optional) is set when NSS answered an error that leaves the
    // question open (no uid, or with managed groups not every group): a
    // decision treats that user as managed and denies (decide_for, reason
    // nss_error); enforcement does not adopt or end sessions on it.
    bool is_managed(const std::string& user, LocalAccount* account = nullptr, bool* unknown = nullptr);
    Decision decide_for(const AccessRequest& request, bool* managed, LocalAccount* account = nullptr);
    Json::Value status_json();
    // What op=status tells an unprivileged peer: only `user`'s own sessions
    // (every list entry naming another user is left out) and no publishing
    // details (they may name other users).
    Json::Value status_json_for(const std::string& user);
    Json::Value grants_json(const std::optional<std::string>& only_user);
    // Short text for sd_notify STATUS=.
    std::string status_line() const;
    // Called (if set) whenever status_line() may have changed.
    std::function<void()> on_status_change;

    // Per non-root uid (docs/socket-protocol.md, "Limits on local users"):
    // op=request relays 5 at once then one a minute; op=request_status asks
    // the authority 20 times at once then once every 3 s.
    static constexpr std::int64_t kRelayBurst = 5, kRelayRefillMs = 60000;
    static constexpr std::int64_t kRequestStatusBurst = 20, kRequestStatusRefillMs = 3000;

private:
    void accept_bundle(AcceptedBundle bundle, std::string envelope_bytes);
    void reject_bundle(const Error& error, const std::string& envelope_bytes);
    void install(GrantsSnapshot next, ChangeCause cause);
    // next.grants/refused/limit_notes from next.received and the [limits];
    // a grant.limited event for each note that is new since the running snapshot.
    void apply_host_limits(GrantsSnapshot& next);
    void refresh_time(ChangeCause cause);
    void publish_all();
    void schedule_next_change();
    GrantView view() const;
    std::vector<Grant> effective_grants() const;
    SyncSettings sync_settings() const;

    void op_check(const ipc::Message& req, const Peer& peer, bool with_audit, std::function<void(ipc::Message)>& reply);
    void op_session(const ipc::Message& req, const Peer& peer, bool open, std::function<void(ipc::Message)>& reply);
    void op_request(const ipc::Message& req, const Peer& peer, std::function<void(ipc::Message)> reply);
    // ssh_keys / ssh_principals (ops_ssh.cpp)
    void op_ssh(const ipc::Message& req, const Peer& peer, bool principals, std::function<void(ipc::Message)>& reply);
    // sudo_audit (ops_sudo.cpp)
    void op_sudo_audit(const ipc::Message& req, const Peer& peer, std::function<void(ipc::Message)>& reply);
    void op_request_status(const ipc::Message& req, const Peer& peer, std::function<void(ipc::Message)> reply);
    // Spends a token of `budget` for a non-root peer; false (and the answer
    // given, an alert at the first refusal) when it has none.
    bool within_budget(PeerBudget& budget, const char* op, const Peer& peer, std::function<void(ipc::Message)>& reply);

    Config config_;
    TrustedKeys keys_;
    Deps deps_;
    StateStore store_;
    std::unique_ptr<SyncEngine> sync_;
    GrantsSnapshot snapshot_;
    std::string last_payload_;  // exact bytes of the accepted payload
    std::vector<std::unique_ptr<Publisher>> publishers_;
    std::vector<std::unique_ptr<Component>> components_;
    std::map<std::uint64_t, SessionInfo> sessions_;
    std::uint64_t next_session_id_ = 1;
    Loop::TimerId change_timer_ = 0;
    UnixTime started_at_ = 0;
    std::string last_publish_error_;
    std::string last_rollback_alert_;  // the rule-3 refusal last alerted (once per refusal, not per poll)
    RequestOwners request_owners_;
    PeerBudget relay_budget_{kRelayBurst, kRelayRefillMs};
    PeerBudget request_status_budget_{kRequestStatusBurst, kRequestStatusRefillMs};
    std::set<std::string> ssh_dropped_told_;  // reasons already alerted (op_ssh)
};

// Errors answered on the socket: {status=error, error=<code>, message=<text>}.
ipc::Message error_reply(const std::string& code, const std::string& message);

}  // namespace jit::helperd
