#include <jit/helperd/publishers.hpp>

#ifdef JIT_HAVE_NSS_PUBLISHER
#include <jit/nss_publisher.hpp>
#endif
#ifdef JIT_HAVE_RIGHTS
#include <jit/rights.hpp>
#endif

#include <jit/set_aside.hpp>

#include <memory>
#include <set>
#include <unistd.h>

namespace jit::helperd {
namespace {

using audit::Event;
using audit::EventType;
namespace field = audit::field;

// A publisher's complaints about the grants (a user name that clashes, a
// sudo command that cannot be granted...) are security alerts, each told once
// per daemon run: they come back at every publish until the grant changes.
class AlertOnce {
public:
    explicit AlertOnce(audit::Sink& audit) : audit_(audit) {}
    void emit(const std::string& key, const Event& event) {
        if (seen_.insert(key).second) audit_.emit(event);
    }

private:
    audit::Sink& audit_;
    std::set<std::string> seen_;
};

#ifdef JIT_HAVE_NSS_PUBLISHER
// The NSS publisher is shared by the Publisher adapter (snapshot) and the
// Component adapter (home directory at the first session).
class NssAdapter final : public Publisher {
public:
    NssAdapter(std::shared_ptr<nss::Publisher> p, audit::Sink& audit) : p_(std::move(p)), alerts_(audit) {}
    const char* name() const override { return "nss"; }
    Status publish(const std::vector<Grant>& grants, UnixTime now) override {
        auto st = p_->publish(grants, now);
        for (const auto& w : p_->warnings())
            alerts_.emit(w.code + "|" + w.user + "|" + w.message,
                         Event{EventType::SecurityAlert, "NSS snapshot: " + w.message, {}}
                             .add(std::string(field::kAlert), "nss." + w.code)
                             .add(std::string(field::kUser), w.user));
        return st;
    }
    std::optional<UnixTime> next_change(const std::vector<Grant>& grants, UnixTime now) override {
        UnixTime t = p_->next_change(grants, now);
        if (t <= 0) return std::nullopt;
        return t;
    }
    bool manages(const std::string& user) override { return p_->manages(user); }

private:
    std::shared_ptr<nss::Publisher> p_;
    AlertOnce alerts_;
};

class HomeCreator final : public Component {
public:
    HomeCreator(std::shared_ptr<nss::Publisher> p, audit::Sink& audit) : p_(std::move(p)), audit_(audit) {}
    void session_opened(std::uint64_t, const SessionInfo& s) override {
        if (!p_->uid_of(s.user)) return;
        auto r = nss::create_home(*p_, s.user);
        if (!r) {
            audit_.emit(Event{EventType::SecurityAlert, "could not create the home of " + s.user + ": " + r.error().message, {}}
                            .add(std::string(field::kAlert), "home.create_failed")
                            .add(std::string(field::kUser), s.user)
                            .add(std::string(field::kPath), p_->home_of(s.user)));
        } else if (*r) {
            audit_.emit(Event{EventType::HomeCreated, "created home " + p_->home_of(s.user) + " for " + s.user, {}}
                            .add(std::string(field::kUser), s.user)
                            .add(std::string(field::kUid), std::int64_t(*p_->uid_of(s.user)))
                            .add(std::string(field::kPath), p_->home_of(s.user)));
        }
    }

private:
    std::shared_ptr<nss::Publisher> p_;
    audit::Sink& audit_;
};
#endif

#ifdef JIT_HAVE_RIGHTS
class SudoersAdapter final : public Publisher {
public:
    SudoersAdapter(std::string path, audit::Sink& audit) : path_(std::move(path)), alerts_(audit) {}
    const char* name() const override { return "sudoers"; }
    Status publish(const std::vector<Grant>& grants, UnixTime now) override {
        rights::PublishOptions opt;
        opt.chown_root = geteuid() == 0;
        auto r = rights::publish_sudoers(path_, grants, now, opt);
        if (!r) return r.error();
        // A rule or command left out narrows what the grant gives: the grant
        // holder's sudo fails, and the auditor must be able to see why.
        for (const std::string& problem : r->problems)
            alerts_.emit(problem, Event{EventType::SecurityAlert, "sudoers drop-in " + path_ + ": " + problem, {}}
                                      .add(std::string(field::kAlert), "sudoers.rule_left_out")
                                      .add(std::string(field::kPath), path_));
        return Ok{};
    }
    std::optional<UnixTime> next_change(const std::vector<Grant>&, UnixTime) override {
        return std::nullopt;  // window edges: the daemon's own timer covers them
    }

private:
    std::string path_;
    AlertOnce alerts_;
};
#endif

}  // namespace

Status add_standard_publishers(Daemon& daemon) {
    const Config& c = daemon.config();
#ifdef JIT_HAVE_NSS_PUBLISHER
    nss::NssPolicy pol;
    pol.db_path = c.nss.db_path;
    pol.state_dir = c.state_dir;
    pol.uid_min = c.nss.uid_min;
    pol.uid_max = c.nss.uid_max;
    pol.retention_seconds = c.nss.retention;
    pol.uid_quarantine_seconds = c.nss.uid_quarantine;
    pol.home_base = c.nss.home_base;
    pol.default_shell = c.nss.default_shell;
    pol.nologin_shell = c.nss.nologin_shell;
    pol.member_group = c.ssh.users_group;
    if (c.recording.sessions) {
        // Published all the same: a recorded user's session must not start
        // unrecorded (sshd refuses a shell it cannot run). Said loudly at start.
        pol.recording_shell = c.recording.shell;
        if (::access(c.recording.shell.c_str(), X_OK) != 0)
            daemon.audit().emit(Event{EventType::SecurityAlert,
                                      "recording.sessions is on but recording.shell " + c.recording.shell +
                                          " cannot be run: JIT users cannot log in until it is installed "
                                          "(jitlogin's jit-rec-session, and tlog's tlog-rec-session)",
                                      {}}
                                    .add(std::string(field::kAlert), "recording.shell_missing")
                                    .add(std::string(field::kPath), c.recording.shell));
    }
    auto p = nss::Publisher::open(pol);
    if (!p && p.error().code == "nss.state") {
        daemon.audit().emit(audit::set_aside(nss::uid_state_path(pol), p.error().message,
                                             "uid allocations rebuilt from the published NSS snapshot " + pol.db_path +
                                                 " (users in it keep their uids; others get new ones)",
                                             daemon.loop().now()));
        p = nss::Publisher::open(pol);
    }
    if (!p) return make_error("nss", "NSS publisher: " + p.error().message);
    auto shared = std::make_shared<nss::Publisher>(std::move(*p));
    daemon.add_publisher(std::make_unique<NssAdapter>(shared, daemon.audit()));
    if (c.nss.create_home) daemon.add_component(std::make_unique<HomeCreator>(shared, daemon.audit()));
#endif
#ifdef JIT_HAVE_RIGHTS
    if (!c.sudoers_path.empty()) daemon.add_publisher(std::make_unique<SudoersAdapter>(c.sudoers_path, daemon.audit()));
#endif
    (void)c;
    return Ok{};
}

}  // namespace jit::helperd
