#include <jit/helperd/publishers.hpp>

#include <jit/nss_user_db.hpp>
#include <jit/rights.hpp>

#include <jit/set_aside.hpp>

#include <chrono>
#include <memory>
#include <optional>
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

// The NSS publisher is shared by the Publisher adapter (snapshot) and the
// enforcement adapter (uid and path of a home made at the first session).
class NssAdapter final : public Publisher {
public:
    NssAdapter(std::shared_ptr<nss::UserDb> p, audit::Sink& audit) : p_(std::move(p)), alerts_(audit) {}
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
    std::shared_ptr<nss::UserDb> p_;
    AlertOnce alerts_;
};

// The sudoers drop-in. `visudo -cqf` checks each new file before it replaces
// the live one, in a child process the loop watches (never waited for: the
// loop keeps answering PAM meanwhile); a newer publish supersedes a check in
// flight (the old child is killed, its temp file dropped), and a check that
// has not answered within kVisudoTimeout is killed and reported.
class SudoersAdapter final : public Publisher {
public:
    static constexpr std::chrono::milliseconds kVisudoTimeout{30'000};

    SudoersAdapter(std::string path, std::string visudo, audit::Sink& audit, Loop& loop)
        : path_(std::move(path)), visudo_(std::move(visudo)), audit_(audit), alerts_(audit), loop_(loop) {}
    ~SudoersAdapter() override { abandon_check(); }
    const char* name() const override { return "sudoers"; }
    Status publish(const std::vector<Grant>& grants, UnixTime now) override {
        abandon_check();  // superseded by these grants
        rights::PublishOptions opt;
        opt.chown_root = geteuid() == 0;
        opt.visudo = visudo_;
        auto staged = rights::stage_sudoers(path_, grants, now, opt);
        if (!staged) return staged.error();
        // A rule or command left out narrows what the grant gives: the grant
        // holder's sudo fails, and the auditor must be able to see why.
        for (const std::string& problem : staged->report.problems)
            alerts_.emit(problem, Event{EventType::SecurityAlert, "sudoers drop-in " + path_ + ": " + problem, {}}
                                      .add(std::string(field::kAlert), "sudoers.rule_left_out")
                                      .add(std::string(field::kPath), path_));
        if (staged->tmp.empty()) return Ok{};
        if (!rights::uses_visudo(opt)) return rights::commit_sudoers(*staged);
        auto pid = rights::start_visudo(opt.visudo, staged->tmp, rights::visudo_output_path(*staged));
        if (!pid) {
            rights::discard_sudoers(*staged);
            return pid.error();
        }
        checking_ = std::move(*staged);
        const std::string visudo = opt.visudo;
        child_ = loop_.watch_child(*pid, [this, visudo](int status) {
            child_ = 0;
            loop_.cancel(timeout_);
            timeout_ = 0;
            finish(visudo, status);
        });
        timeout_ = loop_.call_after(kVisudoTimeout, [this] {
            timeout_ = 0;
            fail("sudoers.invalid", "visudo did not answer within " + std::to_string(kVisudoTimeout.count() / 1000) +
                                        " s; killed, the live file is unchanged");
            abandon_check();
        });
        return Ok{};
    }
    std::optional<UnixTime> next_change(const std::vector<Grant>&, UnixTime) override {
        return std::nullopt;  // window edges: the daemon's own timer covers them
    }

private:
    void finish(const std::string& visudo, int status) {
        if (!checking_) return;
        const rights::StagedSudoers staged = std::move(*checking_);
        checking_.reset();
        const std::string why = rights::visudo_verdict(visudo, status, rights::visudo_output_path(staged));
        if (!why.empty()) {
            rights::discard_sudoers(staged);
            return fail("sudoers.invalid", why);
        }
        if (auto st = rights::commit_sudoers(staged); !st) fail(st.error().code, st.error().message);
    }
    // The live file stays as it was; the operator is told (the trail and stderr).
    void fail(const std::string& code, const std::string& why) {
        audit_.emit(Event{EventType::SecurityAlert, "sudoers drop-in " + path_ + " not updated: " + why, {}}
                        .add(std::string(field::kAlert), "sudoers.not_updated")
                        .add(std::string(field::kPath), path_)
                        .add(std::string(field::kError), code + ": " + why));
    }
    void abandon_check() {
        if (child_) loop_.cancel(child_);  // kills and reaps the child
        if (timeout_) loop_.cancel(timeout_);
        child_ = timeout_ = 0;
        if (checking_) rights::discard_sudoers(*checking_);
        checking_.reset();
    }

    std::string path_;
    std::string visudo_;
    audit::Sink& audit_;
    AlertOnce alerts_;
    Loop& loop_;
    std::optional<rights::StagedSudoers> checking_;
    Loop::TimerId child_ = 0;
    Loop::TimerId timeout_ = 0;
};

}  // namespace

Result<std::shared_ptr<nss::UserDb>> add_standard_publishers(Daemon& daemon, const std::string& visudo) {
    const Config& c = daemon.config();
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
    auto p = nss::UserDb::open(pol);
    if (!p && p.error().code == "nss.state") {
        daemon.audit().emit(audit::set_aside(nss::uid_state_path(pol), p.error().message,
                                             "uid allocations rebuilt from the published NSS snapshot " + pol.db_path +
                                                 " (users in it keep their uids; others get new ones)",
                                             daemon.loop().now()));
        p = nss::UserDb::open(pol);
    }
    if (!p) return make_error("nss", "NSS publisher: " + p.error().message);
    auto shared = std::make_shared<nss::UserDb>(std::move(*p));
    daemon.add_publisher(std::make_unique<NssAdapter>(shared, daemon.audit()));
    if (!c.sudoers_path.empty()) daemon.add_publisher(std::make_unique<SudoersAdapter>(c.sudoers_path, visudo, daemon.audit(), daemon.loop()));
    return shared;
}

}  // namespace jit::helperd
