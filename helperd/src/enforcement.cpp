// The Enforcer inside jit-helperd (see enforcement.hpp).
#include <jit/helperd/enforcement.hpp>

#include <jit/enforce/enforcer.hpp>
#include <jit/enforce/procfs.hpp>
#include <jit/helperd/daemon.hpp>
#include <jit/helperd/worker_thread.hpp>
#include <jit/local_account.hpp>
#include <jit/nss_user_db.hpp>
#include <jit/set_aside.hpp>

#include <systemd/sd-bus.h>

#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <vector>

namespace jit::helperd {
namespace {

using namespace jit::enforce;

class LoopClock final : public Clock {
public:
    explicit LoopClock(Loop& loop) : loop_(loop) {}
    UnixTime now() override { return loop_.now(); }
    std::int64_t monotonic_ms() override { return loop_.monotonic_ms(); }

private:
    Loop& loop_;
};

EnforcerOptions options_from(const Config& c) {
    EnforcerOptions o;
    o.state_path = c.state_dir + "/enforce.json";
    o.host_name = !c.policy.host_id.empty() ? c.policy.host_id : c.authority.host_id;
    o.warn_offsets.assign(c.enforce.warn_before.begin(), c.enforce.warn_before.end());
    o.kill_grace_ms = std::int64_t(c.enforce.kill_grace) * 1000;
    o.new_home.skel = c.nss.skel;
    if (c.enforce.home_retention_days >= 0) o.retention.days = c.enforce.home_retention_days;
    o.retention.action = c.enforce.home_retention_delete ? RetentionPolicy::Action::Delete : RetentionPolicy::Action::Archive;
    o.retention.archive_dir = c.state_dir + "/home-archives";
    return o;
}

// A session's uid: the one its grant names, else the one NSS gave the
// decision that allowed it (looked up off the loop, any passwd line length).
uid_t uid_of(const HeldGrants& g, const SessionInfo& s) {
    for (const Grant& gr : g.grants)
        if (gr.user == s.user && gr.uid) return *gr.uid;
    return s.uid.value_or(0);
}

// Without logind, once enforce.json was set aside (its sessions are lost):
// the live sessions are found again in /proc. Each session leader (sid ==
// pid, not a zombie) whose four uids are one uid >= 1000 that has a user
// name is offered for adoption (the Enforcer takes those of managed users,
// binds them to a grant or ends them at its next evaluation).
class ProcRebuildProber final : public SessionProber {
public:
    explicit ProcRebuildProber(Clock& clock) : clock_(clock) {}
    const char* name() const override { return "proc"; }
    std::optional<bool> alive(const Session& s) override { return proc_.alive(s); }
    bool list(Listed done) override {
        std::vector<Session> out;
        const ProcTable snap = ProcTable::read();
        for (const ProcInfo& p : snap.all()) {
            if (p.kernel_thread || p.state == 'Z' || p.sid != p.pid || p.ruid < 1000 || !p.owned_by(p.ruid)) continue;
            std::optional<std::string> name = jit::user_name_of(p.ruid);
            if (!name) continue;
            Session s;
            s.user = std::move(*name);
            s.uid = p.ruid;
            s.pid = p.pid;
            s.pid_start = p.start;
            s.opened_at = clock_.now();  // not known: when it was found
            s.key = session_key("", s.pid, "");
            out.push_back(std::move(s));
        }
        done(std::move(out));
        return true;
    }

private:
    Clock& clock_;
    ProcSessionProber proc_;
};

// Implements the daemon's SessionTable on the Enforcer's table (the one
// session table) and makes homes at first sessions (Enforcer::create_home
// records them for retention).
class EnforceComponent final : public Component, public SessionTable {
public:
    EnforceComponent(Daemon& daemon, std::shared_ptr<const nss::UserDb> homes)
        : daemon_(daemon), homes_(std::move(homes)), clock_(daemon.loop()) {}
    ~EnforceComponent() override {
        cancel_timers();
        if (clock_watch_) daemon_.loop().cancel(clock_watch_);
        home_maker_.reset();  // waits for a home being copied; answers nothing more
        enforcer_.reset();
        terminator_.reset();
        prober_.reset();
        if (bus_) sd_bus_flush_close_unref(bus_);
    }

    Status init() {
        if (sd_bus_open_system(&bus_) < 0) bus_ = nullptr;
        // logind is asked asynchronously: its answers are dispatched by the daemon's loop.
        if (bus_ && !daemon_.loop().attach_bus(bus_)) {
            sd_bus_flush_close_unref(bus_);
            bus_ = nullptr;
        }
        DiscoveryOptions discovery;
        discovery.min_uid = 1000;  // PROTOCOL.md: JIT uids are >= 1000; system accounts are never touched
        // Its /proc scans run on a worker thread; the answers come back through the loop.
        fallback_ = std::make_unique<FallbackTerminator>(signaller_, discovery, "/proc",
                                                         [&loop = daemon_.loop()](auto cb) { loop.post(std::move(cb)); });
        if (logind_available(bus_)) {
            auto logind = std::make_unique<LogindTerminator>(bus_, *fallback_);
            // The system bus gone or logind not answering: the processes are
            // signalled instead (terminator.hpp), and an operator is told.
            logind->on_unreachable = [this](const std::string& what) {
                daemon_.audit().emit(audit::Event{audit::EventType::SecurityAlert,
                                                  "systemd-logind could not end a session: " + what, {}}
                                         .add(std::string(audit::field::kAlert), "logind_unreachable")
                                         .add(std::string(audit::field::kError), what));
            };
            terminator_ = std::move(logind);
            prober_ = std::make_unique<LogindSessionProber>(bus_);
        } else {
            prober_ = std::make_unique<ProcSessionProber>();
        }
        Terminator& t = terminator_ ? *terminator_ : static_cast<Terminator&>(*fallback_);
        std::fprintf(stderr, "jit-helperd: enforcement: ending sessions %s\n",
                     terminator_ ? "through systemd-logind (TerminateSession, then KillSession after the grace)"
                                 : "without logind (signalling the session's processes, see docs/enforcement.md)");
        auto make_enforcer = [&] {
            enforcer_ = std::make_unique<Enforcer>(options_from(daemon_.config()),
                                                   Enforcer::Deps{clock_, t, warner_, daemon_.audit(), prober_.get(),
                                                                  &daemon_.loop()});
            enforcer_->on_schedule_change = [this] { rearm(); };
        };
        make_enforcer();
        auto managed = [this](const std::string& u) { return daemon_.is_managed(u); };
        auto st = enforcer_->start(managed);
        if (!st && st.error().code == "enforce.state") {
            // Never a crash loop over the session table: set it aside and
            // start again from what is live.
            const std::string path = options_from(daemon_.config()).state_path;
            const std::string sessions = terminator_ ? "the session table is rebuilt from logind's live sessions"
                                                     : "the session table is rebuilt from the session leaders in /proc";
            daemon_.audit().emit(audit::set_aside(path, st.error().message,
                                                  sessions + "; records of homes jitlogin created are lost, so home "
                                                             "retention leaves those homes alone",
                                                  daemon_.loop().now()));
            if (!terminator_) {
                enforcer_.reset();
                prober_ = std::make_unique<ProcRebuildProber>(clock_);
                make_enforcer();
            }
            st = enforcer_->start(managed);
        }
        if (!st) return st;
        // Absolute timers follow a clock change; re-evaluating at once also
        // catches what a backward or forward jump moved.
        clock_watch_ = daemon_.loop().on_clock_change([this] {
            if (stopped_) return;
            enforcer_->evaluate();  // re-arms the wake-up (on_schedule_change)
            const auto next = enforcer_->next_wakeup();
            std::fprintf(stderr, "jit-helperd: the system clock was set: sessions re-evaluated, next enforcement wake-up %s\n",
                         next ? ("at " + std::to_string(*next) + " (in " +
                                 std::to_string(*next - daemon_.loop().now()) + " s)").c_str()
                              : "none");
        });
        rearm();
        return Ok{};
    }

    void grants_changed(const HeldGrants&, const HeldGrants& now, ChangeCause) override {
        GrantsUpdate u;
        u.have_bundle = now.have_bundle;
        u.grants = now.grants;
        u.revoked = now.revoked;
        u.revision = now.revision;
        u.suspended = grants_suspended(now.stale, daemon_.config().policy);
        enforcer_->update_grants(std::move(u));
    }

    std::string open(const SessionInfo& s) override {
        SessionOpen o;
        o.user = s.user;
        o.uid = uid_of(daemon_.grants(), s);
        o.service = s.service;
        o.tty = s.tty;
        o.rhost = s.rhost;
        o.pid = s.pid;
        o.logind_id = s.logind_session;
        o.grant_id = s.grant_id;
        const std::string key = enforcer_->session_opened(o);
        make_home(s.user);
        return key;
    }

    std::optional<SessionInfo> close(const SessionInfo& c) override {
        for (const auto& [key, s] : enforcer_->sessions()) {
            if (!close_names(c, s.user, s.logind_id, s.pid)) continue;
            SessionInfo closed{s.user, s.service, s.tty, s.rhost, s.pid, s.logind_id, s.grant_id, s.uid, s.opened_at, key};
            enforcer_->session_closed(key);
            return closed;
        }
        return std::nullopt;
    }

    void when_durable(std::function<void()> then) override { enforcer_->when_saved(std::move(then)); }

    void when_opened(const SessionInfo& opened, std::function<void()> then) override {
        auto it = homes_underway_.find(opened.user);
        if (it == homes_underway_.end()) return when_durable(std::move(then));
        it->second.push_back([this, then = std::move(then)]() mutable { when_durable(std::move(then)); });
    }

    std::size_t count(const std::optional<std::string>& user) const override {
        std::size_t n = 0;
        for (const auto& [key, s] : enforcer_->sessions()) n += !user || s.user == *user;
        return n;
    }

    void config_reloaded(const Config& c) override { enforcer_->set_options(options_from(c)); }

    void add_status(Json::Value& status) override {
        Json::Value e(Json::objectValue);
        e["terminator"] = enforcer_->terminator().name();
        if (auto t = enforcer_->next_wakeup()) e["next_wakeup"] = Json::Int64(*t);
        Json::Value list(Json::arrayValue);
        for (const auto& [key, s] : enforcer_->sessions()) {
            Json::Value o(Json::objectValue);
            o["key"] = key;
            o["user"] = s.user;
            o["uid"] = Json::UInt(s.uid);
            o["grant_id"] = s.grant_id;
            o["service"] = s.service;
            o["tty"] = s.tty;
            o["rhost"] = s.rhost;
            o["pid"] = Json::Int(s.pid);
            o["logind_session"] = s.logind_id;
            o["opened_at"] = Json::Int64(s.opened_at);
            o["ending"] = s.ending;
            list.append(o);
        }
        e["sessions"] = list;
        e["table_writes"] = Json::UInt64(enforcer_->table_writes());
        if (!enforcer_->last_save_error().empty()) e["state_error"] = enforcer_->last_save_error();
        status["enforcement"] = e;
    }

    void stopping() override {
        cancel_timers();
        stopped_ = true;
    }

private:
    void cancel_timers() {
        if (wake_timer_) daemon_.loop().cancel(wake_timer_);
        if (grace_timer_) daemon_.loop().cancel(grace_timer_);
        wake_timer_ = grace_timer_ = 0;
    }

    void rearm() {
        if (stopped_) return;
        cancel_timers();
        Loop& loop = daemon_.loop();
        if (auto t = enforcer_->next_wakeup())
            wake_timer_ = loop.call_at(*t, [this] {  // absolute CLOCK_REALTIME, 1 ms accuracy (SdLoop)
                wake_timer_ = 0;
                enforcer_->evaluate();
            });
        if (auto g = enforcer_->next_grace_ms())
            grace_timer_ = loop.call_after(std::chrono::milliseconds(std::max<std::int64_t>(0, *g - loop.monotonic_ms())),
                                           [this] {
                                               grace_timer_ = 0;
                                               enforcer_->evaluate();
                                           });
    }

    // The home at the first session, with the uid and path the JIT user database
    // gives the user (nss.create_home). Made on a worker thread: a copy of a
    // large skeleton, or a home on a slow file system, never holds the loop.
    // Once per user at a time; the answers to that user's session_open wait
    // for it (when_opened). Nothing at the path is looked at on the loop either:
    // /home may be an automounted or network file system.
    void make_home(const std::string& user) {
        if (!homes_ || !daemon_.config().nss.create_home || homes_underway_.count(user)) return;
        const auto uid = homes_->uid_of(user);
        if (!uid) return;
        if (!home_maker_) home_maker_ = std::make_unique<WorkerThread>(daemon_.loop(), "home creation");
        homes_underway_[user];
        home_maker_->submit([this, user, uid = *uid, path = homes_->home_of(user),
                             how = enforcer_->options().new_home]() -> Loop::Callback {
            Result<bool> made = [&]() -> Result<bool> {
                try {
                    return create_home(path, uid, uid, how);
                } catch (const std::exception& e) {  // answered all the same: session_opens wait for it
                    return make_error("home", e.what());
                }
            }();
            return [this, user, uid, path, made = std::move(made)] {
                auto waiting = homes_underway_.extract(user);
                try {
                    enforcer_->record_home(user, uid, path, made);
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "jit-helperd: the home of %s: %s\n", user.c_str(), e.what());
                }
                if (!waiting.empty())
                    for (auto& answer : waiting.mapped()) answer();
            };
        });
    }

    Daemon& daemon_;
    std::shared_ptr<const nss::UserDb> homes_;
    LoopClock clock_;
    sd_bus* bus_ = nullptr;
    PidfdSignaller signaller_;
    TtyWarner warner_;
    std::unique_ptr<FallbackTerminator> fallback_;
    std::unique_ptr<Terminator> terminator_;
    std::unique_ptr<SessionProber> prober_;
    std::unique_ptr<Enforcer> enforcer_;
    Loop::TimerId wake_timer_ = 0, grace_timer_ = 0;
    Loop::TimerId clock_watch_ = 0;
    // Users whose home the worker is making, each with the session_open
    // answers waiting for it.
    std::map<std::string, std::vector<std::function<void()>>> homes_underway_;
    std::unique_ptr<WorkerThread> home_maker_;  // reset (joined) first by the destructor
    bool stopped_ = false;
};

}  // namespace

Status add_enforcement(Daemon& daemon, std::shared_ptr<const nss::UserDb> homes) {
    auto c = std::make_unique<EnforceComponent>(daemon, std::move(homes));
    if (auto st = c->init(); !st) return make_error(st.error().code, "enforcement: " + st.error().message);
    daemon.set_session_table(*c);
    daemon.add_component(std::move(c));
    return Ok{};
}

}  // namespace jit::helperd
