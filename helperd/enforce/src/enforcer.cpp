// The enforcement core (see enforcer.hpp, docs/enforcement.md).
#include <jit/enforce/enforcer.hpp>

#include <jit/decision.hpp>

#include <systemd/sd-bus.h>

#include <algorithm>
#include <set>

namespace jit::enforce {
namespace {

using audit::Event;
using audit::EventType;
namespace field = audit::field;

std::string F(std::string_view v) { return std::string(v); }

}  // namespace

// ---- probers ---------------------------------------------------------------

bool ProcSessionProber::alive(const Session& s) {
    if (s.pid <= 1 || s.pid_start == 0) return false;
    auto start = process_start_time(s.pid, proc_root_);
    return start && *start == s.pid_start;
}

LogindSessionProber::LogindSessionProber(sd_bus* bus, std::string proc_root)
    : bus_(sd_bus_ref(bus)), proc_(std::move(proc_root)) {}

LogindSessionProber::~LogindSessionProber() { sd_bus_unref(bus_); }

void LogindSessionProber::refresh() {
    if (listed_) return;
    auto r = logind_list_sessions(bus_);
    if (r) sessions_ = std::move(r.value());
    listed_ = r.ok();
}

bool LogindSessionProber::alive(const Session& s) {
    // The registered process (sshd's per-connection process, su, login) lives
    // exactly as long as the session; logind is asked only when it is unknown.
    if (s.logind_id.empty() || s.pid_start != 0) return proc_.alive(s);
    listed_ = false;
    refresh();
    if (!listed_) return true;  // cannot tell: keep it (it is re-checked when it is ended)
    for (const auto& l : sessions_)
        if (l.id == s.logind_id) return true;
    return false;
}

std::vector<Session> LogindSessionProber::discover() {
    refresh();
    std::vector<Session> out;
    for (const auto& l : sessions_) {
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
    return out;
}

// ---- Enforcer --------------------------------------------------------------

Enforcer::Enforcer(EnforcerOptions options, Deps deps) : options_(std::move(options)), deps_(deps) {}

void Enforcer::set_options(EnforcerOptions options) {
    options.state_path = options_.state_path;  // the state file does not move at runtime
    options_ = std::move(options);
    evaluate();
}

Status Enforcer::start(const std::function<bool(const std::string&)>& managed) {
    auto loaded = load_state(options_.state_path);
    if (!loaded) return loaded.error();
    state_ = std::move(loaded.value());
    if (deps_.prober) {
        drop_gone(/*skip_ending=*/false, "gone_at_start", " ended while jit-helperd was not running");
        for (Session& s : deps_.prober->discover()) {
            if (state_.sessions.count(s.key) || !managed || !managed(s.user)) continue;
            Event e = session_event(EventType::SessionOpened, s,
                                    "live logind session " + s.logind_id + " of " + s.user + " adopted at start");
            e.add(F(field::kReason), "adopted_at_start");
            deps_.audit.emit(e);
            state_.sessions[s.key] = s;  // bound at the next evaluation (rebind or terminate)
            dirty_ = true;
        }
    }
    save();
    return Ok{};
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
    if (have_bundle_)
        if (const Grant* g = binding_grant(grants_.grants, s.user, s.opened_at, grants_.suspended)) s.grant_id = g->id;
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
        // SIGTERM): done if nothing of it runs any more, else the hard step
        // still comes at the deadline.
        if (!deps_.terminator.alive(it->second, staying_sessions())) {
            auto soft = soft_[key];
            finish_termination(key, soft.first, soft.second, false);
        }
    } else {
        state_.sessions.erase(it);
        dirty_ = true;
    }
    save();
    if (on_schedule_change) on_schedule_change();
}

void Enforcer::note_home_created(const std::string& user, const CreatedHome& home) {
    state_.homes[user] = home;
    dirty_ = true;
    save();
}

std::optional<std::int64_t> Enforcer::next_grace_ms() const {
    std::optional<std::int64_t> out;
    for (const auto& [key, s] : state_.sessions)
        if (s.ending && (!out || s.kill_deadline_ms < *out)) out = s.kill_deadline_ms;
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
    drop_gone(/*skip_ending=*/true, "gone", " is gone (no close was received)");
}

// Forgets sessions whose processes are gone, each with a session.closed event.
void Enforcer::drop_gone(bool skip_ending, const char* reason, const char* what) {
    for (auto it = state_.sessions.begin(); it != state_.sessions.end();) {
        if ((skip_ending && it->second.ending) || deps_.prober->alive(it->second)) {
            ++it;
            continue;
        }
        Event e = session_event(EventType::SessionClosed, it->second, "session of " + it->second.user + what);
        e.add(F(field::kReason), reason);
        deps_.audit.emit(e);
        it = state_.sessions.erase(it);
        dirty_ = true;
    }
}

void Enforcer::evaluate() {
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
        for (const Action& a : p.actions) apply(a, now);
        sync_grant_states(now);
        track_users(now);
    }
    escalate_due();
    retention(now);
    next_wakeup_ = p.next_wakeup;
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

void Enforcer::apply(const Action& a, UnixTime now) {
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
        begin_termination(it->second, a);
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

void Enforcer::begin_termination(Session& s, const Action& a) {
    s.ending = true;
    s.end_reason = to_string(a.cause);
    s.end_grant_id = a.grant_id;
    s.end_not_after = a.end;
    s.kill_deadline_ms = deps_.clock.monotonic_ms() + options_.kill_grace_ms;
    auto r = deps_.terminator.terminate(s, staying_sessions());
    soft_[s.key] = r ? std::make_pair(r.value(), std::string())
                     : std::make_pair(std::string(deps_.terminator.name()) == "logind" ? "terminate-session" : "fallback-kill",
                                      r.error().message);
    dirty_ = true;
}

void Enforcer::escalate_due() {
    const std::int64_t mono = deps_.clock.monotonic_ms();
    std::vector<std::string> due;
    for (const auto& [key, s] : state_.sessions)
        if (s.ending && s.kill_deadline_ms <= mono) due.push_back(key);
    for (const std::string& key : due) {
        Session s = state_.sessions[key];
        const auto staying = staying_sessions();
        auto soft = soft_[key];
        if (!deps_.terminator.alive(s, staying)) {
            finish_termination(key, soft.first, soft.second, false);
            continue;
        }
        auto r = deps_.terminator.kill(s, staying);
        std::string error = soft.second;
        if (!r) error += (error.empty() ? "" : "; ") + r.error().message;
        finish_termination(key, r ? r.value() : std::string(deps_.terminator.name()) == "logind" ? "kill-session" : "fallback-kill",
                           error, true);
    }
}

void Enforcer::finish_termination(const std::string& key, const std::string& how, const std::string& error, bool hard) {
    auto it = state_.sessions.find(key);
    if (it == state_.sessions.end()) return;
    const Session& s = it->second;
    Event e = session_event(EventType::SessionEnded, s,
                            "session " + (s.logind_id.empty() ? s.key : s.logind_id) + " of " + s.user + " ended (" +
                                s.end_reason + ", " + how + ")");
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
    soft_.erase(key);
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
    std::vector<std::string> due;
    for (const auto& [user, home] : state_.homes) {
        bool has_grant = false;
        for (const Grant& g : grants_.grants) has_grant = has_grant || g.user == user;
        bool has_session = false;
        for (const auto& [key, s] : state_.sessions) has_session = has_session || s.user == user;
        auto last = state_.user_last_grant.find(user);
        if (has_grant || has_session || last == state_.user_last_grant.end()) continue;
        if (now - last->second >= keep) due.push_back(user);
    }
    for (const std::string& user : due) {
        const CreatedHome home = state_.homes[user];
        const bool archive = options_.retention.action == RetentionPolicy::Action::Archive;
        std::string error, archive_path;
        if (archive) {
            auto r = archive_home(user, home, options_.retention.archive_dir, now);
            if (r)
                archive_path = r.value();
            else
                error = r.error().message;
        } else if (auto r = delete_home(home); !r) {
            error = r.error().message;
        }
        Event e{error.empty() ? (archive ? EventType::HomeArchived : EventType::HomeDeleted) : EventType::SecurityAlert,
                error.empty() ? (archive ? "home " + home.path + " of " + user + " archived to " + archive_path
                                         : "home " + home.path + " of " + user + " deleted")
                              : "home " + home.path + " of " + user + " left in place: " + error,
                {}};
        e.add(F(field::kUser), user).add(F(field::kUid), std::int64_t(home.uid)).add(F(field::kPath), home.path);
        if (!archive_path.empty()) e.add(F(field::kArchive), archive_path);
        if (!error.empty()) e.add(F(field::kAlert), "home_retention").add(F(field::kError), error);
        deps_.audit.emit(e);
        // Done, or refused because it is no longer the home we created: never retried.
        state_.homes.erase(user);
        dirty_ = true;
    }
}

void Enforcer::save() {
    if (!dirty_) return;
    auto r = save_state(options_.state_path, state_);
    if (!r) {
        if (save_error_ != r.error().message) {
            Event e{EventType::SecurityAlert, "cannot save the session table: " + r.error().message, {}};
            e.add(F(field::kAlert), "enforce_state").add(F(field::kError), r.error().message)
                .add(F(field::kPath), options_.state_path);
            deps_.audit.emit(e);
        }
        save_error_ = r.error().message;
        return;
    }
    save_error_.clear();
    dirty_ = false;
}

}  // namespace jit::enforce
