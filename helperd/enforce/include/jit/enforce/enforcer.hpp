// The enforcement core of jit-helperd: carries out what the scheduler plans
// (audit events, warnings, terminations, home retention), keeps the session
// table durable, and tells its driver when to wake it next. Single-threaded;
// the clock and every side effect are injected (docs/enforcement.md).
#pragma once

#include <jit/audit.hpp>
#include <jit/enforce/home.hpp>
#include <jit/enforce/scheduler.hpp>
#include <jit/enforce/session.hpp>
#include <jit/enforce/terminator.hpp>
#include <jit/enforce/warner.hpp>
#include <jit/grant.hpp>
#include <jit/helperd/loop.hpp>
#include <jit/paths.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace jit::enforce {

class Clock {
public:
    virtual ~Clock() = default;
    virtual UnixTime now() = 0;                 // CLOCK_REALTIME seconds
    virtual std::int64_t monotonic_ms() = 0;    // CLOCK_MONOTONIC milliseconds
};

// Which recorded sessions still exist (at start and before each evaluation),
// and which exist that were never recorded (logind only).
class SessionProber {
public:
    using Listed = std::function<void(Result<std::vector<Session>>)>;
    virtual ~SessionProber() = default;
    virtual const char* name() const = 0;
    // From local facts (/proc): whether the session still exists; nullopt when
    // only list() can tell.
    virtual std::optional<bool> alive(const Session& s) = 0;
    // Starts listing the session manager's live sessions; `done` runs later
    // (or at once). False when this prober cannot list.
    virtual bool list(Listed done) { return false; }
    // Whether list() names every session by what a registration names it
    // with (logind's id and leader pid), so that a live session of a managed
    // user that is in neither the table nor being ended was never registered
    // (session_open failed, timed out or was refused while sshd went on) and
    // is adopted at any listing, not only at start. Listed at least once a
    // minute then.
    virtual bool adopts_unregistered() const { return false; }
};

// Without logind: the registered pid still runs with the same start time.
class ProcSessionProber final : public SessionProber {
public:
    explicit ProcSessionProber(std::string proc_root = "/proc") : proc_root_(std::move(proc_root)) {}
    const char* name() const override { return "proc"; }
    std::optional<bool> alive(const Session& s) override;

private:
    std::string proc_root_;
};

// With logind: ListSessions (asynchronous). Sessions with a known leader are
// checked in /proc; only those without one need logind's list.
class LogindSessionProber final : public SessionProber {
public:
    explicit LogindSessionProber(sd_bus* bus, std::string proc_root = "/proc");
    const char* name() const override { return "logind"; }
    std::optional<bool> alive(const Session& s) override;
    bool list(Listed done) override;
    bool adopts_unregistered() const override { return true; }

private:
    AsyncBus calls_;
    ProcSessionProber proc_;
};

struct EnforcerOptions {
    std::string state_path = JIT_STATE_DIR "/enforce.json";
    std::string host_name;                          // in the warning line ("access to web-01 ends ...")
    std::vector<std::int64_t> warn_offsets{600, 60};
    std::int64_t kill_grace_ms = 5000;
    HomeOptions new_home;                           // how create_home() makes a home
    RetentionPolicy retention;
};

// What the daemon knows when grants change.
struct GrantsUpdate {
    bool have_bundle = false;
    std::vector<Grant> grants;
    std::vector<Revocation> revoked;
    std::int64_t revision = 0;
    bool suspended = false;  // stale view and StalePolicy::Suspend
};

// A session announced by pam_jit.so (op=session_open) and allowed.
struct SessionOpen {
    std::string user;
    std::uint32_t uid = 0;
    std::string service, tty, rhost;
    pid_t pid = 0;
    std::string logind_id;
    std::string grant_id;  // the grant the decision that allowed it named
};

class Enforcer {
public:
    struct Deps {
        Clock& clock;
        Terminator& terminator;
        Warner& warner;
        audit::Sink& audit;
        // Liveness of recorded sessions, at start and before each evaluation
        // (null: sessions leave only by close or termination).
        SessionProber* prober = nullptr;
        // Runs home-retention jobs (child processes) and their timeouts;
        // without it retention cannot run and says so in an alert.
        helperd::Loop* loop = nullptr;
    };
    Enforcer(EnforcerOptions options, Deps deps);
    ~Enforcer();
    Enforcer(const Enforcer&) = delete;
    Enforcer& operator=(const Enforcer&) = delete;

    // Loads the persisted state, drops sessions that are gone, completes the
    // ends decided before a restart (session.ended when the session is gone,
    // the polite step again when it is not), and adopts live logind sessions
    // of managed users that were never recorded (when the listing answers). A
    // malformed state file is an error (never silently forget sessions).
    Status start(const std::function<bool(const std::string& user)>& managed = {});

    // New grants (bundle accepted, stale policy flipped, reload); evaluates at once.
    void update_grants(GrantsUpdate update);
    // Registers a session bound to open.grant_id and evaluates at once (it
    // may be warned, or ended when that grant does not cover it and no other
    // does). Returns its key.
    std::string session_opened(const SessionOpen& open);
    // Deregisters (op=session_close). Unknown keys are ignored.
    void session_closed(const std::string& key);
    // Makes `user`'s home at `path` (owned by uid:uid, from options().new_home)
    // when nothing is there, and records it as one jitlogin created (the only
    // kind retention touches): home.created, or an alert when it failed. Here
    // and now; the daemon makes homes on a worker thread and hands the
    // outcome to record_home().
    void create_home(const std::string& user, uid_t uid, const std::string& path);
    // What create_home() does with enforce::create_home()'s outcome `made`.
    void record_home(const std::string& user, uid_t uid, const std::string& path, const Result<bool>& made);
    // Records a home that jitlogin created.
    void note_home_created(const std::string& user, const CreatedHome& home);

    // Runs everything due now: window edges, warnings, terminations, grace
    // escalations, retention. The driver calls it at next_wakeup(),
    // next_grace_ms(), and whenever the wall clock is set.
    void evaluate();

    std::optional<UnixTime> next_wakeup() const { return next_wakeup_; }        // wall clock, absolute
    std::optional<std::int64_t> next_grace_ms() const;                           // monotonic, absolute
    // Users whose home-retention job (tar, rm) is running.
    std::size_t running_home_jobs() const { return jobs_.size(); }
    // Called after every evaluation: the driver re-arms its timers.
    std::function<void()> on_schedule_change;

    const SessionMap& sessions() const { return state_.sessions; }
    const GrantStates& grant_states() const { return state_.grants; }
    const PersistedState& state() const { return state_; }
    const Terminator& terminator() const { return deps_.terminator; }
    const EnforcerOptions& options() const { return options_; }
    void set_options(EnforcerOptions options);
    // Runs `then` once every change made so far is written to the state file
    // (or its write failed, with an alert): at once when nothing is pending,
    // else after the one write of this loop turn. Answers that promise a
    // registration (session_open) or a removal (session_close) wait for it.
    void when_saved(std::function<void()> then);
    // The last error saving the state file ("" if none).
    const std::string& last_save_error() const { return save_error_; }
    // How many times the state file was written (or a write tried) since the start (status, tests).
    std::uint64_t table_writes() const { return table_writes_; }

private:
    struct HomeJob {
        helperd::Loop::TimerId child = 0, timeout = 0;
    };
    void prune_gone();
    // `unknown_sessions`: some live session only the listing can vouch for.
    void request_listing(bool at_start, bool unknown_sessions = false);
    void listed(const std::vector<Session>& live, bool at_start);
    void session_gone(const std::string& key, const char* reason, const char* what);
    void apply(const Action& a, UnixTime now, std::vector<std::string>& to_end);
    void decide_end(Session& s, const Action& a);
    void send_polite(const std::vector<std::string>& keys);
    void session_removed(const std::string& logind_id);
    Session* ending_session(const std::string& key, std::uint64_t token);
    void finish_termination(const std::string& key, const std::string& how, const std::string& error, bool hard,
                            const std::string& note = "");
    void escalate_due();
    // Users whose last grant is over: their lingering and user manager end
    // too (Terminator::end_users), polite at once, hard after the grace.
    bool holds_grant_in_force(const std::string& user, UnixTime now) const;
    void end_users_due(UnixTime now);
    void escalate_users_due();
    void warn(Session& s, const Action& a, UnixTime now);
    void retention(UnixTime now);
    void start_home_job(const std::string& user, UnixTime now);
    void watch_home_job(const std::string& user, pid_t pid);
    void home_job_done(const std::string& user, int wait_status);
    void end_home_job(const std::string& user, const std::string& error);
    void stop_home_job(const std::string& user);
    void home_alert(const std::string& user, const CreatedHome& home, const std::string& error);
    void track_users(UnixTime now);
    void sync_grant_states(UnixTime now);
    void save();       // soon: one write per loop turn (at once without a loop)
    void write_now();  // at once, then what waited for it
    void changed();  // after an asynchronous answer: evaluate (saves, lets the driver re-arm)
    std::string polite_how() const;
    std::string hard_how() const;
    std::vector<Session> staying_sessions() const;
    const Grant* find_grant(const std::string& id) const;
    audit::Event session_event(audit::EventType type, const Session& s, std::string message) const;

    EnforcerOptions options_;
    Deps deps_;
    PersistedState state_;
    bool have_bundle_ = false;
    GrantsUpdate grants_;
    std::optional<UnixTime> next_wakeup_;
    bool dirty_ = false;
    bool write_posted_ = false;
    std::vector<std::function<void()>> saved_waiters_;
    std::shared_ptr<bool> live_ = std::make_shared<bool>(true);  // for the posted write
    std::uint64_t table_writes_ = 0;
    std::string save_error_;
    std::function<bool(const std::string& user)> managed_;
    bool listing_ = false;
    bool evaluating_ = false;
    std::optional<std::int64_t> listed_at_ms_;
    std::uint64_t next_end_token_ = 1;
    std::map<std::string, HomeJob> jobs_;
    // Users to be ended (a grant of theirs ended, or a session was ended; at
    // the first evaluation with a bundle, every user who ever held a grant
    // here): dropped when they hold a grant in force again or are ended.
    std::set<std::string> users_to_end_;
    bool users_swept_ = false;
    bool users_ending_ = false;  // the polite step's call is out
    std::optional<std::int64_t> users_retry_ms_;  // the listing failed: asked again then (monotonic)
    std::string users_error_;  // the last failure alerted (one alert per distinct error)
    struct UserKill {
        std::uint32_t uid = 0;
        std::int64_t deadline_ms = 0;  // monotonic: the grace after the polite step
    };
    std::map<std::string, UserKill> user_kills_;
};

}  // namespace jit::enforce
