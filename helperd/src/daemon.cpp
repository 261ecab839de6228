// Daemon state: grants, durability, staleness, publishing, change timers.
// The socket operations are in ops.cpp.
#include <jit/helperd/daemon.hpp>
#include <jit/set_aside.hpp>

#include <algorithm>

namespace jit::helperd {

using audit::Event;
using audit::EventType;
namespace field = audit::field;

const char* to_string(ChangeCause cause) {
    switch (cause) {
    case ChangeCause::Startup: return "startup";
    case ChangeCause::BundleAccepted: return "bundle_accepted";
    case ChangeCause::TimeEdge: return "time_edge";
    case ChangeCause::StaleChanged: return "stale_changed";
    case ChangeCause::Reload: return "reload";
    }
    return "unknown";
}

ipc::Message error_reply(const std::string& code, const std::string& message) {
    return ipc::Message{{"status", "error"}, {"error", code}, {"message", message}};
}

namespace {

// The deny a decision without an account answer (TimedOut, Busy) stands for.
Decision unanswered_decision(LookupOutcome outcome, const std::string& user) {
    Decision d;
    d.verdict = Verdict::Deny;
    d.reason = outcome == LookupOutcome::Busy ? "nss_busy" : "nss_timeout";
    d.message = outcome == LookupOutcome::Busy
                    ? "jitlogin: too many account lookups (NSS) are waiting; " + user + " was not looked up"
                    : "jitlogin: the account database (NSS) did not answer in time for " + user;
    return d;
}

}  // namespace

ipc::Message unanswered_reply(LookupOutcome outcome, const std::string& what) {
    const Decision d = unanswered_decision(outcome, what);
    return error_reply(d.reason, d.message);
}

namespace {

HeldGrants held_grants_from(const GrantsPayload& p, UnixTime accepted_at) {
    HeldGrants s;
    s.have_bundle = true;
    s.revision = p.revision;
    s.issued_at = p.issued_at;
    s.expires_at = p.expires_at;
    s.accepted_at = accepted_at;
    s.received = p.grants;  // bounded into s.grants by Daemon::install
    s.revoked = p.revoked;
    return s;
}

Event event(EventType type, std::string message) {
    Event e{type, std::move(message), {}};
    return e;
}

}  // namespace

Daemon::Daemon(Config config, TrustedKeys keys, Deps deps)
    : config_(std::move(config)), keys_(std::move(keys)), deps_(deps), store_(config_.state_dir),
      request_owners_(config_.state_dir + "/requests") {
    deps_.authority.set_target(AuthorityTarget::from(config_.authority));
    SyncEngine::Hooks hooks;
    hooks.keys = [this]() -> const TrustedKeys& { return keys_; };
    hooks.context = [this] {
        AcceptContext ctx;
        ctx.host_id = config_.authority.host_id;
        ctx.last_revision = held_.have_bundle ? held_.revision : 0;
        ctx.last_payload = last_payload_;
        ctx.now = deps_.loop.now();
        ctx.clock_skew = config_.authority.clock_skew;
        return ctx;
    };
    hooks.accepted = [this](AcceptedBundle b, std::string bytes) { accept_bundle(std::move(b), std::move(bytes)); };
    hooks.rejected = [this](const Error& e, const std::string& bytes) { reject_bundle(e, bytes); };
    hooks.status_changed = [this](const SyncStatus&) {
        if (on_status_change) on_status_change();
    };
    hooks.tls_failed = [this](const std::string& error) {
        deps_.audit.emit(event(EventType::SecurityAlert, "the authority's TLS certificate did not verify (" + error +
                                                             "); nothing taken from it, revision " +
                                                             std::to_string(held_.revision) + " stays in force")
                             .add(std::string(field::kAlert), "authority_tls")
                             .add(std::string(field::kError), error)
                             .add(std::string(field::kRevision), held_.revision));
    };
    sync_ = std::make_unique<SyncEngine>(sync_settings(), deps_.authority, deps_.loop, std::move(hooks));
}

Daemon::~Daemon() {
    if (change_timer_) deps_.loop.cancel(change_timer_);
}

SyncSettings Daemon::sync_settings() const {
    SyncSettings s;
    s.poll_wait = config_.authority.poll_wait;
    s.backoff_min = config_.authority.backoff_min;
    s.backoff_max = config_.authority.backoff_max;
    s.clock_skew = config_.authority.clock_skew;
    return s;
}

void Daemon::add_publisher(std::unique_ptr<Publisher> publisher) { publishers_.push_back(std::move(publisher)); }
void Daemon::add_component(std::unique_ptr<Component> component) { components_.push_back(std::move(component)); }

Status Daemon::start() {
    started_at_ = deps_.loop.now();
    if (auto st = store_.prepare(); !st) return st;
    HeldGrants initial;
    auto stored = store_.load();
    if (!stored) {
        deps_.audit.emit(audit::set_aside(store_.file(), stored.error().message,
                                          "starting without stored grants: the next bundle from the authority "
                                          "restores them (until then JIT users are denied)",
                                          started_at_));
    } else if (stored->has_value()) {
        const StoredState& s = **stored;
        auto bundle = reverify_stored(s, keys_, config_.authority.host_id);
        if (!bundle) {
            deps_.audit.emit(event(EventType::SecurityAlert, "stored grants bundle refused (" + bundle.error().code + "): " +
                                                                 bundle.error().message)
                                 .add(std::string(field::kAlert), "state_refused")
                                 .add(std::string(field::kRule), bundle.error().code)
                                 .add(std::string(field::kPath), store_.file()));
        } else {
            initial = held_grants_from(bundle->payload, s.accepted_at);
            last_payload_ = bundle->envelope.payload;
        }
    }
    if (auto st = request_owners_.load(); !st)
        deps_.audit.emit(audit::set_aside(request_owners_.path(), st.error().message,
                                          "starting without the record of who relayed which access request: "
                                          "until they are asked again, only root may ask about earlier requests",
                                          started_at_));
    if (config_.authority.plain_http)
        deps_.audit.emit(event(EventType::SecurityAlert, "authority URL " + config_.authority.url +
                                                             " is plain http (loopback only): for development and tests")
                             .add(std::string(field::kAlert), "plain_http"));
    Event started = event(EventType::DaemonStarted,
                          "jit-helperd started for host " + config_.authority.host_id +
                              (initial.have_bundle ? ", serving stored revision " + std::to_string(initial.revision)
                                                   : ", no stored grants"));
    started.add(std::string(field::kPath), config_.path);
    if (initial.have_bundle) started.add(std::string(field::kRevision), initial.revision);
    deps_.audit.emit(started);
    install(std::move(initial), ChangeCause::Startup);
    sync_->start();
    return Ok{};
}

void Daemon::stop() {
    sync_->stop();
    if (change_timer_) deps_.loop.cancel(change_timer_);
    change_timer_ = 0;
    for (auto& c : components_) c->stopping();
    deps_.audit.emit(event(EventType::DaemonStopped, "jit-helperd stopping"));
}

void Daemon::reload(Config config, TrustedKeys keys) {
    const bool restart_sync = config.authority.url != config_.authority.url ||
                              config.authority.host_id != config_.authority.host_id ||
                              config.authority.poll_wait != config_.authority.poll_wait ||
                              config.authority.connect_timeout != config_.authority.connect_timeout ||
                              config.authority.backoff_min != config_.authority.backoff_min ||
                              config.authority.backoff_max != config_.authority.backoff_max ||
                              config.authority.clock_skew != config_.authority.clock_skew;
    // Keys read only at start (the socket, the state dir, the upload queue, the
    // publishers): the running value stays, and the event names each change.
    std::string restart_only;
    auto keep = [&restart_only](const char* key, auto& next, const auto& running) {
        if (next == running) return;
        restart_only += (restart_only.empty() ? "" : ", ") + std::string(key);
        next = running;
    };
    keep("socket.path", config.socket.path, config_.socket.path);
    keep("socket.mode", config.socket.mode, config_.socket.mode);
    keep("socket.group", config.socket.group, config_.socket.group);
    keep("socket.io_timeout_ms", config.socket.io_timeout_ms, config_.socket.io_timeout_ms);
    keep("socket.max_connections", config.socket.max_connections, config_.socket.max_connections);
    keep("socket.max_connections_per_user", config.socket.max_connections_per_user, config_.socket.max_connections_per_user);
    keep("state.dir", config.state_dir, config_.state_dir);
    keep("authority.upload_events", config.authority.upload_events, config_.authority.upload_events);
    keep("authority.upload_sync_ms", config.authority.upload_sync_ms, config_.authority.upload_sync_ms);
    keep("nss.db_path", config.nss.db_path, config_.nss.db_path);
    keep("nss.uid_min", config.nss.uid_min, config_.nss.uid_min);
    keep("nss.uid_max", config.nss.uid_max, config_.nss.uid_max);
    keep("nss.retention", config.nss.retention, config_.nss.retention);
    keep("nss.uid_quarantine", config.nss.uid_quarantine, config_.nss.uid_quarantine);
    keep("nss.home_base", config.nss.home_base, config_.nss.home_base);
    keep("nss.default_shell", config.nss.default_shell, config_.nss.default_shell);
    keep("ssh.users_group", config.ssh.users_group, config_.ssh.users_group);  // the NSS publisher's
    keep("recording.sessions", config.recording.sessions, config_.recording.sessions);  // the NSS publisher's
    keep("recording.shell", config.recording.shell, config_.recording.shell);
    keep("nss.nologin_shell", config.nss.nologin_shell, config_.nss.nologin_shell);
    keep("nss.create_home", config.nss.create_home, config_.nss.create_home);
    keep("nss.skel", config.nss.skel, config_.nss.skel);
    keep("sudo.dropin_path", config.sudoers_path, config_.sudoers_path);
    config_ = std::move(config);
    keys_ = std::move(keys);
    deps_.authority.set_target(AuthorityTarget::from(config_.authority));
    const std::string not_applied = restart_only.empty() ? "" : "not applied until a restart: " + restart_only;
    Event reloaded = event(EventType::ConfigReloaded, "configuration and trusted keys reloaded from " + config_.path +
                                                          (not_applied.empty() ? "" : "; " + not_applied));
    reloaded.add(std::string(field::kPath), config_.path).add(std::string(field::kCount), std::int64_t(keys_.size()));
    if (!not_applied.empty()) reloaded.add(std::string(field::kReason), not_applied);
    deps_.audit.emit(reloaded);
    for (auto& c : components_) c->config_reloaded(config_);
    if (restart_sync) sync_->restart(sync_settings());
    HeldGrants same = held_;
    install(std::move(same), ChangeCause::Reload);
}

void Daemon::accept_bundle(AcceptedBundle bundle, std::string envelope_bytes) {
    const UnixTime now = deps_.loop.now();
    const bool same = held_.have_bundle && bundle.payload.revision == held_.revision;
    if (same) return;  // identical bytes (verify_and_accept checked): nothing changes
    StoredState stored{bundle.payload.revision, now, envelope_bytes};
    if (auto st = store_.save(stored); !st)
        deps_.audit.emit(event(EventType::SecurityAlert, "could not store the accepted bundle (served from memory): " +
                                                             st.error().message)
                             .add(std::string(field::kAlert), "state_write_failed")
                             .add(std::string(field::kPath), store_.file()));
    Event e = event(EventType::BundleAccepted, "accepted grants bundle revision " + std::to_string(bundle.payload.revision) +
                                                   " with " + std::to_string(bundle.payload.grants.size()) + " grant(s)");
    e.add(std::string(field::kRevision), bundle.payload.revision)
        .add(std::string(field::kCount), std::int64_t(bundle.payload.grants.size()))
        .add(std::string(field::kKeyId), bundle.envelope.key_id)
        .add(std::string(field::kExpiresAt), bundle.payload.expires_at);
    deps_.audit.emit(e);
    last_payload_ = bundle.envelope.payload;
    install(held_grants_from(bundle.payload, now), ChangeCause::BundleAccepted);
}

void Daemon::reject_bundle(const Error& error, const std::string& envelope_bytes) {
    // Rule 3: a validly signed bundle older than (or forking) what we hold is
    // an authority restored from a backup, or a replay: worth an alert, once.
    if ((error.code == "revision" || error.code == "fork") && error.message != last_rollback_alert_) {
        last_rollback_alert_ = error.message;
        deps_.audit.emit(event(EventType::SecurityAlert, "the authority served a signed bundle older than the one in force (" +
                                                             error.code + "): " + error.message +
                                                             "; refused, revision " + std::to_string(held_.revision) +
                                                             " stays in force")
                             .add(std::string(field::kAlert), error.code == "fork" ? "fork" : "rollback")
                             .add(std::string(field::kRule), error.code)
                             .add(std::string(field::kRevision), held_.revision));
    }
    deps_.audit.emit(event(EventType::BundleRejected, "rejected grants bundle from the authority (" + error.code + "): " +
                                                          error.message + "; previous state stays in force")
                         .add(std::string(field::kRule), error.code)
                         .add(std::string(field::kError), error.message)
                         .add(std::string(field::kRevision), held_.revision)
                         .add(std::string(field::kCount), std::int64_t(envelope_bytes.size())));
}

void Daemon::install(HeldGrants next, ChangeCause cause) {
    const UnixTime now = deps_.loop.now();
    next.stale = next.stale_at(now);
    if (next.have_bundle && next.stale != (held_.have_bundle && held_.stale)) {
        if (next.stale)
            deps_.audit.emit(event(EventType::StaleBegin, "grants view is stale: revision " + std::to_string(next.revision) +
                                                              " expired and nothing newer was accepted (policy: " +
                                                              to_string(config_.policy.stale_policy) +
                                                              ")")
                                 .add(std::string(field::kRevision), next.revision)
                                 .add(std::string(field::kExpiresAt), next.expires_at));
        else
            deps_.audit.emit(event(EventType::StaleEnd, "grants view is current again (revision " +
                                                            std::to_string(next.revision) + ")")
                                 .add(std::string(field::kRevision), next.revision)
                                 .add(std::string(field::kExpiresAt), next.expires_at));
    }
    apply_host_limits(next);
    HeldGrants before = std::move(held_);
    held_ = std::move(next);
    publish_all();
    schedule_next_change();
    for (auto& c : components_) c->grants_changed(before, held_, cause);
    if (on_status_change) on_status_change();
}

void Daemon::apply_host_limits(HeldGrants& next) {
    BoundedGrants bounded = apply_limits(next.received, config_.policy.limits);
    next.grants = std::move(bounded.grants);
    next.refused = std::move(bounded.refused);
    next.limit_notes = std::move(bounded.notes);
    const auto& known = held_.limit_notes;
    for (const LimitNote& n : next.limit_notes) {
        if (std::find(known.begin(), known.end(), n) != known.end()) continue;
        const auto g = std::find_if(next.received.begin(), next.received.end(),
                                    [&n](const Grant& r) { return r.id == n.grant_id; });
        Event e = event(EventType::GrantLimited, "host limits " + std::string(to_string(n.action)) + " " + n.detail +
                                                     " of grant " + n.grant_id + " for " + n.user + " (" + n.rule + ")");
        if (g != next.received.end()) e.add(audit::grant_fields(*g));
        e.add(std::string(field::kRule), n.rule)
            .add(std::string(field::kAction), to_string(n.action))
            .add(std::string(field::kDetail), n.detail);
        deps_.audit.emit(e);
    }
}

void Daemon::refresh_time(ChangeCause cause) {
    HeldGrants same = held_;
    install(std::move(same), cause);
}

std::vector<Grant> Daemon::effective_grants() const {
    if (!held_.have_bundle) return {};
    if (grants_suspended(held_.stale, config_.policy)) return {};
    return held_.grants;
}

void Daemon::publish_all() {
    const UnixTime now = deps_.loop.now();
    const std::vector<Grant> grants = effective_grants();
    std::string errors;
    for (auto& p : publishers_) {
        auto st = p->publish(grants, now);
        if (!st) errors += std::string(p->name()) + ": " + st.error().message + "; ";
    }
    if (!errors.empty() && errors != last_publish_error_)
        deps_.audit.emit(event(EventType::SecurityAlert, "publishing grants failed: " + errors)
                             .add(std::string(field::kAlert), "publish_failed"));
    last_publish_error_ = errors;
}

void Daemon::schedule_next_change() {
    if (change_timer_) deps_.loop.cancel(change_timer_);
    change_timer_ = 0;
    const UnixTime now = deps_.loop.now();
    std::optional<UnixTime> next;
    auto consider = [&](UnixTime t) {
        if (t > now && (!next || t < *next)) next = t;
    };
    if (held_.have_bundle) {
        for (const auto& g : held_.grants) {
            consider(g.not_before);
            consider(g.not_after);
        }
        if (!held_.stale) consider(held_.expires_at + 1);  // stale once now > expires_at
    }
    const std::vector<Grant> grants = effective_grants();
    for (auto& p : publishers_)
        if (auto t = p->next_change(grants, now)) consider(*t);
    if (!next) return;
    change_timer_ = deps_.loop.call_at(*next, [this] {
        change_timer_ = 0;
        refresh_time(ChangeCause::TimeEdge);
    });
}

GrantView Daemon::view() const {
    GrantView v;
    v.have_bundle = held_.have_bundle;
    v.stale = held_.stale_at(deps_.loop.now());
    v.grants = &held_.grants;
    v.refused = &held_.refused;
    v.limit_notes = &held_.limit_notes;
    return v;
}

bool Daemon::never_managed_here(const std::string& user) const {
    if (user.empty() || user == "root") return true;
    const auto& bg = config_.policy.break_glass_users;
    return std::find(bg.begin(), bg.end(), user) != bg.end();
}

bool Daemon::managed_with(const std::string& user, const LocalAccount& acct, bool* unknown) {
    if (unknown) *unknown = false;
    if (acct.uid && *acct.uid == 0) return false;
    if (jit::is_managed(user, acct, view(), config_.policy)) return true;
    for (auto& p : publishers_)
        if (p->manages(user)) return true;
    // An NSS error is not "no such user": without the uid, or (with managed
    // groups) without every group, the rules above could not be applied.
    if (unknown && acct.lookup_failed && (!acct.uid || !config_.policy.managed_groups.empty())) *unknown = true;
    return false;
}

bool Daemon::is_managed(const std::string& user, LocalAccount* account, bool* unknown) {
    if (unknown) *unknown = false;
    if (never_managed_here(user)) return false;
    LocalAccount acct = deps_.accounts.lookup_now(user);
    if (account) *account = acct;
    return managed_with(user, acct, unknown);
}

Decision Daemon::decide_with(const AccessRequest& request, const LocalAccount* account, bool* managed_out) {
    bool unknown = false;
    const bool managed = account && managed_with(request.user, *account, &unknown);
    if (managed_out) *managed_out = managed || unknown;
    if (unknown) {
        // Fail closed, and say why: not "no grant", which would send a
        // directory user to request one.
        Decision d;
        d.verdict = Verdict::Deny;
        d.reason = "nss_error";
        d.message = "jitlogin: the account database (NSS) answered an error for " + request.user +
                    "; access is refused until it answers";
        return d;
    }
    return jit::decide(request, view(), config_.policy, managed);
}

void Daemon::decide_async(AccessRequest request, Decided next) {
    if (never_managed_here(request.user)) {
        bool managed = false;
        const Decision d = decide_with(request, nullptr, &managed);
        return next(LookupOutcome::Answered, d, managed, LocalAccount{});
    }
    deps_.accounts.lookup(request.user, while_alive([this, request, next = std::move(next)](
                                                        LookupOutcome outcome, const LocalAccount& account) mutable {
        if (outcome != LookupOutcome::Answered)
            return next(outcome, unanswered_decision(outcome, request.user), true, LocalAccount{});
        request.now = deps_.loop.now();  // the lookup may have taken a while
        bool managed = false;
        const Decision d = decide_with(request, &account, &managed);
        next(outcome, d, managed, account);
    }));
}

void Daemon::peer_name(uid_t uid, const std::function<void(ipc::Message)>& reply,
                       std::function<void(const std::optional<std::string>&)> next) {
    deps_.accounts.name_of(uid, later(reply, [uid, reply, next = std::move(next)](
                                                 LookupOutcome outcome, const std::optional<std::string>& name) {
        if (outcome != LookupOutcome::Answered) return reply(unanswered_reply(outcome, "uid " + std::to_string(uid)));
        next(name);
    }));
}

std::string Daemon::status_line() const {
    std::string s;
    if (!held_.have_bundle) s = "no grants bundle yet";
    else
        s = "revision " + std::to_string(held_.revision) + ", " + std::to_string(held_.grants.size()) + " grant(s)" +
            (held_.stale ? ", STALE" : "");
    const SyncStatus& st = sync_->status();
    if (!st.last_result.empty()) s += "; authority: " + st.last_result;
    return s;
}

}  // namespace jit::helperd
