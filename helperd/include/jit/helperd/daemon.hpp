// The daemon's state and logic, independent of sd-event, curl and sockets:
// the current grants (accepted bundle), their durable copy, staleness and
// change-time timers, publishing (NSS snapshot, sudoers), and the local
// socket operations (docs/socket-protocol.md).
//
// Plug-in points for other parts of the daemon (enforcement, upload):
//   - Component: observers for "grants changed", reload, status;
//   - SessionTable: the one table of JIT users' sessions (the Enforcer's,
//     attached by helperd/src/enforcement.cpp), fed by op=session_open/close;
//   - loop(): the timer facility (Loop), audit(): the event sink.
#pragma once

#include <jit/audit.hpp>
#include <jit/bundle.hpp>
#include <jit/decision.hpp>
#include <jit/helperd/accounts.hpp>
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
struct HeldGrants {
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
    std::optional<uid_t> uid;    // from the account the allowing decision looked up
    UnixTime opened_at = 0;
    std::string key;             // its key in the SessionTable ("" until registered)
};

// Whether op=session_close `close` names a session registered for `user`
// with `logind_session` and `pid`: by its logind session when the close gives
// one, else by user and pid.
inline bool close_names(const SessionInfo& close, const std::string& user, const std::string& logind_session, pid_t pid) {
    return close.user == user && (!close.logind_session.empty() ? close.logind_session == logind_session : close.pid == pid);
}

// The one table of JIT users' sessions. jit-helperd's is the Enforcer's
// (durable, ended at the window's end: helperd/src/enforcement.cpp); the
// daemon registers what op=session_open allowed and deregisters what
// op=session_close names.
class SessionTable {
public:
    virtual ~SessionTable() = default;
    // Registers `session`, bound to session.grant_id (the grant the decision
    // that allowed it named). Returns its key in the table.
    virtual std::string open(const SessionInfo& session) = 0;
    // Deregisters the session `close` names (close_names). The session as
    // registered, or nullopt when none matches.
    virtual std::optional<SessionInfo> close(const SessionInfo& close) = 0;
    // How many sessions it holds: every user's, or `user`'s only.
    virtual std::size_t count(const std::optional<std::string>& user = std::nullopt) const = 0;
    // Runs `then` once what open() and close() changed is durable (jit-helperd's
    // table writes once per loop turn): the answer to pam_jit.so waits for it,
    // so a session answered as registered (or closed) is so on disk. At once
    // for a table that keeps nothing on disk.
    virtual void when_durable(std::function<void()> then) { then(); }
    // The answer to a session_open: `then` runs once what open(opened) did is
    // durable and the home open() began to make for opened.user (the first
    // session) is in place or has failed (an alert): the user's shell starts
    // in it. Default: when_durable.
    virtual void when_opened(const SessionInfo& opened, std::function<void()> then) {
        (void)opened;
        when_durable(std::move(then));
    }
};

// Errors answered on the socket: {status=error, error=<code>, message=<text>}.
ipc::Message error_reply(const std::string& code, const std::string& message);
// The error answer when NSS gave no answer about `what` (a user, "uid N"):
// error=nss_timeout (TimedOut) or nss_busy (Busy). pam_jit.so then decides
// from local facts: a managed user is refused, anyone else is left alone.
ipc::Message unanswered_reply(LookupOutcome outcome, const std::string& what);

class Daemon;

// A part of the daemon that reacts to its state (enforcement, upload...).
class Component {
public:
    virtual ~Component() = default;
    virtual void grants_changed(const HeldGrants& before, const HeldGrants& now, ChangeCause cause) {}
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
        // Account lookups: a LookupWorker (NSS off the loop) in the daemon,
        // InlineLookups over a fake in tests.
        AccountLookups& accounts;
    };

    Daemon(Config config, TrustedKeys keys, Deps deps);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    void add_publisher(std::unique_ptr<Publisher> publisher);
    void add_component(std::unique_ptr<Component> component);
    // The table op=session_open/close feed (it outlives the daemon or is one
    // of its components). Without one, session_open is refused: a session is
    // never left untracked.
    void set_session_table(SessionTable& table) { sessions_ = &table; }

    // Prepares the state dir, serves the stored bundle (re-verified), starts
    // the sync. Errors: the state dir cannot be used.
    Status start();
    void stop();
    // SIGHUP: a new config and keys; the grants stay.
    void reload(Config config, TrustedKeys keys);

    // Socket operations. `reply` may run later (request relay) but exactly once.
    void handle(const ipc::Message& request, const Peer& peer, std::function<void(ipc::Message)> reply);

    // For components and tests.
    const HeldGrants& grants() const { return held_; }
    const Config& config() const { return config_; }
    Loop& loop() { return deps_.loop; }
    audit::Sink& audit() { return deps_.audit; }
    const SyncStatus& sync_status() const { return sync_->status(); }
    // Whether `user` is known to be managed (docs/config.md "who is
    // JIT-managed"). `account` (optional) receives the local account looked up
    // on the way (empty for root and break-glass users, who need none).
    // `unknown` (optional) is set when NSS answered an error that leaves the
    // question open (no uid, or with managed groups not every group): a
    // decision treats that user as managed and denies (decide_with, reason
    // nss_error); enforcement does not adopt or end sessions on it.
    // Synchronous (AccountLookups::lookup_now): for enforcement only; the
    // socket operations decide through decide_async.
    bool is_managed(const std::string& user, LocalAccount* account = nullptr, bool* unknown = nullptr);
    // The decision for `request` once its user's account is known: `next`
    // runs on the loop, at once when no lookup is needed (root, break-glass)
    // or the answer is cached, else when the lookup returns or its bound
    // passes. Without an answer (TimedOut, Busy) the decision is a deny with
    // reason nss_timeout / nss_busy and `managed` true, the account empty.
    using Decided = std::function<void(LookupOutcome, const Decision&, bool managed, const LocalAccount& account)>;
    void decide_async(AccessRequest request, Decided next);
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
    void install(HeldGrants next, ChangeCause cause);
    // next.grants/refused/limit_notes from next.received and the [limits];
    // a grant.limited event for each note that is new since the grants held now.
    void apply_host_limits(HeldGrants& next);
    void refresh_time(ChangeCause cause);
    void publish_all();
    void schedule_next_change();
    GrantView view() const;
    std::vector<Grant> effective_grants() const;
    SyncSettings sync_settings() const;

    bool never_managed_here(const std::string& user) const;  // empty, root, break-glass: no lookup needed
    bool managed_with(const std::string& user, const LocalAccount& account, bool* unknown);
    Decision decide_with(const AccessRequest& request, const LocalAccount* account, bool* managed);
    // `next` with the user name of non-root `uid` (nullopt: none), on the
    // loop; NSS not answering in time: the error answer instead.
    void peer_name(uid_t uid, const std::function<void(ipc::Message)>& reply,
                   std::function<void(const std::optional<std::string>&)> next);
    // A continuation that runs only while this Daemon lives.
    template <class F>
    auto while_alive(F f) {
        return [alive = std::weak_ptr<bool>(alive_), f = std::move(f)](auto&&... args) mutable {
            if (!alive.expired()) f(std::forward<decltype(args)>(args)...);
        };
    }
    // Likewise, and a throw is answered `internal` (the client is not left to its deadline).
    template <class F>
    auto later(std::function<void(ipc::Message)> reply, F f) {
        return while_alive([reply = std::move(reply), f = std::move(f)](auto&&... args) mutable {
            try {
                f(std::forward<decltype(args)>(args)...);
            } catch (const std::exception& e) {
                reply(error_reply("internal", e.what()));
            }
        });
    }

    void op_check(const ipc::Message& req, const Peer& peer, bool with_audit, std::function<void(ipc::Message)>& reply);
    void answer_check(const ipc::Message& req, const Peer& peer, bool with_audit, const AccessRequest& ar,
                      const Decision& d, bool managed, const LocalAccount& account,
                      const std::function<void(ipc::Message)>& reply);
    void op_session(const ipc::Message& req, const Peer& peer, bool open, std::function<void(ipc::Message)>& reply);
    void op_request(const ipc::Message& req, const Peer& peer, std::function<void(ipc::Message)> reply);
    void relay_request(const ipc::Message& req, const Peer& peer, const std::string& user,
                       std::function<void(ipc::Message)> reply);
    // ssh_keys / ssh_principals (ops_ssh.cpp)
    void op_ssh(const ipc::Message& req, const Peer& peer, bool principals, std::function<void(ipc::Message)>& reply);
    void answer_ssh(const std::string& user, bool principals, const std::function<void(ipc::Message)>& reply);
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
    HeldGrants held_;
    std::string last_payload_;  // exact bytes of the accepted payload
    std::vector<std::unique_ptr<Publisher>> publishers_;
    std::vector<std::unique_ptr<Component>> components_;
    SessionTable* sessions_ = nullptr;
    Loop::TimerId change_timer_ = 0;
    UnixTime started_at_ = 0;
    std::string last_publish_error_;
    std::string last_rollback_alert_;  // the rule-3 refusal last alerted (once per refusal, not per poll)
    RequestOwners request_owners_;
    PeerBudget relay_budget_{kRelayBurst, kRelayRefillMs};
    PeerBudget request_status_budget_{kRequestStatusBurst, kRequestStatusRefillMs};
    std::set<std::string> ssh_dropped_told_;  // reasons already alerted (op_ssh)
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // while_alive's token
};

}  // namespace jit::helperd
