// Daemon logic: decisions over the socket ops, durability across restarts,
// time edges, staleness, rejected bundles, peer checks, request relay.
#include <jit/helperd/daemon.hpp>
#include <jit/helperd/publishers.hpp>

#include <gtest/gtest.h>

#include <json/json.h>

#include <fstream>

#include "test_util.hpp"

using namespace jit::helperd;
using jit::audit::EventType;
using jit::test::FakeAccounts;
using jit::test::FakeTransport;
using jit::test::Signer;
using jit::test::TempDir;
using jit::test::TestGrant;

namespace {

constexpr jit::UnixTime kStart = 1764250000;

struct RecordingComponent final : Component {
    struct Change {
        ChangeCause cause;
        std::size_t grants;
        bool stale;
    };
    std::vector<Change>* changes;
    void grants_changed(const HeldGrants&, const HeldGrants& now, ChangeCause cause) override {
        changes->push_back({cause, now.grants.size(), now.stale});
    }
};

// Records what the daemon hands its publishers (the NSS snapshot and the
// sudoers drop-in get exactly this).
struct RecordingPublisher final : Publisher {
    std::vector<jit::Grant>* last;
    const char* name() const override { return "recording"; }
    jit::Status publish(const std::vector<jit::Grant>& grants, jit::UnixTime) override {
        *last = grants;
        return jit::Ok{};
    }
    std::optional<jit::UnixTime> next_change(const std::vector<jit::Grant>&, jit::UnixTime) override {
        return std::nullopt;
    }
};

class DaemonTest : public ::testing::Test {
protected:
    DaemonTest() : loop_(kStart) {
        config_ = jit::test::daemon_config(dir_.path());
        jit::test::add_daemon_accounts(accounts_);
    }

    void make_daemon(std::unique_ptr<Publisher> publisher = nullptr) {
        daemon_.reset();
        daemon_ = std::make_unique<Daemon>(config_, signer_.keys(),
                                           Daemon::Deps{loop_, authority_, sink_, lookups_});
        if (publisher) daemon_->add_publisher(std::move(publisher));
        auto c = std::make_unique<RecordingComponent>();
        c->changes = &changes_;
        daemon_->add_component(std::move(c));
        daemon_->set_session_table(sessions_);
        ASSERT_TRUE(daemon_->start().ok());
    }

    std::string bundle(std::int64_t revision, std::vector<TestGrant> grants, jit::UnixTime expires_in = 900) {
        return signer_.envelope(jit::test::payload_json("web-01", revision, loop_.now(), loop_.now() + expires_in, grants));
    }
    // Answers the daemon's current long poll.
    void serve(const std::string& envelope) {
        loop_.advance(std::chrono::milliseconds(0));
        ASSERT_FALSE(transport_.pending.empty());
        ASSERT_NE(transport_.pending.front().request.url.find("/grants?"), std::string::npos);
        transport_.answer(200, envelope);
    }
    jit::ipc::Message call(jit::ipc::Message req, Peer peer = Peer{0, 0, 4242}) {
        jit::ipc::Message out;
        bool answered = false;
        daemon_->handle(req, peer, [&](jit::ipc::Message m) {
            out = std::move(m);
            answered = true;
        });
        EXPECT_TRUE(answered);
        return out;
    }
    // op=request_status for `id`: the error code of a refusal, or "relayed"
    // when it went to the authority (answered later).
    std::string request_status(const std::string& id, const Peer& peer) {
        std::string out = "relayed";
        daemon_->handle({{"op", "request_status"}, {"id", id}}, peer,
                        [&](jit::ipc::Message m) { out = m["status"] == "error" ? m["error"] : "answered"; });
        return out;
    }
    jit::ipc::Message check(const std::string& user, const std::string& service = "sshd", Peer peer = Peer{0, 0, 4242}) {
        return call({{"op", "check"}, {"user", user}, {"service", service}, {"rhost", "10.0.0.9"}}, peer);
    }

    TempDir dir_;
    Signer signer_;
    ManualLoop loop_;
    FakeTransport transport_;
    AuthorityClient authority_{transport_};
    jit::audit::RecordingSink sink_;
    FakeAccounts accounts_;
    jit::helperd::InlineLookups lookups_{accounts_};
    Config config_;
    std::unique_ptr<Daemon> daemon_;
    std::vector<RecordingComponent::Change> changes_;
    jit::test::MemorySessions sessions_;
};

}  // namespace

TEST_F(DaemonTest, NoBundleDeniesManagedAndIgnoresOthers) {
    make_daemon();
    EXPECT_EQ(sink_.count(EventType::DaemonStarted), 1u);
    auto c = check("carol");
    EXPECT_EQ(c["status"], "ok");
    EXPECT_EQ(c["decision"], "deny");
    EXPECT_EQ(c["reason"], "no_bundle");
    EXPECT_EQ(check("dave")["decision"], "ignore");
    EXPECT_EQ(check("root")["decision"], "ignore");
    EXPECT_EQ(sink_.count(EventType::LoginDenied), 1u);  // only the managed user is audited
}

TEST_F(DaemonTest, AcceptedBundleAllowsInsideTheWindowAndAudits) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, true, kStart - 60, kStart + 3600}}));
    EXPECT_EQ(sink_.count(EventType::BundleAccepted), 1u);
    EXPECT_EQ(sink_.last(EventType::BundleAccepted)->field("JIT_EXPIRES_AT"), std::to_string(kStart + 900));
    EXPECT_TRUE(sink_.last(EventType::BundleAccepted)->field("JIT_KEY_ID").has_value());
    auto c = check("alice");
    EXPECT_EQ(c["decision"], "allow");
    EXPECT_EQ(c["reason"], "active_grant");
    EXPECT_EQ(c["grant_id"], "g-1");
    EXPECT_EQ(c["not_after"], std::to_string(kStart + 3600));
    const auto* ev = sink_.last(EventType::LoginAllowed);
    ASSERT_NE(ev, nullptr);
    EXPECT_EQ(ev->field("JIT_USER"), "alice");
    EXPECT_EQ(ev->field("JIT_GRANT_ID"), "g-1");
    EXPECT_EQ(ev->field("JIT_RHOST"), "10.0.0.9");
    EXPECT_EQ(ev->field("JIT_SERVICE"), "sshd");
    EXPECT_EQ(ev->field("JIT_UID"), "1000");  // no uid in the grant: the local account's
    EXPECT_EQ(check("alice", "sudo")["decision"], "allow");
    EXPECT_EQ(sink_.count(EventType::SudoAllowed), 1u);
    // explain: same answer, no audit.
    const std::size_t events = sink_.events.size();
    auto e = call({{"op", "explain"}, {"user", "alice"}, {"service", "sshd"}});
    EXPECT_EQ(e["decision"], "allow");
    EXPECT_EQ(e["message"], c["message"]);
    EXPECT_EQ(sink_.events.size(), events);
    // kind overrides the classification.
    EXPECT_EQ(call({{"op", "explain"}, {"user", "alice"}, {"service", "cron"}, {"kind", "su"}})["kind"], "su");
    EXPECT_EQ(call({{"op", "explain"}, {"user", "alice"}, {"kind", "bogus"}})["error"], "bad_request");
}

TEST_F(DaemonTest, WindowEdgeTimerFiresAndDecisionFollowsTime) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, false, kStart + 60, kStart + 120}}, 3600));
    EXPECT_EQ(check("alice")["reason"], "not_yet");
    changes_.clear();
    loop_.advance(std::chrono::seconds(60));
    ASSERT_FALSE(changes_.empty());
    EXPECT_EQ(changes_.back().cause, ChangeCause::TimeEdge);
    EXPECT_EQ(check("alice")["decision"], "allow");
    changes_.clear();
    loop_.advance(std::chrono::seconds(60));
    ASSERT_FALSE(changes_.empty());
    EXPECT_EQ(changes_.back().cause, ChangeCause::TimeEdge);
    auto c = check("alice");
    EXPECT_EQ(c["decision"], "deny");
    EXPECT_EQ(c["reason"], "window_ended");
}

// HeldGrants::stale_at: what install(), the decision view, op=status
// and op=grants all use; nothing is stale without a bundle.
TEST(HeldGrantsStale, FollowsExpiresAtOnlyWithABundle) {
    HeldGrants s;
    s.expires_at = 200;
    EXPECT_FALSE(s.stale_at(201));
    s.have_bundle = true;
    EXPECT_FALSE(s.stale_at(200));
    EXPECT_TRUE(s.stale_at(201));
}

TEST_F(DaemonTest, StaleBeginAndEndAreLoggedOnceAndSuspendDenies) {
    config_.policy.stale_policy = jit::HostPolicy::StalePolicy::Suspend;
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 7200}}, 600));
    EXPECT_EQ(check("alice")["decision"], "allow");
    // The authority stays silent (the long poll never answers) past expires_at.
    loop_.advance(std::chrono::seconds(601));
    EXPECT_EQ(sink_.count(EventType::StaleBegin), 1u);
    EXPECT_EQ(sink_.last(EventType::StaleBegin)->field("JIT_EXPIRES_AT"), std::to_string(kStart + 600));
    auto c = check("alice");
    EXPECT_EQ(c["decision"], "deny");
    EXPECT_EQ(c["reason"], "stale");
    Json::Value st;
    ASSERT_TRUE(Json::Reader().parse(call({{"op", "status"}})["json"], st));
    EXPECT_TRUE(st["stale"].asBool());
    loop_.advance(std::chrono::seconds(60));
    EXPECT_EQ(sink_.count(EventType::StaleBegin), 1u);
    // A fresh bundle ends staleness.
    transport_.answer(200, bundle(2, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 7200}}, 600));
    EXPECT_EQ(sink_.count(EventType::StaleEnd), 1u);
    EXPECT_EQ(sink_.last(EventType::StaleEnd)->field("JIT_EXPIRES_AT"), std::to_string(kStart + 661 + 600));
    EXPECT_EQ(check("alice")["decision"], "allow");
}

TEST_F(DaemonTest, RejectedBundleKeepsStateAndLogsTheRule) {
    make_daemon();
    serve(bundle(3, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}}));
    Signer mallory;
    loop_.advance(std::chrono::milliseconds(0));
    transport_.answer(200, mallory.envelope(jit::test::payload_json("web-01", 4, kStart, kStart + 900, {})));
    const auto* ev = sink_.last(EventType::BundleRejected);
    ASSERT_NE(ev, nullptr);
    EXPECT_EQ(ev->field("JIT_RULE"), "signature");
    EXPECT_EQ(daemon_->grants().revision, 3);
    EXPECT_EQ(check("alice")["decision"], "allow");
}

// Issue 18: an authority restored from a backup serves a validly signed but
// older revision. Refused by rule 3, the grants in force stay, and a
// security.alert says so once (not once per poll).
TEST_F(DaemonTest, OldRevisionAfterAnAuthorityRestoreIsRefusedWithOneAlert) {
    make_daemon();
    const std::string old = bundle(3, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}});
    serve(old);
    serve(bundle(4, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600},
                     TestGrant{"g-2", "bob", true, false, kStart, kStart + 3600}}));
    ASSERT_EQ(daemon_->grants().revision, 4);
    const auto alerts_before = sink_.count(EventType::SecurityAlert);
    for (int i = 0; i < 3; ++i) {
        loop_.advance(std::chrono::seconds(5));  // past the backoff after a refusal
        serve(old);
    }
    const auto* rejected = sink_.last(EventType::BundleRejected);
    ASSERT_NE(rejected, nullptr);
    EXPECT_EQ(rejected->field("JIT_RULE"), "revision");
    EXPECT_EQ(sink_.count(EventType::SecurityAlert), alerts_before + 1);
    const auto* alert = sink_.last(EventType::SecurityAlert);
    ASSERT_NE(alert, nullptr);
    EXPECT_EQ(alert->field("JIT_ALERT"), "rollback");
    EXPECT_EQ(alert->field("JIT_REVISION"), "4");
    EXPECT_EQ(daemon_->grants().revision, 4);
    EXPECT_EQ(check("bob")["decision"], "allow");
}

// Issue 18, time: the wall clock jumps. Forward past not_after: the window
// edge timer (absolute CLOCK_REALTIME) fires at once, the consumers are told
// (publishers, enforcement: a TimeEdge change) and PAM denies at once.
// Backward before not_before: nothing is granted early, and a grant whose
// window has not begun stays refused until the clock reaches it.
TEST_F(DaemonTest, ClockJumpsEndAtOnceAndGrantNothingEarly) {
    make_daemon();
    serve(bundle(2,
                 {TestGrant{"g-a", "alice", true, false, kStart, kStart + 3600},
                  TestGrant{"g-b", "bob", true, false, kStart + 7200, kStart + 10800}},
                 86400));
    EXPECT_EQ(check("alice")["decision"], "allow");
    EXPECT_EQ(check("bob")["decision"], "deny");
    changes_.clear();
    loop_.set_wall(kStart + 4000);  // forward, past alice's not_after
    ASSERT_FALSE(changes_.empty());
    EXPECT_EQ(changes_.back().cause, ChangeCause::TimeEdge);
    EXPECT_EQ(check("alice")["decision"], "deny");
    EXPECT_EQ(check("bob")["decision"], "deny");  // not yet
    loop_.set_wall(kStart - 3600);  // backward, before both windows
    EXPECT_EQ(check("alice")["decision"], "deny");
    EXPECT_EQ(check("bob")["decision"], "deny");
    loop_.set_wall(kStart + 7199);  // one second before bob's window
    EXPECT_EQ(check("bob")["decision"], "deny");
    changes_.clear();
    loop_.set_wall(kStart + 7200);
    EXPECT_FALSE(changes_.empty());  // the edge was re-armed across the jumps
    EXPECT_EQ(check("bob")["decision"], "allow");
    loop_.set_wall(kStart + 20000);  // and far past it
    EXPECT_EQ(check("bob")["decision"], "deny");
}

TEST_F(DaemonTest, RestartServesStoredStateBeforeTheAuthorityAnswers) {
    make_daemon();
    serve(bundle(9, {TestGrant{"g-9", "alice", true, false, kStart, kStart + 3600}}));
    daemon_->stop();
    transport_.pending.clear();
    make_daemon();  // the authority is "down": nothing answers
    EXPECT_TRUE(daemon_->grants().have_bundle);
    EXPECT_EQ(daemon_->grants().revision, 9);
    EXPECT_EQ(check("alice")["decision"], "allow");
    // And the next poll continues from the stored revision.
    loop_.advance(std::chrono::milliseconds(0));
    ASSERT_FALSE(transport_.pending.empty());
    EXPECT_NE(transport_.pending.front().request.url.find("after=9&"), std::string::npos);
}

TEST_F(DaemonTest, TamperedStoredStateIsRefused) {
    make_daemon();
    serve(bundle(2, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}}));
    daemon_->stop();
    // Replace the stored envelope with one signed by another key.
    Signer mallory;
    StateStore store(config_.state_dir);
    ASSERT_TRUE(store.save(StoredState{
        2, kStart, mallory.envelope(jit::test::payload_json("web-01", 2, kStart, kStart + 900,
                                                             {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}}))}).ok());
    make_daemon();
    EXPECT_FALSE(daemon_->grants().have_bundle);
    const auto* alert = sink_.last(EventType::SecurityAlert);
    ASSERT_NE(alert, nullptr);
    EXPECT_EQ(alert->field("JIT_ALERT"), "state_refused");
    EXPECT_EQ(check("carol")["reason"], "no_bundle");
}

TEST_F(DaemonTest, RevocationByOmissionTakesEffectAtOnce) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600},
                     TestGrant{"g-2", "carol", true, false, kStart, kStart + 3600}}));
    EXPECT_EQ(check("carol")["decision"], "allow");
    serve(bundle(2, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}}));
    EXPECT_EQ(check("carol")["decision"], "deny");
    EXPECT_EQ(check("alice")["decision"], "allow");
    ASSERT_FALSE(changes_.empty());
    EXPECT_EQ(changes_.back().cause, ChangeCause::BundleAccepted);
    EXPECT_EQ(changes_.back().grants, 1u);
}

TEST_F(DaemonTest, BreakGlassUsersAreNeverManaged) {
    config_.policy.break_glass_users = {"carol"};
    make_daemon();
    serve(bundle(1, {TestGrant{"g-2", "carol", false, false, kStart, kStart + 3600}}));
    EXPECT_EQ(check("carol")["decision"], "ignore");
    EXPECT_EQ(sink_.count(EventType::LoginDenied), 0u);
}

TEST_F(DaemonTest, PeersMayOnlyAskAboutThemselves) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600},
                     TestGrant{"g-2", "carol", true, false, kStart, kStart + 3600}}));
    const Peer alice{1000, 1000, 77};
    EXPECT_EQ(check("alice", "sshd", alice)["decision"], "allow");
    auto other = check("carol", "sshd", alice);
    EXPECT_EQ(other["status"], "error");
    EXPECT_EQ(other["error"], "forbidden");
    // Unprivileged grants: only their own.
    Json::Value g;
    ASSERT_TRUE(Json::Reader().parse(call({{"op", "grants"}}, alice)["json"], g));
    ASSERT_EQ(g["grants"].size(), 1u);
    EXPECT_EQ(g["grants"][0]["user"].asString(), "alice");
    ASSERT_TRUE(Json::Reader().parse(call({{"op", "grants"}})["json"], g));
    EXPECT_EQ(g["grants"].size(), 2u);
    // A uid without a name sees nothing.
    EXPECT_EQ(call({{"op", "grants"}}, Peer{4321, 4321, 1})["error"], "unknown_peer");
    // Sessions are for root only.
    EXPECT_EQ(call({{"op", "session_open"}, {"user", "alice"}}, alice)["error"], "forbidden");
    EXPECT_EQ(call({{"op", "nope"}})["error"], "unknown_op");
    EXPECT_EQ(call({{"op", "check"}})["error"], "bad_request");
}

// An NSS error is "unknown", not "unmanaged": such a user is denied (no grant),
// never ignored; with managed groups, so is one whose groups could not be read.
TEST_F(DaemonTest, NssErrorsAreNotReadAsUnmanaged) {
    jit::LocalAccount no_uid;
    no_uid.lookup_failed = true;
    accounts_.users["flaky"] = no_uid;
    jit::LocalAccount half{1002, {"half"}};
    half.lookup_failed = true;
    accounts_.users["half"] = half;
    make_daemon();
    serve(bundle(1, {}));
    auto c = check("flaky");
    EXPECT_EQ(c["decision"], "deny");
    EXPECT_EQ(c["reason"], "nss_error");
    EXPECT_EQ(c["managed"], "yes");
    EXPECT_NE(c["message"].find("NSS"), std::string::npos) << c["message"];
    EXPECT_EQ(call({{"op", "session_open"}, {"user", "flaky"}, {"service", "sshd"}, {"pid", "4242"}})["decision"], "deny");
    EXPECT_EQ(check("half")["decision"], "ignore");  // no managed groups: the groups do not matter
    EXPECT_EQ(check("dave")["decision"], "ignore");
    // Enforcement asks is_managed(): an NSS error never makes it adopt (and
    // end) a live session of someone it may not manage.
    EXPECT_FALSE(daemon_->is_managed("flaky"));
    config_.policy.managed_groups = {"jitusers"};
    make_daemon();
    serve(bundle(1, {}));
    EXPECT_EQ(check("half")["decision"], "deny");
    EXPECT_EQ(check("half")["reason"], "nss_error");
    EXPECT_EQ(check("dave")["decision"], "ignore");
    // root and break-glass users stay unmanaged whatever NSS says.
    jit::LocalAccount broken;
    broken.lookup_failed = true;
    accounts_.users["root"] = broken;
    accounts_.users["rescue"] = broken;
    config_.policy.break_glass_users = {"rescue"};
    make_daemon();
    serve(bundle(1, {}));
    EXPECT_EQ(check("root")["decision"], "ignore");
    EXPECT_EQ(check("rescue")["decision"], "ignore");
}

// Names no grant can carry (directory users from SSSD/LDAP/AD, local names with
// capitals or dots) are never managed: `ignore`, for checks and sessions, with
// nothing recorded; an empty name is still a bad request.
TEST_F(DaemonTest, NamesOutsideTheGrantRuleAreIgnored) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, true, kStart, kStart + 3600}}));
    const std::size_t events_before = sink_.events.size();
    for (const std::string name : {"john.smith", "alice@corp.example", "Bob", "../etc",
                                   "a-name-far-longer-than-thirty-two-bytes"}) {
        auto c = call({{"op", "check"}, {"user", name}, {"service", "sshd"}});
        EXPECT_EQ(c["status"], "ok") << name;
        EXPECT_EQ(c["decision"], "ignore") << name;
        EXPECT_EQ(c["managed"], "no") << name;
        auto s = call({{"op", "session_open"}, {"user", name}, {"service", "sshd"}, {"pid", "7000"}});
        EXPECT_EQ(s["decision"], "ignore") << name;
    }
    EXPECT_TRUE(sessions_.opened.empty());
    EXPECT_EQ(sink_.events.size(), events_before);
    EXPECT_EQ(call({{"op", "session_open"}, {"user", ""}, {"pid", "7000"}})["error"], "bad_request");
}

TEST_F(DaemonTest, SessionTableRecordsOpenAndClose) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}}));
    auto o = call({{"op", "session_open"}, {"user", "alice"}, {"service", "sshd"}, {"tty", "pts/3"}, {"pid", "5000"},
                   {"logind_session", "c7"}});
    EXPECT_EQ(o["status"], "ok");
    EXPECT_EQ(o["grant_id"], "g-1");
    EXPECT_EQ(o["decision"], "allow");
    EXPECT_EQ(o["session"], "logind:c7");  // its key in the table
    ASSERT_EQ(sessions_.opened.size(), 1u);
    EXPECT_EQ(sessions_.opened[0].user, "alice");
    EXPECT_EQ(sessions_.opened[0].grant_id, "g-1");
    EXPECT_EQ(sink_.count(EventType::SessionOpened), 1u);
    // An unmanaged user's session is not recorded.
    EXPECT_EQ(call({{"op", "session_open"}, {"user", "dave"}, {"pid", "6000"}})["managed"], "no");
    EXPECT_EQ(sessions_.opened.size(), 1u);
    auto c = call({{"op", "session_close"}, {"user", "alice"}, {"pid", "5000"}, {"logind_session", "c7"}});
    EXPECT_EQ(c["status"], "ok");
    EXPECT_EQ(c["session"], "logind:c7");
    EXPECT_EQ(sessions_.count(std::nullopt), 0u);
    EXPECT_EQ(sink_.count(EventType::SessionClosed), 1u);
    EXPECT_EQ(sink_.last(EventType::SessionClosed)->field("JIT_GRANT_ID"), "g-1");
    // A close that names no session (closed already, or never opened).
    EXPECT_EQ(call({{"op", "session_close"}, {"user", "alice"}, {"pid", "5000"}, {"logind_session", "c7"}})["session"], "");
    EXPECT_EQ(sink_.count(EventType::SessionClosed), 1u);
    EXPECT_EQ(call({{"op", "session_open"}, {"user", "alice"}, {"pid", "x"}})["error"], "bad_request");
    // After the window: a late session is refused and not recorded.
    loop_.advance(std::chrono::seconds(3601));
    auto late = call({{"op", "session_open"}, {"user", "alice"}, {"service", "sshd"}, {"pid", "5001"}});
    EXPECT_EQ(late["decision"], "deny");
    EXPECT_EQ(late["reason"], "window_ended");
    EXPECT_EQ(sessions_.opened.size(), 1u);
}

// op=session_open hands the session table the grant its decision named: of
// two grants that both allow alice now, the one the decision picked (the
// Enforcer binds the session to it and does not choose again).
TEST_F(DaemonTest, SessionOpenHandsTheTableTheDecisionsGrant) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-short", "alice", true, false, kStart - 60, kStart + 600},
                     TestGrant{"g-long", "alice", true, false, kStart - 60, kStart + 7200}}));
    const std::string decided = check("alice")["grant_id"];
    ASSERT_FALSE(decided.empty());
    auto o = call({{"op", "session_open"}, {"user", "alice"}, {"service", "sshd"}, {"pid", "5000"}});
    ASSERT_EQ(o["decision"], "allow");
    ASSERT_EQ(sessions_.opened.size(), 1u);
    EXPECT_EQ(sessions_.opened[0].grant_id, decided);
    // The uid comes with it from the account the decision looked up (the
    // table asks no NSS of its own on the loop).
    EXPECT_EQ(sessions_.opened[0].uid, std::optional<uid_t>(1000));
    EXPECT_EQ(o["grant_id"], decided);
    EXPECT_EQ(sink_.last(EventType::SessionOpened)->field("JIT_GRANT_ID"), decided);
}

// The answer to session_open waits for the table's when_opened (the home of a
// first session being made on the worker): pam_jit.so, and so the user's
// shell, goes on only once it ran; other questions are answered meanwhile.
TEST_F(DaemonTest, SessionOpenIsAnsweredWhenTheTableSaysTheSessionIsReady) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}}));
    sessions_.hold_opened = true;
    std::optional<jit::ipc::Message> answer;
    daemon_->handle({{"op", "session_open"}, {"user", "alice"}, {"service", "sshd"}, {"pid", "5000"}}, Peer{0, 0, 4242},
                    [&](jit::ipc::Message m) { answer = std::move(m); });
    EXPECT_FALSE(answer);
    ASSERT_EQ(sessions_.opened.size(), 1u);  // registered at once
    EXPECT_EQ(check("alice")["decision"], "allow");
    EXPECT_EQ(check("dave")["decision"], "ignore");
    ASSERT_EQ(sessions_.held.size(), 1u);
    sessions_.held[0]();
    ASSERT_TRUE(answer);
    EXPECT_EQ((*answer)["decision"], "allow");
    EXPECT_EQ((*answer)["session"], sessions_.opened[0].key);
}

// Without a session table a session cannot be tracked: it is refused, never
// left to run untracked (pam_jit.so refuses a session_open without "allow").
TEST_F(DaemonTest, SessionOpenWithoutATableIsRefused) {
    daemon_ = std::make_unique<Daemon>(config_, signer_.keys(), Daemon::Deps{loop_, authority_, sink_, lookups_});
    ASSERT_TRUE(daemon_->start().ok());
    serve(bundle(1, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}}));
    auto o = call({{"op", "session_open"}, {"user", "alice"}, {"service", "sshd"}, {"pid", "5000"}});
    EXPECT_EQ(o["status"], "error");
    EXPECT_EQ(o["error"], "unavailable");
    EXPECT_EQ(sink_.count(EventType::SessionOpened), 0u);
}

TEST_F(DaemonTest, StatusReportsSyncAndGrants) {
    make_daemon();
    serve(bundle(4, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600},
                     TestGrant{"g-2", "carol", true, false, kStart + 100, kStart + 3600}}));
    Json::Value st;
    ASSERT_TRUE(Json::Reader().parse(call({{"op", "status"}})["json"], st));
    EXPECT_EQ(st["host_id"].asString(), "web-01");
    EXPECT_EQ(st["revision"].asInt64(), 4);
    EXPECT_EQ(st["grants_total"].asUInt64(), 2u);
    EXPECT_EQ(st["grants_active"].asUInt64(), 1u);
    EXPECT_FALSE(st["stale"].asBool());
    EXPECT_EQ(st["sync"]["last_result"].asString(), "accepted revision 4");
    EXPECT_EQ(st["authority_url"].asString(), "https://jit.example.com");
}

TEST_F(DaemonTest, RequestRelayTakesIdentityFromTheKernelNotTheMessage) {
    make_daemon();
    const Peer alice{1000, 1000, 77};
    jit::ipc::Message answer;
    bool answered = false;
    daemon_->handle({{"op", "request"}, {"user", "mallory"}, {"uid", "0"}, {"duration_seconds", "3600"},
                     {"reason", "patch openssl"}, {"ticket", "CHG-88"}, {"sudo_commands", "/usr/bin/apt-get\nALL"}},
                    alice, [&](jit::ipc::Message m) {
                        answer = std::move(m);
                        answered = true;
                    });
    EXPECT_FALSE(answered);  // waits for the authority
    // The long poll is pending too; find the POST.
    const FakeTransport::Pending* post = nullptr;
    for (const auto& p : transport_.pending)
        if (p.request.method == "POST") post = &p;
    ASSERT_NE(post, nullptr);
    EXPECT_EQ(post->request.url, "https://jit.example.com/v1/hosts/web-01/requests");
    Json::Value body;
    ASSERT_TRUE(Json::Reader().parse(post->request.body, body));
    EXPECT_EQ(body["user"].asString(), "alice");
    EXPECT_EQ(body["uid"].asUInt(), 1000u);
    EXPECT_EQ(body["duration_seconds"].asInt(), 3600);
    EXPECT_EQ(body["sudo"]["commands"].size(), 2u);
    auto done = post->done;
    done(HttpResponse{201, R"({"id":"r-9","state":"pending","approvals_required":1})", ""});
    ASSERT_TRUE(answered);
    EXPECT_EQ(answer["status"], "ok");
    EXPECT_EQ(answer["id"], "r-9");
    EXPECT_EQ(answer["state"], "pending");
    ASSERT_EQ(sink_.count(EventType::RequestRelayed), 1u);
    // docs/audit.md: request.relayed carries who (from the kernel), what and for how long.
    const auto* ev = sink_.last(EventType::RequestRelayed);
    EXPECT_EQ(ev->field("JIT_USER"), "alice");
    EXPECT_EQ(ev->field("JIT_UID"), "1000");
    EXPECT_EQ(ev->field("JIT_REQUEST_ID"), "r-9");
    EXPECT_EQ(ev->field("JIT_REASON"), "patch openssl");
    EXPECT_EQ(ev->field("JIT_TICKET"), "CHG-88");
    EXPECT_EQ(ev->field("JIT_DURATION"), "3600");
    EXPECT_EQ(ev->field("JIT_RUN_AS"), "root");
    EXPECT_EQ(ev->field("JIT_COMMAND"), "/usr/bin/apt-get\nALL");
    // A login-only request for another duration: its own JIT_DURATION, no sudo fields.
    daemon_->handle({{"op", "request"}, {"duration_seconds", "5400"}, {"reason", "look at logs"}}, alice,
                    [&](jit::ipc::Message m) { answer = std::move(m); });
    const FakeTransport::Pending* post2 = nullptr;
    for (const auto& p : transport_.pending)
        if (p.request.method == "POST") post2 = &p;
    ASSERT_NE(post2, nullptr);
    auto done2 = post2->done;
    done2(HttpResponse{201, R"({"id":"r-10","state":"pending"})", ""});
    ASSERT_EQ(sink_.count(EventType::RequestRelayed), 2u);
    const auto* ev2 = sink_.last(EventType::RequestRelayed);
    EXPECT_EQ(ev2->field("JIT_REQUEST_ID"), "r-10");
    EXPECT_EQ(ev2->field("JIT_DURATION"), "5400");
    EXPECT_FALSE(ev2->field("JIT_TICKET").has_value());
    EXPECT_FALSE(ev2->field("JIT_RUN_AS").has_value());
    EXPECT_FALSE(ev2->field("JIT_COMMAND").has_value());
    // Bad input never reaches the authority.
    EXPECT_EQ(call({{"op", "request"}, {"duration_seconds", "5"}, {"reason", "x"}}, alice)["error"], "bad_request");
    EXPECT_EQ(call({{"op", "request"}, {"duration_seconds", "3600"}, {"reason", "x"}, {"sudo_commands", "rm"}}, alice)["error"],
              "bad_request");
}

// jitctl request --extend: PROTOCOL.md §2 `extends`, for one of the caller's
// own active grants (the kernel's identity picks whose), never another's.
TEST_F(DaemonTest, ExtensionRelayNamesTheCallersOwnActiveGrant) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600},
                     TestGrant{"g-2", "dave", true, false, kStart, kStart + 3600}}));
    const Peer alice{1000, 1000, 77};
    const Peer dave{1001, 1001, 78};
    auto last_post_body = [&]() {
        Json::Value body;
        for (const auto& p : transport_.pending)
            if (p.request.method == "POST") Json::Reader().parse(p.request.body, body);
        return body;
    };
    jit::ipc::Message answer;
    daemon_->handle({{"op", "request"}, {"extend", "yes"}, {"duration_seconds", "1800"}, {"reason", "not done"}}, alice,
                    [&](jit::ipc::Message m) { answer = std::move(m); });
    Json::Value body = last_post_body();
    EXPECT_EQ(body["extends"].asString(), "g-1");
    EXPECT_EQ(body["user"].asString(), "alice");
    EXPECT_EQ(body["duration_seconds"].asInt(), 1800);
    for (const auto& p : transport_.pending)
        if (p.request.method == "POST") {
            auto done = p.done;
            done(HttpResponse{201, R"({"id":"r-11","state":"pending","approvals_required":1})", ""});
            break;
        }
    EXPECT_EQ(answer["id"], "r-11");
    EXPECT_EQ(sink_.last(EventType::RequestRelayed)->field("JIT_GRANT_ID"), "g-1");
    // Another user's grant, by name: refused here, never relayed.
    const std::size_t posts = transport_.pending.size();
    EXPECT_EQ(call({{"op", "request"}, {"extend", "yes"}, {"grant", "g-2"}, {"duration_seconds", "1800"}, {"reason", "x"}},
                   alice)["error"],
              "not_found");
    // Nothing to extend.
    const Peer carol{70005, 70005, 79};
    EXPECT_EQ(call({{"op", "request"}, {"extend", "yes"}, {"duration_seconds", "1800"}, {"reason", "x"}}, carol)["error"],
              "not_found");
    EXPECT_EQ(transport_.pending.size(), posts);
    // Dave names his own.
    daemon_->handle({{"op", "request"}, {"extend", "yes"}, {"grant", "g-2"}, {"duration_seconds", "600"}, {"reason", "y"}},
                    dave, [](jit::ipc::Message) {});
    EXPECT_EQ(last_post_body()["extends"].asString(), "g-2");
}

TEST_F(DaemonTest, ReloadKeepsGrants) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}}));
    Config next = config_;
    next.policy.request_hint = "ask bob";
    daemon_->reload(next, signer_.keys());
    EXPECT_EQ(sink_.count(EventType::ConfigReloaded), 1u);
    EXPECT_EQ(daemon_->grants().revision, 1);
    EXPECT_EQ(check("alice")["decision"], "allow");
    EXPECT_EQ(daemon_->config().policy.request_hint, "ask bob");
}

// docs/config.md: SIGHUP applies the re-read settings, except the keys read
// only at start ([socket], state.dir, the upload queue's, [nss], sudo.dropin_path):
// those keep their running value and config.reloaded names them. Grants stay.
TEST_F(DaemonTest, ReloadAppliesReloadableKeysAndNamesTheRestartOnlyOnes) {
    config_.socket.path = dir_.path() + "/helperd.sock";
    make_daemon();
    serve(bundle(3, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}}));
    const std::size_t changes_before = changes_.size();
    Config next = config_;
    // Reloadable.
    next.pam_timeout_ms = 777;
    next.policy.request_hint = "ask bob";
    next.authority.poll_wait = 7;
    next.policy.break_glass_users = {"alice"};
    // Restart-only.
    next.socket.path = dir_.path() + "/other.sock";
    next.socket.mode = 0660;
    next.state_dir = dir_.path() + "/other-state";
    next.authority.upload_sync_ms = 5;
    next.nss.home_base = "/srv/home";
    next.sudoers_path = "/etc/sudoers.d/other";
    daemon_->reload(next, signer_.keys());

    ASSERT_EQ(sink_.count(EventType::ConfigReloaded), 1u);
    const auto* ev = sink_.last(EventType::ConfigReloaded);
    const std::string expected = "not applied until a restart: socket.path, socket.mode, state.dir, "
                                 "authority.upload_sync_ms, nss.home_base, sudo.dropin_path";
    EXPECT_EQ(ev->field("JIT_REASON"), expected);
    EXPECT_NE(ev->message.find("; " + expected), std::string::npos) << ev->message;
    EXPECT_EQ(ev->field("JIT_PATH"), config_.path);
    EXPECT_EQ(ev->field("JIT_COUNT"), std::to_string(signer_.keys().size()));  // trusted keys now in force
    // Applied.
    const Config& now = daemon_->config();
    EXPECT_EQ(now.pam_timeout_ms, 777);
    EXPECT_EQ(now.policy.request_hint, "ask bob");
    EXPECT_EQ(check("alice")["reason"], "break_glass");  // the new policy decides at once
    // The long poll restarted with the new wait.
    loop_.advance(std::chrono::milliseconds(0));
    ASSERT_FALSE(transport_.pending.empty());
    EXPECT_NE(transport_.pending.back().request.url.find("&wait=7"), std::string::npos)
        << transport_.pending.back().request.url;
    // Not applied: the running values stay.
    EXPECT_EQ(now.socket.path, config_.socket.path);
    EXPECT_EQ(now.socket.mode, 0666u);
    EXPECT_EQ(now.state_dir, config_.state_dir);
    EXPECT_EQ(now.authority.upload_sync_ms, 1000);
    EXPECT_EQ(now.nss.home_base, "/home");
    EXPECT_EQ(now.sudoers_path, "");
    // Grants kept: same revision, same grant, components told with cause reload.
    EXPECT_EQ(daemon_->grants().revision, 3);
    ASSERT_EQ(daemon_->grants().grants.size(), 1u);
    EXPECT_EQ(daemon_->grants().grants[0].id, "g-1");
    ASSERT_EQ(changes_.size(), changes_before + 1);
    EXPECT_EQ(changes_.back().cause, ChangeCause::Reload);
    EXPECT_EQ(changes_.back().grants, 1u);

    // Only reloadable changes: nothing is named.
    Config again = now;
    again.policy.break_glass_users = {};
    daemon_->reload(again, signer_.keys());
    ASSERT_EQ(sink_.count(EventType::ConfigReloaded), 2u);
    EXPECT_FALSE(sink_.last(EventType::ConfigReloaded)->field("JIT_REASON").has_value());
    EXPECT_EQ(sink_.last(EventType::ConfigReloaded)->message.find("restart"), std::string::npos);
    EXPECT_EQ(check("alice")["decision"], "allow");
}

// A sudo command the drop-in cannot carry safely is left out, and the
// auditor is told once (not at every re-publish).
TEST_F(DaemonTest, SudoRuleLeftOutIsAnAlertOnce) {
    if (geteuid() != 0 || access("/usr/sbin/visudo", X_OK) != 0) GTEST_SKIP() << "needs root and visudo";
    std::filesystem::create_directories(dir_.path() + "/sudoers.d");
    config_.sudoers_path = dir_.path() + "/sudoers.d/jit";
    config_.nss.db_path = dir_.path() + "/nss.db";
    daemon_ = std::make_unique<Daemon>(config_, signer_.keys(), Daemon::Deps{loop_, authority_, sink_, lookups_});
    ASSERT_TRUE(add_standard_publishers(*daemon_).ok());
    ASSERT_TRUE(daemon_->start().ok());
    TestGrant bad{"g-2", "alice", true, true, kStart - 60, kStart + 3600, R"(["/usr/bin/sudoedit /etc/hosts"])"};
    TestGrant good{"g-3", "carol", true, true, kStart - 60, kStart + 3600, R"(["/usr/bin/id"])"};
    serve(bundle(1, {bad, good}));
    auto alerts = [&] {
        std::vector<const jit::audit::Event*> out;
        for (const auto& e : sink_.events)
            if (e.type == EventType::SecurityAlert && e.field("JIT_ALERT") == "sudoers.rule_left_out") out.push_back(&e);
        return out;
    };
    // The command, then the rule that has no command left.
    ASSERT_EQ(alerts().size(), 2u);
    for (const auto* a : alerts()) {
        EXPECT_NE(a->message.find("grant g-2"), std::string::npos) << a->message;
        EXPECT_EQ(a->field("JIT_PATH"), config_.sudoers_path);
    }
    EXPECT_NE(alerts()[0]->message.find("command 1 sudoedit"), std::string::npos) << alerts()[0]->message;
    EXPECT_NE(alerts()[1]->message.find("rule left out"), std::string::npos) << alerts()[1]->message;
    while (loop_.watched_children() > 0) loop_.reap_children(true);  // visudo's check, then the rename
    std::ifstream in(config_.sudoers_path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NE(text.find("carol ALL=(root)"), std::string::npos);
    EXPECT_EQ(text.find("alice"), std::string::npos);
    serve(bundle(2, {bad, good}));  // published again: no new alert
    EXPECT_EQ(alerts().size(), 2u);
}

// visudo checks each new drop-in in a child the loop watches: the daemon
// answers while it runs, the live file changes only once visudo accepted the
// new one; a rejected file is an alert and leaves the live file as it was;
// a newer bundle supersedes a check in flight.
TEST_F(DaemonTest, SudoersAreCheckedByVisudoWithoutWaitingForIt) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (the drop-in is chowned root:root)";
    std::filesystem::create_directories(dir_.path() + "/sudoers.d");
    config_.sudoers_path = dir_.path() + "/sudoers.d/jit";
    // A visudo that takes its time and accepts only files without "bob".
    const std::string fake = dir_.path() + "/visudo";
    {
        std::ofstream f(fake);
        f << "#!/bin/sh\nsleep 1\nif grep -q bob \"$2\"; then echo \"$2: bob is not welcome\"; exit 1; fi\nexit 0\n";
    }
    ASSERT_EQ(chmod(fake.c_str(), 0755), 0);
    daemon_ = std::make_unique<Daemon>(config_, signer_.keys(), Daemon::Deps{loop_, authority_, sink_, lookups_});
    ASSERT_TRUE(add_standard_publishers(*daemon_, fake).ok());
    ASSERT_TRUE(daemon_->start().ok());
    const TestGrant carol{"g-3", "carol", true, true, kStart - 60, kStart + 3600, R"(["/usr/bin/id"])"};
    const TestGrant bob{"g-4", "bob", true, true, kStart - 60, kStart + 3600, R"(["/usr/bin/id"])"};
    auto live = [&] {
        std::ifstream in(config_.sudoers_path);
        return std::string((std::istreambuf_iterator<char>(in)), {});
    };
    serve(bundle(1, {carol}));
    EXPECT_EQ(loop_.watched_children(), 1u);               // visudo runs...
    EXPECT_EQ(check("carol")["decision"], "allow");         // ...and the daemon answers meanwhile
    EXPECT_EQ(live().find("carol"), std::string::npos);     // not live before visudo said yes
    while (loop_.watched_children() > 0) loop_.reap_children(true);
    EXPECT_NE(live().find("carol ALL=(root)"), std::string::npos);

    serve(bundle(2, {carol, bob}));  // rejected by this visudo
    while (loop_.watched_children() > 0) loop_.reap_children(true);
    EXPECT_EQ(live().find("bob"), std::string::npos);
    const auto* alert = sink_.last(EventType::SecurityAlert);
    ASSERT_NE(alert, nullptr);
    EXPECT_EQ(alert->field("JIT_ALERT"), "sudoers.not_updated");
    EXPECT_NE(alert->message.find("bob is not welcome"), std::string::npos) << alert->message;

    serve(bundle(3, {carol, bob}));  // superseded before visudo answers
    ASSERT_EQ(loop_.watched_children(), 1u);
    serve(bundle(4, {}));
    while (loop_.watched_children() > 0) loop_.reap_children(true);
    EXPECT_EQ(live().find("carol ALL"), std::string::npos);  // the newest grants won
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path() + "/sudoers.d", ec))
        EXPECT_EQ(e.path().filename().string(), "jit") << "left behind: " << e.path();
}

// Adds what an enforcement component would: a list of every user's sessions.
struct SessionListComponent final : Component {
    void add_status(Json::Value& status) override {
        Json::Value list(Json::arrayValue);
        for (const char* u : {"alice", "carol"}) {
            Json::Value o(Json::objectValue);
            o["user"] = u;
            o["rhost"] = std::string("host-of-") + u;
            list.append(o);
        }
        status["enforcement"]["sessions"] = list;
    }
};

// A user's own question is an explanation, not an audit record: whatever
// service, rhost or tty a non-root peer writes into op=check, nothing is
// written. The same check from root (pam_jit.so in sshd) is the record.
TEST_F(DaemonTest, ChecksFromNonRootPeersAreNotAudited) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, true, kStart, kStart + 3600}}));
    const Peer alice{1000, 1000, 77};
    const std::size_t before = sink_.events.size();
    for (int i = 0; i < 1000; ++i) {
        auto forged = call({{"op", "check"}, {"user", "alice"}, {"service", i % 2 ? "sshd" : "sudo"},
                            {"rhost", "forged.example"}, {"tty", "pts/9"}, {"command", "/bin/true"}},
                           alice);
        ASSERT_EQ(forged["decision"], "allow");  // the answer is the same
    }
    EXPECT_EQ(sink_.events.size(), before);
    EXPECT_EQ(sink_.count(EventType::LoginAllowed), 0u);
    EXPECT_EQ(sink_.count(EventType::SudoAllowed), 0u);
    check("alice");  // root
    EXPECT_EQ(sink_.count(EventType::LoginAllowed), 1u);
    EXPECT_EQ(sink_.last(EventType::LoginAllowed)->field("JIT_RHOST"), "10.0.0.9");
}

// op=status answers a non-root peer about itself only: its own sessions (in
// the count and in every component's lists), no publishing details.
TEST_F(DaemonTest, StatusShowsANonRootPeerOnlyItsOwnSessions) {
    make_daemon();
    daemon_->add_component(std::make_unique<SessionListComponent>());
    serve(bundle(1, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600},
                     TestGrant{"g-2", "carol", true, false, kStart, kStart + 3600}}));
    const std::vector<std::pair<std::string, std::string>> opened = {{"alice", "5000"}, {"carol", "5001"}, {"carol", "5002"}};
    for (const auto& [user, pid] : opened)
        ASSERT_EQ(call({{"op", "session_open"}, {"user", user}, {"service", "sshd"}, {"pid", pid}})["decision"], "allow");
    Json::Value root_view, alice_view, nameless_view;
    ASSERT_TRUE(Json::Reader().parse(call({{"op", "status"}})["json"], root_view));
    EXPECT_EQ(root_view["sessions"].asUInt64(), 3u);
    EXPECT_EQ(root_view["enforcement"]["sessions"].size(), 2u);
    ASSERT_TRUE(Json::Reader().parse(call({{"op", "status"}}, Peer{1000, 1000, 7})["json"], alice_view));
    EXPECT_EQ(alice_view["sessions"].asUInt64(), 1u);
    ASSERT_EQ(alice_view["enforcement"]["sessions"].size(), 1u);
    EXPECT_EQ(alice_view["enforcement"]["sessions"][0]["user"].asString(), "alice");
    EXPECT_EQ(alice_view["revision"].asInt64(), 1);  // the rest of the document is there
    ASSERT_TRUE(Json::Reader().parse(call({{"op", "status"}}, Peer{4321, 4321, 7})["json"], nameless_view));
    EXPECT_EQ(nameless_view["sessions"].asUInt64(), 0u);
    EXPECT_EQ(nameless_view["enforcement"]["sessions"].size(), 0u);
}

namespace {
// Answers the pending request POST with `id`; returns the relayed answer.
jit::ipc::Message relay(Daemon& d, FakeTransport& t, const Peer& peer, const std::string& id) {
    jit::ipc::Message answer;
    d.handle({{"op", "request"}, {"duration_seconds", "3600"}, {"reason", "r"}}, peer,
             [&](jit::ipc::Message m) { answer = std::move(m); });
    if (!answer.empty()) return answer;  // refused before the authority
    for (auto it = t.pending.begin(); it != t.pending.end(); ++it)
        if (it->request.method == "POST") {
            auto done = it->done;
            t.pending.erase(it);
            done(HttpResponse{201, R"({"id":")" + id + R"(","state":"pending"})", ""});
            break;
        }
    return answer;
}
}  // namespace

// op=request_status answers a non-root peer only about requests relayed for
// its uid (recorded durably: a restart keeps the answer); root about any.
TEST_F(DaemonTest, RequestStatusOfAnotherUsersRequestIsRefused) {
    make_daemon();
    const Peer alice{1000, 1000, 7}, carol{70005, 70005, 8};
    ASSERT_EQ(relay(*daemon_, transport_, alice, "r-1")["id"], "r-1");
    daemon_->stop();
    transport_.pending.clear();
    make_daemon();  // restarted: the owner of r-1 is remembered
    const int started = transport_.started;
    EXPECT_EQ(request_status("r-1", carol), "forbidden");
    EXPECT_EQ(transport_.started, started);  // the authority was not asked
    EXPECT_EQ(request_status("r-1", alice), "relayed");
    EXPECT_EQ(request_status("r-1", Peer{0, 0, 1}), "relayed");
    EXPECT_EQ(transport_.started, started + 2);
    EXPECT_EQ(request_status("r-1", carol), "forbidden");
    EXPECT_EQ(request_status("r-404", carol), "forbidden");
}

// What a non-root peer can make the daemon write or send is bounded: relays
// spend a per-uid token (5 at once, then one a minute); over the limit the
// answer is rate_limited, nothing reaches the authority or the trail, and one
// alert says so. Root is never limited; another uid has its own budget.
TEST_F(DaemonTest, RelaysFromOneUidAreRateLimitedWithOneAlert) {
    make_daemon();
    const Peer alice{1000, 1000, 7}, carol{70005, 70005, 8};
    for (int i = 0; i < Daemon::kRelayBurst; ++i)
        ASSERT_EQ(relay(*daemon_, transport_, alice, "r-" + std::to_string(i))["status"], "ok") << i;
    const int started = transport_.started;
    const std::size_t events = sink_.events.size();
    for (int i = 0; i < 100; ++i) {
        auto a = relay(*daemon_, transport_, alice, "r-x");
        ASSERT_EQ(a["error"], "rate_limited") << i;
        EXPECT_NE(a["message"].find("try again in 60 s"), std::string::npos) << a["message"];
    }
    EXPECT_EQ(transport_.started, started);
    ASSERT_EQ(sink_.events.size(), events + 1);
    EXPECT_EQ(sink_.events.back().field("JIT_ALERT"), "peer_rate_limited");
    EXPECT_EQ(sink_.events.back().field("JIT_UID"), "1000");
    EXPECT_EQ(sink_.events.back().field("JIT_USER"), "alice");
    EXPECT_EQ(relay(*daemon_, transport_, carol, "r-c")["status"], "ok");
    // A minute later: one more, then refused again (and alerted again, once).
    loop_.advance(std::chrono::milliseconds(Daemon::kRelayRefillMs));
    EXPECT_EQ(relay(*daemon_, transport_, alice, "r-late")["status"], "ok");
    EXPECT_EQ(relay(*daemon_, transport_, alice, "r-x")["error"], "rate_limited");
    EXPECT_EQ(relay(*daemon_, transport_, alice, "r-x")["error"], "rate_limited");
    std::size_t alerts = 0;
    for (const auto& e : sink_.events)
        if (e.field("JIT_ALERT") == "peer_rate_limited") ++alerts;
    EXPECT_EQ(alerts, 2u);
    // request_status has its own budget, also per uid.
    for (int i = 0; i < Daemon::kRequestStatusBurst; ++i) ASSERT_EQ(request_status("r-0", alice), "relayed") << i;
    EXPECT_EQ(request_status("r-0", alice), "rate_limited");
    EXPECT_EQ(request_status("r-0", Peer{0, 0, 1}), "relayed");
}

// A relayed request carries at most 64 sudo commands of at most 4096 bytes.
TEST_F(DaemonTest, RelayedRequestsAreBoundedInSize) {
    make_daemon();
    const Peer alice{1000, 1000, 7};
    std::string many;
    for (int i = 0; i < 65; ++i) many += "/usr/bin/c" + std::to_string(i) + "\n";
    auto a = call({{"op", "request"}, {"duration_seconds", "3600"}, {"reason", "r"}, {"sudo_commands", many}}, alice);
    EXPECT_EQ(a["error"], "bad_request");
    EXPECT_NE(a["message"].find("more than 64"), std::string::npos) << a["message"];
    a = call({{"op", "request"}, {"duration_seconds", "3600"}, {"reason", "r"},
              {"sudo_commands", "/usr/bin/x " + std::string(4100, 'a')}},
             alice);
    EXPECT_EQ(a["error"], "bad_request");
    EXPECT_NE(a["message"].find("longer than 4096"), std::string::npos) << a["message"];
}

// A state file the daemon cannot read is moved aside (kept, timestamped
// name), an alert names it, and the daemon starts.
TEST_F(DaemonTest, CorruptStateFilesAreSetAsideAndTheDaemonStarts) {
    make_daemon();
    serve(bundle(3, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}}));
    ASSERT_EQ(relay(*daemon_, transport_, Peer{1000, 1000, 7}, "r-1")["id"], "r-1");
    daemon_->stop();
    transport_.pending.clear();
    auto truncate_half = [](const std::string& path) {
        std::ifstream in(path);
        std::string text((std::istreambuf_iterator<char>(in)), {});
        ASSERT_GT(text.size(), 4u) << path;
        std::ofstream(path, std::ios::trunc) << text.substr(0, text.size() / 2);
    };
    truncate_half(config_.state_dir + "/grants.state");
    truncate_half(config_.state_dir + "/requests");
    sink_.events.clear();
    make_daemon();
    EXPECT_FALSE(daemon_->grants().have_bundle);
    std::vector<std::string> alerted;
    for (const auto& e : sink_.events)
        if (e.field("JIT_ALERT") == "state_corrupt") {
            alerted.emplace_back(*e.field("JIT_PATH"));
            const std::string aside(*e.field("JIT_ARCHIVE"));
            EXPECT_EQ(aside.rfind(std::string(*e.field("JIT_PATH")) + ".corrupt-", 0), 0u) << aside;
            EXPECT_TRUE(std::filesystem::exists(aside)) << aside;
            EXPECT_FALSE(e.field("JIT_ERROR")->empty());
        }
    EXPECT_EQ(alerted, (std::vector<std::string>{config_.state_dir + "/grants.state", config_.state_dir + "/requests"}));
    EXPECT_FALSE(std::filesystem::exists(config_.state_dir + "/grants.state"));
    EXPECT_EQ(sink_.count(EventType::DaemonStarted), 1u);
    // It answers, and the next bundle restores the grants.
    EXPECT_EQ(check("carol")["reason"], "no_bundle");
    serve(bundle(4, {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}}));
    EXPECT_EQ(check("alice")["decision"], "allow");
    // Only root may ask about r-1 now (who asked is lost with the file).
    EXPECT_EQ(request_status("r-1", Peer{1000, 1000, 7}), "forbidden");
}

// docs/config.md [limits]: the bounded grant is what every consumer sees
// (decision, publishers, components, the window's timer), each change is one
// grant.limited event, and a re-sent bundle does not repeat them.
TEST_F(DaemonTest, HostLimitsBoundWhatEveryConsumerSees) {
    config_.policy.limits.max_window = 1800;
    config_.policy.limits.allowed_sudo_commands = {{"/usr/bin/id"}};
    config_.policy.limits.login_shell = "/bin/sh";
    std::vector<jit::Grant> published;
    auto pub = std::make_unique<RecordingPublisher>();
    pub->last = &published;
    make_daemon(std::move(pub));
    const TestGrant signed_grant{"g-1", "alice", true, true, kStart - 60, kStart + 7200};
    auto with_groups_and_shell = [&](std::int64_t revision) {
        std::string p = jit::test::payload_json("web-01", revision, loop_.now(), loop_.now() + 3600, {signed_grant});
        const std::string end = R"("approved_by":["bob"]})";
        p.replace(p.find(end), end.size(), R"("approved_by":["bob"],"groups":["docker","users"],"shell":"/bin/zsh"})");
        return signer_.envelope(p);
    };
    serve(with_groups_and_shell(1));

    ASSERT_EQ(published.size(), 1u);
    const jit::Grant& g = published[0];
    EXPECT_EQ(g.not_after, kStart - 60 + 1800);
    EXPECT_EQ(g.groups, std::vector<std::string>{"users"});
    ASSERT_TRUE(g.sudo);
    EXPECT_EQ(g.sudo->commands, std::vector<std::string>{"/usr/bin/id"});
    EXPECT_EQ(g.shell, "/bin/sh");
    ASSERT_EQ(daemon_->grants().grants.size(), 1u);
    EXPECT_EQ(daemon_->grants().grants[0].not_after, g.not_after);
    EXPECT_EQ(daemon_->grants().received.at(0).not_after, kStart + 7200);  // the signed grant is kept as signed

    std::vector<std::string> rules;
    for (const auto& e : sink_.events)
        if (e.type == EventType::GrantLimited) {
            EXPECT_EQ(e.field("JIT_GRANT_ID"), "g-1");
            EXPECT_EQ(e.field("JIT_USER"), "alice");
            rules.push_back(std::string(*e.field("JIT_RULE")) + " " + std::string(*e.field("JIT_ACTION")) + " " +
                            std::string(*e.field("JIT_DETAIL")));
        }
    EXPECT_EQ(rules, (std::vector<std::string>{
                         "limits.max_window clamped not_after " + std::to_string(kStart + 7200) + " -> " +
                             std::to_string(kStart + 1740),
                         "limits.denied_groups dropped group docker",
                         "limits.allowed_sudo_commands clamped sudo commands ALL -> /usr/bin/id",
                         "limits.login_shell replaced shell /bin/zsh -> /bin/sh"}));

    auto c = check("alice");
    EXPECT_EQ(c["decision"], "allow");
    EXPECT_EQ(c["not_after"], std::to_string(kStart + 1740));
    EXPECT_NE(c["message"].find("(limits.max_window on this host)"), std::string::npos) << c["message"];
    EXPECT_NE(c["limits"].find("limits.denied_groups: dropped group docker"), std::string::npos) << c["limits"];

    serve(with_groups_and_shell(2));  // the same grant again: nothing new to report
    EXPECT_EQ(sink_.count(EventType::GrantLimited), 4u);

    // The window ends at the clamp, by the daemon's own timer.
    loop_.advance(std::chrono::seconds(1739));
    EXPECT_EQ(check("alice")["decision"], "allow");
    changes_.clear();
    loop_.advance(std::chrono::seconds(1));
    ASSERT_FALSE(changes_.empty());
    EXPECT_EQ(changes_.back().cause, ChangeCause::TimeEdge);
    EXPECT_EQ(check("alice")["reason"], "window_ended");
}

// A grant refused by [limits] gives nothing, its user stays managed and is
// told which rule refused it; lifting the limit (SIGHUP) applies at once.
TEST_F(DaemonTest, RefusedGrantDeniesWithTheRuleUntilTheLimitIsLifted) {
    config_.policy.limits.min_approvers = 2;  // the test grants carry one approver
    make_daemon();
    serve(bundle(1, {TestGrant{"g-9", "erin", true, false, kStart - 60, kStart + 3600}}));
    EXPECT_TRUE(daemon_->grants().grants.empty());
    ASSERT_EQ(daemon_->grants().refused.size(), 1u);
    ASSERT_EQ(sink_.count(EventType::GrantLimited), 1u);
    EXPECT_EQ(sink_.last(EventType::GrantLimited)->field("JIT_ACTION"), "refused");
    auto c = check("erin");
    EXPECT_EQ(c["managed"], "yes");
    EXPECT_EQ(c["decision"], "deny");
    EXPECT_EQ(c["reason"], "host_policy");
    EXPECT_NE(c["message"].find("limits.min_approvers"), std::string::npos) << c["message"];
    const auto* denied = sink_.last(EventType::LoginDenied);
    ASSERT_NE(denied, nullptr);
    EXPECT_EQ(denied->field("JIT_REASON"), "host_policy");

    Config next = config_;
    next.policy.limits.min_approvers = 1;
    daemon_->reload(next, signer_.keys());
    EXPECT_EQ(check("erin")["decision"], "allow");
    EXPECT_EQ(sink_.count(EventType::GrantLimited), 1u);
}

// op=ssh_keys / ssh_principals (jit-authorized-keys): the grant's keys while a
// login window is open, each bounded by expiry-time; only root, the
// AuthorizedKeysCommandUser and the user may ask.
namespace {
// `payload` with ssh_authorized_keys (a JSON array) added to grant `id`.
std::string with_ssh_keys(std::string payload, const std::string& id, const std::string& keys_json) {
    const std::string at = R"({"id":")" + id + R"(",)";
    payload.insert(payload.find(at) + at.size(), R"("ssh_authorized_keys":)" + keys_json + ",");
    return payload;
}
}  // namespace

TEST_F(DaemonTest, SshKeysServeTheGrantsKeysOnlyInsideTheWindow) {
    const std::string key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHiFI+gdazrDM0qbTNwsHxTKiPMdHV5Rg5Cep3O2qjpJ a@b";
    config_.ssh.key_options = "restrict,pty";
    accounts_.users["jit-ssh"] = jit::LocalAccount{120, {"jit-ssh"}};
    make_daemon();
    const std::string keys = "[\"" + key + "\"]";
    const std::string payload = jit::test::payload_json(
        "web-01", 1, kStart, kStart + 900,
        {TestGrant{"g-1", "alice", true, false, kStart + 60, kStart + 3600},
         TestGrant{"g-2", "carol", false, true, kStart, kStart + 3600}});
    serve(signer_.envelope(with_ssh_keys(with_ssh_keys(payload, "g-1", keys), "g-2", keys)));
    const Peer keys_user{120, 120, 55};
    auto before = call({{"op", "ssh_keys"}, {"user", "alice"}}, keys_user);
    EXPECT_EQ(before["status"], "ok");
    EXPECT_EQ(before["keys"], "");
    EXPECT_EQ(before["reason"], "not_yet");
    loop_.advance(std::chrono::seconds(60));
    auto inside = call({{"op", "ssh_keys"}, {"user", "alice"}}, keys_user);
    EXPECT_EQ(inside["keys"], "expiry-time=\"20251127142639Z\",restrict,pty " + key + "\n");
    EXPECT_EQ(inside["count"], "1");
    EXPECT_EQ(call({{"op", "ssh_principals"}, {"user", "alice"}})["principals"],
              "expiry-time=\"20251127142639Z\",restrict,pty alice\n");
    EXPECT_EQ(call({{"op", "ssh_keys"}, {"user", "carol"}})["keys"], "");  // login: false
    EXPECT_EQ(call({{"op", "ssh_keys"}, {"user", "dave"}})["managed"], "no");
    EXPECT_EQ(call({{"op", "ssh_keys"}, {"user", "root"}})["keys"], "");
    // Anyone else: only about themselves.
    const Peer alice{1000, 1000, 77};
    EXPECT_EQ(call({{"op", "ssh_keys"}, {"user", "alice"}}, alice)["count"], "1");
    EXPECT_EQ(call({{"op", "ssh_keys"}, {"user", "carol"}}, alice)["error"], "forbidden");
    EXPECT_EQ(call({{"op", "ssh_principals"}, {"user", "carol"}}, alice)["error"], "forbidden");
    EXPECT_EQ(call({{"op", "ssh_keys"}, {"user", "alice"}}, Peer{4321, 4321, 1})["error"], "unknown_peer");
    EXPECT_EQ(call({{"op", "ssh_keys"}, {"user", "../x"}})["error"], "bad_request");
    loop_.advance(std::chrono::seconds(3540));
    EXPECT_EQ(call({{"op", "ssh_keys"}, {"user", "alice"}}, keys_user)["keys"], "");
    EXPECT_EQ(call({{"op", "ssh_principals"}, {"user", "alice"}}, keys_user)["principals"], "");
}

// A key line with options in front is a malformed grant: the bundle is refused
// whole and the line never reaches sshd.
TEST_F(DaemonTest, SshKeyWithSmuggledOptionsRejectsTheBundle) {
    make_daemon();
    const std::string payload = jit::test::payload_json("web-01", 1, kStart, kStart + 900,
                                                        {TestGrant{"g-1", "alice", true, false, kStart, kStart + 3600}});
    serve(signer_.envelope(with_ssh_keys(
        payload, "g-1",
        R"(["command=\"/bin/sh\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHiFI+gdazrDM0qbTNwsHxTKiPMdHV5Rg5Cep3O2qjpJ"])")));
    EXPECT_EQ(sink_.count(EventType::BundleRejected), 1u);
    EXPECT_EQ(call({{"op", "ssh_keys"}, {"user", "alice"}})["keys"], "");
}

// op=sudo_audit (sudo_jit_audit.so): root only (sudo is setuid root); a
// managed user's command becomes sudo.command / sudo.refused with its command
// line; users jitlogin does not manage are not recorded.
TEST_F(DaemonTest, SudoAuditRecordsManagedUsersCommandsFromRootOnly) {
    make_daemon();
    serve(bundle(1, {TestGrant{"g-1", "alice", true, true, kStart, kStart + 3600, R"(["/usr/bin/id"])"}}));
    const jit::ipc::Message ran = {{"op", "sudo_audit"}, {"event", "accept"}, {"user", "alice"}, {"run_as", "root"},
                                   {"cwd", "/home/alice"}, {"tty", "/dev/pts/3"}, {"argc", "2"},
                                   {"arg.0", "/usr/bin/id"}, {"arg.1", "-u"}};
    EXPECT_EQ(call(ran, Peer{1000, 1000, 77})["error"], "forbidden");
    EXPECT_EQ(sink_.count(EventType::SudoCommand), 0u);
    EXPECT_EQ(call(ran, Peer{0, 1000, 4321})["managed"], "yes");
    const auto* ev = sink_.last(EventType::SudoCommand);
    ASSERT_NE(ev, nullptr);
    EXPECT_EQ(ev->field("JIT_COMMAND"), "/usr/bin/id -u");
    EXPECT_EQ(ev->field("JIT_RUN_AS"), "root");
    EXPECT_EQ(ev->field("JIT_CWD"), "/home/alice");
    EXPECT_EQ(ev->field("JIT_TTY"), "/dev/pts/3");
    EXPECT_EQ(ev->field("JIT_GRANT_ID"), "g-1");
    EXPECT_EQ(ev->field("JIT_PID"), "4321");
    auto refused = ran;
    refused["event"] = "reject";
    refused["message"] = "command not allowed";
    refused["argc"] = "1";
    refused["arg.0"] = "/usr/bin/passwd";
    refused.erase("arg.1");
    EXPECT_EQ(call(refused)["status"], "ok");
    ev = sink_.last(EventType::SudoRefused);
    ASSERT_NE(ev, nullptr);
    EXPECT_EQ(ev->field("JIT_COMMAND"), "/usr/bin/passwd");
    EXPECT_EQ(ev->field("JIT_REASON"), "command not allowed");
    // Not managed: answered, not recorded.
    auto by_dave = ran;
    by_dave["user"] = "dave";
    EXPECT_EQ(call(by_dave)["managed"], "no");
    EXPECT_EQ(sink_.count(EventType::SudoCommand), 1u);
    // Malformed: named.
    auto bad = ran;
    bad["argc"] = "3";
    auto answer = call(bad);
    EXPECT_EQ(answer["error"], "bad_request");
    EXPECT_NE(answer["message"].find("'arg.2' is missing"), std::string::npos) << answer["message"];
}
