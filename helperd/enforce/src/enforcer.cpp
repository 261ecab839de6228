// The enforcement core (see enforcer.hpp, docs/enforcement.md).
#include <jit/enforce/enforcer.hpp>

#include <jit/decision.hpp>

#include <systemd/sd-bus.h>

#include <algorithm>
#include <set>

#include <cerrno>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

namespace jit::enforce {
namespace {

using audit::Event;
using helperd::Loop;
using audit::EventType;
namespace field = audit::field;

std::string F(std::string_view v) { return std::string(v); }

}  // namespace

// ---- probers ---------------------------------------------------------------

std::optional<bool> ProcSessionProber::alive(const Session& s) {
    if (s.pid <= 1 || s.pid_start == 0) return false;
    auto start = process_start_time(s.pid, proc_root_);
    return start && *start == s.pid_start;
}

LogindSessionProber::LogindSessionProber(sd_bus* bus, std::string proc_root)
    : calls_(bus), proc_(std::move(proc_root)) {}

std::optional<bool> LogindSessionProber::alive(const Session& s) {
    // The registered process (sshd's per-connection process, su, login) lives
    // exactly as long as the session; logind is asked only when it is unknown.
    if (s.logind_id.empty() || s.pid_start != 0) return proc_.alive(s);
    return std::nullopt;
}

bool LogindSessionProber::list(Listed done) {
    logind_list_sessions(calls_, [done = std::move(done)](Result<std::vector<LogindSession>> r) {
        if (!r) return done(r.error());
        std::vector<Session> out;
        for (const auto& l : r.value()) {
            Session s;
            s.logind_id = l.id;
            s.user = l.user;
            s.uid = l.uid;
            s.service = l.service;
            s.tty = l.tty;
            s.rhost = l.remote_host;
            s.pid = static_cast<pid_t>(l.leader);
            if (auto st = process_start_time(s.pid)) s.pid_start = *st;
            s.opened_at = static_cast<UnixTime>(l.timestamp_usec / 1000000);
            s.key = session_key(s.logind_id, s.pid, s.tty);
            out.push_back(std::move(s));
        }
        done(std::move(out));
    });
    return true;
}

// ---- Enforcer --------------------------------------------------------------

Enforcer::Enforcer(EnforcerOptions options, Deps deps) : options_(std::move(options)), deps_(deps) {
    deps_.terminator.on_session_removed = [this](const std::string& id) { session_removed(id); };
}

Enforcer::~Enforcer() {
    *live_ = false;
    deps_.terminator.on_session_removed = nullptr;
    // A change whose write was still posted is written now (a clean stop
    // loses nothing); what waited for it is not answered any more.
    saved_waiters_.clear();
    if (dirty_) write_now();
    for (auto& [user, job] : jobs_) {
        if (deps_.loop) {
            deps_.loop->cancel(job.child);  // kills the child; the record says to retry at the next start
            deps_.loop->cancel(job.timeout);
        }
    }
}

void Enforcer::set_options(EnforcerOptions options) {
    options.state_path = options_.state_path;  // the state file does not move at runtime
    options_ = std::move(options);
    evaluate();
}

Status Enforcer::start(const std::function<bool(const std::string&)>& managed) {
    auto loaded = load_state(options_.state_path);
    if (!loaded) return loaded.error();
    state_ = std::move(loaded.value());
    managed_ = managed;
    // Ends decided before a restart: this run's grace starts now.
    for (auto& [key, s] : state_.sessions)
        if (s.ending) {
            s.kill_deadline_ms = deps_.clock.monotonic_ms() + options_.kill_grace_ms;
            s.end_token = next_end_token_++;
        }
    if (deps_.prober) {
        std::vector<std::string> gone;
        for (const auto& [key, s] : state_.sessions)
            if (deps_.prober->alive(s) == false) gone.push_back(key);
        for (const std::string& key : gone)
            session_gone(key, "gone_at_start", " ended while jit-helperd was not running");
    }
    // Still there (or not known yet): the polite step again, the hard one after the grace.
    std::vector<std::string> resume;
    for (const auto& [key, s] : state_.sessions)
        if (s.ending) resume.push_back(key);
    write_now();
    send_polite(resume);
    request_listing(/*at_start=*/true);
    return Ok{};
}

// Asks the prober for the session manager's list (at start, and at most once a
// minute while sessions only it can vouch for are recorded).
void Enforcer::request_listing(bool at_start, bool unknown_sessions) {
    if (!deps_.prober || listing_) return;
    if (!at_start) {
        const bool needed = deps_.prober->adopts_unregistered() || unknown_sessions;
        const std::int64_t mono = deps_.clock.monotonic_ms();
        if (!needed || (listed_at_ms_ && mono - *listed_at_ms_ < 55'000)) return;
    }
    listing_ = true;
    const bool started = deps_.prober->list([this, at_start](Result<std::vector<Session>> r) {
        listing_ = false;
        listed_at_ms_ = deps_.clock.monotonic_ms();
        if (!r) return;  // cannot tell: keep them (each is re-checked when it is ended)
        listed(r.value(), at_start);
    });
    if (!started) listing_ = false;
}

void Enforcer::listed(const std::vector<Session>& live, bool at_start) {
    std::set<std::string> ids;
    for (const Session& l : live) ids.insert(l.logind_id);
    std::vector<std::string> gone;
    for (const auto& [key, s] : state_.sessions)
        if (!deps_.prober->alive(s).has_value() && !ids.count(s.logind_id)) gone.push_back(key);
    for (const std::string& key : gone)
        session_gone(key, at_start ? "gone_at_start" : "gone",
                     at_start ? " ended while jit-helperd was not running" : " is gone (no close was received)");
    if (at_start || deps_.prober->adopts_unregistered()) {
        for (const Session& s : live) {
            if (state_.sessions.count(s.key) || !managed_) continue;
            // Registered under its pid (no logind id reached us): the same session.
            bool known = false;
            for (const auto& [key, have] : state_.sessions) known = known || (s.pid > 0 && have.pid == s.pid);
            if (known || !managed_(s.user)) continue;
            const std::string what = (s.logind_id.empty() ? "session of pid " + std::to_string(s.pid)
                                                          : "logind session " + s.logind_id) +
                                     " of " + s.user;
            Event e = session_event(EventType::SessionOpened, s,
                                    at_start ? "live " + what + " adopted at start"
                                             : "live " + what + " was never registered (its session_open failed, "
                                                                "timed out or was refused): adopted");
            e.add(F(field::kReason), at_start ? "adopted_at_start" : "adopted_unregistered");
            deps_.audit.emit(e);
            state_.sessions[s.key] = s;  // bound at the next evaluation (rebind or terminate)
            dirty_ = true;
        }
    }
    evaluate();
}

// A recorded session no longer exists: an end jitlogin decided is confirmed
// (session.ended), anything else closed without telling us (session.closed).
void Enforcer::session_gone(const std::string& key, const char* reason, const char* what) {
    auto it = state_.sessions.find(key);
    if (it == state_.sessions.end()) return;
    if (it->second.ending) {
        const Session& s = it->second;
        finish_termination(key, s.end_how.empty() ? polite_how() : s.end_how, s.end_error, false,
                           std::string(reason) == "gone_at_start" ? "confirmed after jit-helperd restarted" : "");
        return;
    }
    Event e = session_event(EventType::SessionClosed, it->second, "session of " + it->second.user + what);
    e.add(F(field::kReason), reason);
    deps_.audit.emit(e);
    state_.sessions.erase(it);
    dirty_ = true;
}

void Enforcer::update_grants(GrantsUpdate update) {
    grants_ = std::move(update);
    have_bundle_ = grants_.have_bundle;
    evaluate();
}

std::string Enforcer::session_opened(const SessionOpen& open) {
    Session s;
    s.logind_id = open.logind_id;
    s.user = open.user;
    s.uid = open.uid;
    s.service = open.service;
    s.tty = open.tty;
    s.rhost = open.rhost;
    s.pid = open.pid;
    if (auto st = process_start_time(open.pid)) s.pid_start = *st;
    s.opened_at = deps_.clock.now();
    s.key = session_key(s.logind_id, s.pid, s.tty);
    s.grant_id = open.grant_id;
    state_.sessions[s.key] = s;
    dirty_ = true;
    const std::string key = s.key;
    evaluate();
    return key;
}

void Enforcer::session_closed(const std::string& key) {
    auto it = state_.sessions.find(key);
    if (it == state_.sessions.end()) return;
    if (it->second.ending) {
        // Closed during the grace (sshd runs close_session when it gets
        // SIGTERM): done if nothing of it but the closing leader runs any
        // more, else the hard step still comes at the deadline.
        const std::uint64_t token = it->second.end_token;
        deps_.terminator.alive(it->second, staying_sessions(), /*leader_closing=*/true, [this, key, token](bool alive) {
            Session* s = ending_session(key, token);
            if (!s || alive) return;
            finish_termination(key, s->end_how.empty() ? polite_how() : s->end_how, s->end_error, false);
            changed();
        });
        return;
    }
    state_.sessions.erase(it);
    dirty_ = true;
    changed();
}

void Enforcer::create_home(const std::string& user, uid_t uid, const std::string& path) {
    record_home(user, uid, path, enforce::create_home(path, uid, uid, options_.new_home));
}

void Enforcer::record_home(const std::string& user, uid_t uid, const std::string& path, const Result<bool>& made) {
    if (!made) {
        deps_.audit.emit(Event{EventType::SecurityAlert, "could not create the home of " + user + ": " + made.error().message, {}}
                             .add(F(field::kAlert), "home.create_failed")
                             .add(F(field::kUser), user)
                             .add(F(field::kPath), path));
        return;
    }
    if (!*made) return;  // something was there already: not one jitlogin created
    deps_.audit.emit(Event{EventType::HomeCreated, "created home " + path + " for " + user, {}}
                         .add(F(field::kUser), user)
                         .add(F(field::kUid), std::int64_t(uid))
                         .add(F(field::kPath), path));
    note_home_created(user, CreatedHome{path, uid, deps_.clock.now()});
}

void Enforcer::note_home_created(const std::string& user, const CreatedHome& home) {
    state_.homes[user] = home;
    dirty_ = true;
    write_now();  // at once: a home made once per user, recorded before anything else happens to it
}

std::optional<std::int64_t> Enforcer::next_grace_ms() const {
    std::optional<std::int64_t> out;
    auto at = [&out](std::int64_t t) {
        if (!out || t < *out) out = t;
    };
    for (const auto& [key, s] : state_.sessions)
        if (s.ending && !s.end_checking) at(s.kill_deadline_ms);
    for (const auto& [user, k] : user_kills_) at(k.deadline_ms);
    if (users_retry_ms_) at(*users_retry_ms_);
    return out;
}

const Grant* Enforcer::find_grant(const std::string& id) const {
    for (const Grant& g : grants_.grants)
        if (g.id == id) return &g;
    return nullptr;
}

Event Enforcer::session_event(EventType type, const Session& s, std::string message) const {
    Event e{type, std::move(message), {}};
    e.add(F(field::kUser), s.user);
    if (s.uid) e.add(F(field::kUid), std::int64_t(s.uid));
    if (!s.grant_id.empty()) e.add(F(field::kGrantId), s.grant_id);
    e.add(F(field::kSessionId), s.logind_id.empty() ? s.key : s.logind_id);
    if (!s.service.empty()) e.add(F(field::kService), s.service);
    if (!s.rhost.empty()) e.add(F(field::kRhost), s.rhost);
    if (!s.tty.empty()) e.add(F(field::kTty), s.tty);
    if (s.pid) e.add(F(field::kPid), std::int64_t(s.pid));
    return e;
}

std::vector<Session> Enforcer::staying_sessions() const {
    std::vector<Session> out;
    for (const auto& [key, s] : state_.sessions)
        if (!s.ending) out.push_back(s);
    return out;
}

void Enforcer::prune_gone() {
    if (!deps_.prober) return;
    // Its close never reached us (e.g. sent while the daemon restarted).
    // Each session is probed once (a /proc read each without logind).
    std::vector<std::string> gone;
    bool unknown = false;  // some only the session manager's list can vouch for
    for (const auto& [key, s] : state_.sessions) {
        if (s.ending) continue;
        const std::optional<bool> alive = deps_.prober->alive(s);
        if (alive == false) gone.push_back(key);
        unknown = unknown || !alive.has_value();
    }
    for (const std::string& key : gone) session_gone(key, "gone", " is gone (no close was received)");
    request_listing(/*at_start=*/false, unknown);
}

void Enforcer::evaluate() {
    struct Guard {
        bool& flag;
        bool was;
        ~Guard() { flag = was; }
    } guard{evaluating_, evaluating_};
    evaluating_ = true;
    const UnixTime now = deps_.clock.now();
    prune_gone();
    Plan p;
    if (have_bundle_) {
        ScheduleInput in;
        in.grants = &grants_.grants;
        in.suspended = grants_.suspended;
        in.warn_offsets = options_.warn_offsets;
        in.sessions = &state_.sessions;
        in.states = &state_.grants;
        in.now = now;
        p = plan(in);
        // Mark every session of this batch as ending first, so that sessions
        // ended together do not shield each other's processes.
        for (const Action& a : p.actions)
            if (a.kind == ActionKind::Terminate)
                if (auto it = state_.sessions.find(a.session_key); it != state_.sessions.end()) it->second.ending = true;
        std::vector<std::string> to_end;
        {
            const WarnBatch batch(deps_.warner);
            for (const Action& a : p.actions) apply(a, now, to_end);
        }
        sync_grant_states(now);
        track_users(now);
        // The decisions are on disk before anything is done about them: a
        // restart in between completes them. Sessions ended together are
        // one batch (issue 18: one /proc scan per step without logind).
        if (!to_end.empty()) write_now();
        send_polite(to_end);
        if (!users_swept_) {  // what a restart may have missed
            for (const auto& [user, last] : state_.user_last_grant) users_to_end_.insert(user);
            users_swept_ = true;
        }
        end_users_due(now);
    }
    escalate_due();
    escalate_users_due();
    retention(now);
    next_wakeup_ = p.next_wakeup;
    // Unregistered sessions are looked for at least once a minute.
    if (deps_.prober && deps_.prober->adopts_unregistered() && (!next_wakeup_ || *next_wakeup_ > now + 60))
        next_wakeup_ = now + 60;
    if (options_.retention.days) {
        const std::int64_t keep = std::int64_t(*options_.retention.days) * 86400;
        for (const auto& [user, home] : state_.homes) {
            auto last = state_.user_last_grant.find(user);
            if (last == state_.user_last_grant.end()) continue;
            const UnixTime due = last->second + keep;
            if (due > now && (!next_wakeup_ || due < *next_wakeup_)) next_wakeup_ = due;
        }
    }
    save();
    if (on_schedule_change) on_schedule_change();
}

void Enforcer::apply(const Action& a, UnixTime now, std::vector<std::string>& to_end) {
    switch (a.kind) {
    case ActionKind::ActivateGrant: {
        const Grant* g = find_grant(a.grant_id);
        if (!g) return;
        state_.grants[g->id] = GrantState{GrantPhase::Active, g->user, g->not_before, g->not_after};
        Event e{EventType::GrantActivated, "grant " + g->id + " for " + g->user + " is now in force", {}};
        e.add(audit::grant_fields(*g));
        deps_.audit.emit(e);
        dirty_ = true;
        return;
    }
    case ActionKind::EndGrant: {
        auto st = state_.grants.find(a.grant_id);
        const std::string user = st != state_.grants.end() ? st->second.user : std::string();
        if (a.cause == EndCause::Removed) {
            const Revocation* rev = nullptr;
            for (const Revocation& r : grants_.revoked)
                if (r.id == a.grant_id) rev = &r;
            Event e{EventType::GrantRevoked,
                    "grant " + a.grant_id + " for " + user + " was revoked" + (rev && !rev->by.empty() ? " by " + rev->by : ""),
                    {}};
            e.add(F(field::kUser), user).add(F(field::kGrantId), a.grant_id).add(F(field::kNotAfter), a.end);
            if (rev && !rev->by.empty()) e.add(F(field::kRevokedBy), rev->by);
            e.add(F(field::kReason), rev && !rev->reason.empty() ? rev->reason : std::string("removed from the bundle"));
            e.add(F(field::kRevision), grants_.revision);
            deps_.audit.emit(e);
            state_.grants.erase(a.grant_id);
            state_.user_last_grant[user] = std::max(state_.user_last_grant[user], now);
        } else {
            const Grant* g = find_grant(a.grant_id);
            Event e{EventType::GrantEnded,
                    "grant " + a.grant_id + " for " + user + " ended: " + to_string(a.cause), {}};
            if (g) e.add(audit::grant_fields(*g));
            e.add(F(field::kCause), to_string(a.cause));
            deps_.audit.emit(e);
            if (st != state_.grants.end()) st->second.phase = GrantPhase::Ended;
        }
        if (!user.empty()) users_to_end_.insert(user);
        dirty_ = true;
        return;
    }
    case ActionKind::Rebind: {
        auto it = state_.sessions.find(a.session_key);
        if (it == state_.sessions.end()) return;
        it->second.grant_id = a.grant_id;
        dirty_ = true;
        return;
    }
    case ActionKind::Terminate: {
        auto it = state_.sessions.find(a.session_key);
        if (it == state_.sessions.end()) return;
        decide_end(it->second, a);
        to_end.push_back(a.session_key);
        users_to_end_.insert(it->second.user);
        return;
    }
    case ActionKind::Warn: {
        auto it = state_.sessions.find(a.session_key);
        if (it == state_.sessions.end() || it->second.ending) return;
        warn(it->second, a, now);
        return;
    }
    }
}

void Enforcer::decide_end(Session& s, const Action& a) {
    s.ending = true;
    s.end_reason = to_string(a.cause);
    s.end_grant_id = a.grant_id;
    s.end_not_after = a.end;
    s.end_decided_at = deps_.clock.now();
    s.end_how.clear();
    s.end_error.clear();
    s.kill_deadline_ms = deps_.clock.monotonic_ms() + options_.kill_grace_ms;
    s.end_token = next_end_token_++;
    s.end_checking = false;
    dirty_ = true;
}

std::string Enforcer::polite_how() const {
    return std::string(deps_.terminator.name()) == "logind" ? "terminate-session" : "fallback-kill";
}

std::string Enforcer::hard_how() const {
    return std::string(deps_.terminator.name()) == "logind" ? "kill-session" : "fallback-kill";
}

// The session being ended under `token`, or null when that end is over (a
// late answer about it is ignored).
Session* Enforcer::ending_session(const std::string& key, std::uint64_t token) {
    auto it = state_.sessions.find(key);
    if (it == state_.sessions.end() || !it->second.ending || it->second.end_token != token) return nullptr;
    return &it->second;
}

// An answer changed the table outside an evaluation (a session ended, say):
// evaluate again, since what is due may depend on it (home retention waits
// for the user's last session). Inside an evaluation the running one goes on.
void Enforcer::changed() {
    if (evaluating_) return;
    evaluate();
}

void Enforcer::send_polite(const std::vector<std::string>& keys) {
    std::vector<Session> batch;
    std::map<std::string, std::uint64_t> tokens;
    for (const std::string& key : keys) {
        auto it = state_.sessions.find(key);
        if (it == state_.sessions.end() || !it->second.ending || tokens.count(key)) continue;
        batch.push_back(it->second);
        tokens[key] = it->second.end_token;
    }
    if (batch.empty()) return;
    deps_.terminator.terminate_all(batch, staying_sessions(), [this, tokens](Terminator::Outcomes outs) {
        for (auto& [key, r] : outs) {
            auto t = tokens.find(key);
            Session* s = t != tokens.end() ? ending_session(key, t->second) : nullptr;
            if (!s) continue;
            s->end_how = r ? r.value() : polite_how();
            s->end_error = r ? std::string() : r.error().message;
            dirty_ = true;
        }
        save();  // how the batch went, in one write
    });
}

// logind dropped the session: an end we started is confirmed at once (unless
// the hard step is under way: its own answer says how it ended).
void Enforcer::session_removed(const std::string& logind_id) {
    for (auto& [key, s] : state_.sessions) {
        if (s.logind_id != logind_id || !s.ending || s.end_checking) continue;
        const std::string k = key;
        finish_termination(k, s.end_how.empty() ? polite_how() : s.end_how, s.end_error, false);
        changed();
        return;
    }
}

// The sessions whose grace is over, as one batch: one liveness check for all,
// then the hard step for those still running (issue 18).
void Enforcer::escalate_due() {
    const std::int64_t mono = deps_.clock.monotonic_ms();
    std::vector<Session> due;
    std::map<std::string, std::uint64_t> tokens;
    for (auto& [key, s] : state_.sessions)
        if (s.ending && !s.end_checking && s.kill_deadline_ms <= mono) {
            s.end_checking = true;
            due.push_back(s);
            tokens[key] = s.end_token;
        }
    if (due.empty()) return;
    deps_.terminator.alive_all(due, staying_sessions(), false, [this, tokens](Terminator::Liveness alive) {
        std::vector<Session> left;
        for (const auto& [key, token] : tokens) {
            Session* s = ending_session(key, token);
            if (!s) continue;  // finished meanwhile (a close, logind's SessionRemoved)
            auto a = alive.find(key);
            if (a != alive.end() && !a->second)
                finish_termination(key, s->end_how.empty() ? polite_how() : s->end_how, s->end_error, false);
            else
                left.push_back(*s);
        }
        if (!left.empty())
            deps_.terminator.kill_all(left, staying_sessions(), [this, tokens](Terminator::Outcomes outs) {
                for (auto& [key, r] : outs) {
                    auto t = tokens.find(key);
                    Session* ending = t != tokens.end() ? ending_session(key, t->second) : nullptr;
                    if (!ending) continue;
                    std::string error = ending->end_error;
                    if (!r) error += (error.empty() ? "" : "; ") + r.error().message;
                    finish_termination(key, r ? r.value() : hard_how(), error, true);
                }
                changed();
            });
        changed();
    });
}

bool Enforcer::holds_grant_in_force(const std::string& user, UnixTime now) const {
    if (grants_.suspended) return false;
    for (const Grant& g : grants_.grants)
        if (g.user == user && g.active_at(now)) return true;
    return false;
}

// A user with no grant in force keeps nothing running: their sessions end
// (the plan), and so do their lingering and their user manager, which no
// session's end reaches (threat model gap 3). One call for all users due;
// those the session manager does not list have nothing to end.
void Enforcer::end_users_due(UnixTime now) {
    for (auto it = users_to_end_.begin(); it != users_to_end_.end();)
        it = holds_grant_in_force(*it, now) ? users_to_end_.erase(it) : std::next(it);
    for (auto it = user_kills_.begin(); it != user_kills_.end();)
        it = holds_grant_in_force(it->first, now) ? user_kills_.erase(it) : std::next(it);
    if (users_to_end_.empty() || users_ending_) return;
    if (users_retry_ms_ && deps_.clock.monotonic_ms() < *users_retry_ms_) return;
    users_retry_ms_.reset();
    const std::vector<std::string> users(users_to_end_.begin(), users_to_end_.end());
    users_ending_ = true;
    deps_.terminator.end_users(users, false, [this, users, live = live_](
                                                 Result<std::vector<Terminator::UserEnding>> r) {
        if (!*live) return;
        users_ending_ = false;
        if (!r) {
            // Asked again in a minute (the bus may be restarting); one alert per distinct error.
            users_retry_ms_ = deps_.clock.monotonic_ms() + 60'000;
            if (users_error_ != r.error().message) {
                users_error_ = r.error().message;
                Event e{EventType::SecurityAlert,
                        "cannot end what users whose grants ended left running outside a session: " +
                            r.error().message,
                        {}};
                e.add(F(field::kAlert), "user_end").add(F(field::kError), r.error().message)
                    .add(F(field::kCount), std::int64_t(users.size()));
                deps_.audit.emit(e);
            }
            return changed();
        }
        users_error_.clear();
        const UnixTime at = deps_.clock.now();
        for (const std::string& u : users)
            if (!holds_grant_in_force(u, at)) users_to_end_.erase(u);
        for (const Terminator::UserEnding& ended : *r) {
            if (holds_grant_in_force(ended.user, at)) continue;  // a new grant came meanwhile
            Event e{EventType::UserEnded,
                    "ended the lingering, user manager and leftover processes of " + ended.user + " (uid " +
                        std::to_string(ended.uid) + ", terminate-user)" +
                        (ended.note.empty() ? std::string() : "; " + ended.note) +
                        (ended.error.empty() ? std::string() : ": " + ended.error),
                    {}};
            e.add(F(field::kUser), ended.user).add(F(field::kUid), std::int64_t(ended.uid));
            e.add(F(field::kHow), "terminate-user").add(F(field::kStep), "polite");
            if (!ended.error.empty()) e.add(F(field::kError), ended.error);
            deps_.audit.emit(e);
            user_kills_[ended.user] = UserKill{ended.uid, deps_.clock.monotonic_ms() + options_.kill_grace_ms};
        }
        changed();  // the driver re-arms for the grace
    });
}

// The grace after the polite step is over: what the session manager still
// lists of those users is killed.
void Enforcer::escalate_users_due() {
    const std::int64_t mono = deps_.clock.monotonic_ms();
    std::vector<std::string> due;
    for (auto it = user_kills_.begin(); it != user_kills_.end();) {
        if (it->second.deadline_ms > mono) {
            ++it;
            continue;
        }
        due.push_back(it->first);
        it = user_kills_.erase(it);
    }
    if (due.empty()) return;
    deps_.terminator.end_users(due, true, [this, live = live_](Result<std::vector<Terminator::UserEnding>> r) {
        if (!*live) return;
        if (!r) {
            Event e{EventType::SecurityAlert,
                    "cannot kill what users whose grants ended left running outside a session: " + r.error().message,
                    {}};
            e.add(F(field::kAlert), "user_end").add(F(field::kError), r.error().message);
            deps_.audit.emit(e);
            return;
        }
        const UnixTime now = deps_.clock.now();
        for (const Terminator::UserEnding& killed : *r) {
            if (holds_grant_in_force(killed.user, now)) continue;
            Event e{EventType::UserEnded,
                    "killed what was left of " + killed.user + " (uid " + std::to_string(killed.uid) +
                        ") after the grace (kill-user)" +
                        (killed.error.empty() ? std::string() : ": " + killed.error),
                    {}};
            e.add(F(field::kUser), killed.user).add(F(field::kUid), std::int64_t(killed.uid));
            e.add(F(field::kHow), "kill-user").add(F(field::kStep), "hard");
            if (!killed.error.empty()) e.add(F(field::kError), killed.error);
            deps_.audit.emit(e);
        }
    });
}

void Enforcer::finish_termination(const std::string& key, const std::string& how, const std::string& error, bool hard,
                                  const std::string& note) {
    auto it = state_.sessions.find(key);
    if (it == state_.sessions.end()) return;
    const Session& s = it->second;
    Event e = session_event(EventType::SessionEnded, s,
                            "session " + (s.logind_id.empty() ? s.key : s.logind_id) + " of " + s.user + " ended (" +
                                s.end_reason + ", " + how + (note.empty() ? "" : "; " + note) + ")");
    e.add(F(field::kHow), how).add(F(field::kReason), s.end_reason);
    // Which step ended it: "polite" (TerminateSession / SIGTERM) or "hard" (SIGKILL after the grace).
    e.add(F(field::kStep), hard ? "hard" : "polite");
    if (!s.end_grant_id.empty()) {
        // The grant that ended, which may differ from the last binding.
        for (auto& [name, value] : e.fields)
            if (name == field::kGrantId) value = s.end_grant_id;
    }
    if (s.end_not_after) e.add(F(field::kNotAfter), s.end_not_after);
    if (!error.empty()) e.add(F(field::kError), error);
    deps_.audit.emit(e);
    state_.sessions.erase(it);
    dirty_ = true;
}

void Enforcer::warn(Session& s, const Action& a, UnixTime now) {
    const std::string host = options_.host_name.empty() ? std::string("this host") : options_.host_name;
    const std::string line =
        "jitlogin: access to " + host + " ends at " + format_when(a.end, now) + ", grant " + a.grant_id;
    WarnOutcome out = deps_.warner.warn(s, line);
    s.warned_end = a.end;
    s.warned_offset = a.offset;
    dirty_ = true;
    Event e = session_event(EventType::SessionWarned, s, line);
    for (auto& [name, value] : e.fields)
        if (name == field::kGrantId) value = a.grant_id;
    e.add(F(field::kNotAfter), a.end).add(F(field::kSecondsLeft), a.end - now);
    std::string written;
    for (const auto& t : out.written) written += (written.empty() ? "" : ",") + t;
    e.add(F(field::kTerminals), written.empty() ? std::string("none") : written);
    std::string failed;
    for (const auto& f : out.failed) failed += (failed.empty() ? "" : "; ") + f;
    if (!failed.empty()) e.add(F(field::kError), failed);
    deps_.audit.emit(e);
}

void Enforcer::sync_grant_states(UnixTime now) {
    std::set<std::string> present;
    for (const Grant& g : grants_.grants) {
        present.insert(g.id);
        auto it = state_.grants.find(g.id);
        if (it == state_.grants.end()) {
            // Never announced: pending, or (already over when first seen) ended without events.
            GrantPhase ph = (!grants_.suspended && g.active_at(now)) ? GrantPhase::Active
                            : now >= g.not_after                       ? GrantPhase::Ended
                                                                       : GrantPhase::Pending;
            state_.grants[g.id] = GrantState{ph, g.user, g.not_before, g.not_after};
            dirty_ = true;
            continue;
        }
        GrantState& st = it->second;
        if (st.not_before != g.not_before || st.not_after != g.not_after || st.user != g.user) {
            st.not_before = g.not_before;
            st.not_after = g.not_after;
            st.user = g.user;
            dirty_ = true;
        }
        // A grant that was Ended and is now in the future again (renewal/clock) is pending again.
        if (st.phase == GrantPhase::Ended && now < g.not_before) {
            st.phase = GrantPhase::Pending;
            dirty_ = true;
        }
    }
    for (auto it = state_.grants.begin(); it != state_.grants.end();) {
        if (!present.count(it->first) && it->second.phase == GrantPhase::Ended) {
            it = state_.grants.erase(it);
            dirty_ = true;
        } else {
            ++it;
        }
    }
}

void Enforcer::track_users(UnixTime now) {
    for (const Grant& g : grants_.grants) {
        if (g.not_before > now) continue;  // not started: says nothing yet
        const UnixTime held_until = std::min(g.not_after, now);
        UnixTime& last = state_.user_last_grant[g.user];
        if (held_until > last) {
            last = held_until;
            dirty_ = true;
        }
    }
}

void Enforcer::retention(UnixTime now) {
    if (!options_.retention.days || !have_bundle_) return;
    const std::int64_t keep = std::int64_t(*options_.retention.days) * 86400;
    std::vector<std::string> due, stop;
    for (const auto& [user, home] : state_.homes) {
        bool has_grant = false;
        for (const Grant& g : grants_.grants) has_grant = has_grant || g.user == user;
        bool has_session = false;
        for (const auto& [key, s] : state_.sessions) has_session = has_session || s.user == user;
        if (jobs_.count(user)) {
            if (has_grant || has_session) stop.push_back(user);  // back before the job finished
            continue;
        }
        auto last = state_.user_last_grant.find(user);
        if (has_grant || has_session || last == state_.user_last_grant.end()) continue;
        if (now - last->second >= keep) due.push_back(user);
    }
    for (const std::string& user : stop) stop_home_job(user);
    for (const std::string& user : due) start_home_job(user, now);
}

namespace {

// Only a file directly inside the archive directory is ever removed.
void remove_partial_archive(const std::string& archive_dir, const std::string& path) {
    if (path.empty() || path.rfind(archive_dir + "/", 0) != 0 ||
        path.find('/', archive_dir.size() + 1) != std::string::npos)
        return;
    ::unlink(path.c_str());
}

}  // namespace

void Enforcer::home_alert(const std::string& user, const CreatedHome& home, const std::string& error) {
    Event e{EventType::SecurityAlert, "home " + home.path + " of " + user + " left in place: " + error, {}};
    e.add(F(field::kUser), user).add(F(field::kUid), std::int64_t(home.uid)).add(F(field::kPath), home.path);
    if (!home.archive.empty()) e.add(F(field::kArchive), home.archive);
    e.add(F(field::kAlert), "home_retention").add(F(field::kError), error);
    deps_.audit.emit(e);
}

// Each attempt is on disk before its child starts: a daemon that stops (or
// dies) during a job retries at the next start, at most max_attempts times.
void Enforcer::start_home_job(const std::string& user, UnixTime now) {
    CreatedHome& home = state_.homes[user];
    const RetentionPolicy& policy = options_.retention;
    if (!home.partial_archive.empty()) {  // an attempt that did not finish
        remove_partial_archive(policy.archive_dir, home.partial_archive);
        home.partial_archive.clear();
        dirty_ = true;
    }
    std::string refused;
    if (home.attempts >= policy.max_attempts)
        refused = "retention given up after " + std::to_string(home.attempts) +
                  " attempts that did not finish (jit-helperd stopped during each)";
    else if (auto c = check_created_home(home); !c)
        refused = c.error().message;
    else if (!deps_.loop)
        refused = "no event loop to run the retention job";
    if (!refused.empty()) {
        // Refused because it is no longer the home we created, or given up: never retried.
        home_alert(user, home, refused);
        state_.homes.erase(user);
        dirty_ = true;
        return;
    }
    const bool archive = policy.action == RetentionPolicy::Action::Archive && home.archive.empty();
    ++home.attempts;
    if (archive) home.partial_archive = archive_path_for(policy.archive_dir, user, now);
    dirty_ = true;
    write_now();
    if (dirty_) {  // not recorded (the alert about the state file is out): try again later
        --home.attempts;
        home.partial_archive.clear();
        return;
    }
    auto pid = archive ? start_archive(home, policy.archive_dir, home.partial_archive, policy.max_archive_bytes)
                       : start_delete(home);
    if (!pid) return end_home_job(user, pid.error().message);
    watch_home_job(user, *pid);
}

void Enforcer::watch_home_job(const std::string& user, pid_t pid) {
    Loop::TimerId child = 0;
    try {
        child = deps_.loop->watch_child(pid, [this, user](int status) { home_job_done(user, status); });
    } catch (const std::exception& e) {
        ::kill(pid, SIGKILL);  // unwatched: stop it here and now
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        return end_home_job(user, std::string("cannot watch the retention job: ") + e.what());
    }
    HomeJob& job = jobs_[user];
    job.child = child;
    job.timeout = deps_.loop->call_after(std::chrono::milliseconds(options_.retention.job_timeout_ms), [this, user] {
        if (auto j = jobs_.find(user); j != jobs_.end()) {
            deps_.loop->cancel(j->second.child);  // kills it
            jobs_.erase(j);
        }
        end_home_job(user, "the retention job was still running after " +
                               std::to_string(options_.retention.job_timeout_ms / 1000) + " s and was killed");
    });
}

void Enforcer::home_job_done(const std::string& user, int wait_status) {
    if (auto j = jobs_.find(user); j != jobs_.end()) {
        deps_.loop->cancel(j->second.timeout);
        jobs_.erase(j);
    }
    auto it = state_.homes.find(user);
    if (it == state_.homes.end()) return;
    CreatedHome& home = it->second;
    const bool was_tar = !home.partial_archive.empty();
    if (auto failure = job_failure(was_tar ? "tar" : "rm", wait_status); !failure.empty())
        return end_home_job(user, failure);
    if (was_tar) {
        // The archive is complete: only the removal is left (also after a restart).
        home.archive = home.partial_archive;
        home.partial_archive.clear();
        dirty_ = true;
        write_now();  // the archive is recorded before the removal starts
        auto pid = start_delete(home);
        if (!pid) return end_home_job(user, pid.error().message);
        return watch_home_job(user, *pid);
    }
    end_home_job(user, "");
}

// The job is over: the event (archived, deleted, or an alert) and the record goes.
void Enforcer::end_home_job(const std::string& user, const std::string& error) {
    auto it = state_.homes.find(user);
    if (it == state_.homes.end()) return;
    CreatedHome home = it->second;
    remove_partial_archive(options_.retention.archive_dir, home.partial_archive);
    if (!error.empty()) {
        home.partial_archive.clear();
        home_alert(user, home, error);
    } else {
        const bool archived = !home.archive.empty();
        Event e{archived ? EventType::HomeArchived : EventType::HomeDeleted,
                archived ? "home " + home.path + " of " + user + " archived to " + home.archive
                         : "home " + home.path + " of " + user + " deleted",
                {}};
        e.add(F(field::kUser), user).add(F(field::kUid), std::int64_t(home.uid)).add(F(field::kPath), home.path);
        if (archived) e.add(F(field::kArchive), home.archive);
        deps_.audit.emit(e);
    }
    state_.homes.erase(it);
    dirty_ = true;
    save();
}

// The user is back (a grant or a session) before the job finished: stop it and
// keep the home; the record stays for a later retention.
void Enforcer::stop_home_job(const std::string& user) {
    auto j = jobs_.find(user);
    if (j == jobs_.end()) return;
    deps_.loop->cancel(j->second.child);
    deps_.loop->cancel(j->second.timeout);
    jobs_.erase(j);
    auto it = state_.homes.find(user);
    if (it == state_.homes.end()) return;
    CreatedHome& home = it->second;
    if (home.partial_archive.empty())  // rm had started: the user comes back to part of it
        home_alert(user, home, "removal stopped part-way: the user holds a grant or a session again" +
                                   (home.archive.empty() ? std::string() : " (the archive holds the whole home)"));
    remove_partial_archive(options_.retention.archive_dir, home.partial_archive);
    home.partial_archive.clear();
    home.archive.clear();
    home.attempts = 0;
    dirty_ = true;
}

// The table is written at most once per turn of the loop: a change marks it
// dirty and posts one write that runs after the work at hand, so a thousand
// sessions ended in one answer cost one write, not a thousand. Without a loop
// (tests, tools) it is written at once.
void Enforcer::save() {
    if (!deps_.loop) return write_now();
    if (!dirty_ || write_posted_) return;
    write_posted_ = true;
    deps_.loop->post([this, live = live_] {
        if (!*live) return;
        write_posted_ = false;
        write_now();
    });
}

void Enforcer::when_saved(std::function<void()> then) {
    if (!dirty_ && !write_posted_) return then();
    saved_waiters_.push_back(std::move(then));
    save();
}

void Enforcer::write_now() {
    if (dirty_) {
        auto r = save_state(options_.state_path, state_);
        ++table_writes_;
        if (!r) {
            if (save_error_ != r.error().message) {
                Event e{EventType::SecurityAlert, "cannot save the session table: " + r.error().message, {}};
                e.add(F(field::kAlert), "enforce_state").add(F(field::kError), r.error().message)
                    .add(F(field::kPath), options_.state_path);
                deps_.audit.emit(e);
            }
            save_error_ = r.error().message;
        } else {
            save_error_.clear();
            dirty_ = false;
        }
    }
    // Written (or the write failed, which the alert above says): as before
    // the coalescing, what waited for it goes on either way.
    auto waiters = std::move(saved_waiters_);
    saved_waiters_.clear();
    for (auto& w : waiters) w();
}

}  // namespace jit::enforce
