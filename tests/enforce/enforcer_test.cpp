// The Enforcer with an injected clock and fake terminator/warner: what the
// audit trail, the terminals and the sessions see at each edge.
#include "helpers.hpp"

#include <jit/enforce/enforcer.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sys/stat.h>

#include <atomic>
#include <csignal>
#include <mutex>

namespace jit::enforce {
namespace {

using audit::EventType;
using test::FakeTerminator;
using test::grant;
using test::T0;

class FakeClock final : public Clock {
public:
    UnixTime wall = T0;
    std::int64_t mono = 5'000'000;
    UnixTime now() override { return wall; }
    std::int64_t monotonic_ms() override { return mono; }
    void advance(std::int64_t seconds) {
        wall += seconds;
        mono += seconds * 1000;
    }
};

class FakeWarner final : public Warner {
public:
    std::vector<std::pair<std::string, std::string>> lines;  // session key, line
    WarnOutcome warn(const Session& s, const std::string& line) override {
        lines.emplace_back(s.key, line);
        WarnOutcome o;
        o.written.push_back("/dev/pts/test");
        return o;
    }
};

class EnforcerTest : public ::testing::Test {
protected:
    test::TempDir dir;
    FakeClock clock;
    FakeTerminator term;
    FakeWarner warner;
    audit::RecordingSink sink;
    std::unique_ptr<Enforcer> enf;
    int schedule_calls = 0;

    EnforcerOptions options() {
        EnforcerOptions o;
        o.state_path = dir.path() + "/enforce.json";
        o.host_name = "web-01";
        o.kill_grace_ms = 5000;
        return o;
    }
    void make(SessionProber* prober = nullptr) {
        enf = std::make_unique<Enforcer>(options(), Enforcer::Deps{clock, term, warner, sink, prober});
        enf->on_schedule_change = [this] { ++schedule_calls; };
        ASSERT_TRUE(enf->start([](const std::string&) { return true; }).ok());
    }
    void grants(std::vector<Grant> gs, std::vector<Revocation> revoked = {}, bool suspended = false) {
        GrantsUpdate u;
        u.have_bundle = true;
        u.grants = std::move(gs);
        u.revoked = std::move(revoked);
        u.revision = ++revision;
        u.suspended = suspended;
        enf->update_grants(u);
    }
    std::string open(const std::string& user, pid_t pid, const std::string& tty = "pts/1", const std::string& grant_id = "") {
        SessionOpen o;
        o.grant_id = grant_id;
        o.user = user;
        o.uid = 70001;
        o.service = "sshd";
        o.tty = tty;
        o.rhost = "192.0.2.1";
        o.pid = pid;
        return enf->session_opened(o);
    }
    // Runs the driver's job: wake at each wall edge / grace deadline up to `until`.
    void run_until(UnixTime until) {
        for (int guard = 0; guard < 1000; ++guard) {
            std::optional<UnixTime> next = enf->next_wakeup();
            std::optional<std::int64_t> grace = enf->next_grace_ms();
            UnixTime grace_wall = grace ? clock.wall + (*grace - clock.mono + 999) / 1000 : 0;
            UnixTime t = 0;
            if (next) t = *next;
            if (grace && (!t || grace_wall < t)) t = grace_wall;
            if (!t || t > until) break;
            clock.advance(t - clock.wall);
            enf->evaluate();
        }
        clock.advance(until - clock.wall);
        enf->evaluate();
    }
    int revision = 0;
};

// A session is bound to the grant the decision that allowed it named (the
// Enforcer does not choose again), and moves to another grant only when that
// one stops covering it.
TEST_F(EnforcerTest, SessionIsBoundToTheGrantItsDecisionNamed) {
    make();
    grants({grant("g-short", "alice", T0, T0 + 600), grant("g-long", "alice", T0, T0 + 7200)});
    const std::string key = open("alice", 4242, "pts/1", "g-short");
    EXPECT_EQ(enf->sessions().at(key).grant_id, "g-short");
    run_until(T0 + 601);
    ASSERT_EQ(enf->sessions().count(key), 1u);
    EXPECT_EQ(enf->sessions().at(key).grant_id, "g-long");
    EXPECT_EQ(sink.count(EventType::SessionEnded), 0u);
}

TEST_F(EnforcerTest, SessionEndedAtNotAfterWithWarningsFirst) {
    make();
    grants({grant("g-7f3a", "alice", T0, T0 + 3600)});
    EXPECT_EQ(sink.count(EventType::GrantActivated), 1u);
    const std::string key = open("alice", 4242);
    EXPECT_EQ(enf->sessions().at(key).grant_id, "g-7f3a");
    EXPECT_EQ(enf->next_wakeup(), T0 + 3000);

    run_until(T0 + 3599);
    ASSERT_EQ(warner.lines.size(), 2u);
    EXPECT_NE(warner.lines[0].second.find("jitlogin: access to web-01 ends at "), std::string::npos);
    EXPECT_NE(warner.lines[0].second.find("(in 10 min), grant g-7f3a"), std::string::npos);
    EXPECT_NE(warner.lines[1].second.find("(in 1 min)"), std::string::npos);
    EXPECT_EQ(sink.count(EventType::SessionWarned), 2u);
    EXPECT_EQ(*sink.last(EventType::SessionWarned)->field("JIT_SECONDS_LEFT"), "60");
    EXPECT_TRUE(term.terminated.empty());

    run_until(T0 + 3600);
    ASSERT_EQ(term.terminated.size(), 1u);
    EXPECT_EQ(sink.count(EventType::GrantEnded), 1u);
    EXPECT_EQ(sink.count(EventType::SessionEnded), 0u);  // still in its grace
    ASSERT_TRUE(enf->next_grace_ms().has_value());
    run_until(T0 + 3606);
    EXPECT_TRUE(term.killed.empty());  // it went away after TerminateSession
    const auto* ended = sink.last(EventType::SessionEnded);
    ASSERT_NE(ended, nullptr);
    EXPECT_EQ(*ended->field("JIT_HOW"), "terminate-session");
    EXPECT_EQ(*ended->field("JIT_STEP"), "polite");
    EXPECT_EQ(*ended->field("JIT_REASON"), "window_ended");
    EXPECT_EQ(*ended->field("JIT_GRANT_ID"), "g-7f3a");
    EXPECT_TRUE(enf->sessions().empty());
}

TEST_F(EnforcerTest, StubbornSessionIsKilledAfterTheGrace) {
    make();
    grants({grant("g1", "alice", T0, T0 + 100)});
    const std::string key = open("alice", 4242);
    term.stubborn.insert(key);
    run_until(T0 + 100);
    EXPECT_EQ(term.terminated.size(), 1u);
    clock.mono += 4999;
    enf->evaluate();
    EXPECT_TRUE(term.killed.empty());
    clock.mono += 1;
    enf->evaluate();
    ASSERT_EQ(term.killed.size(), 1u);
    EXPECT_EQ(*sink.last(EventType::SessionEnded)->field("JIT_HOW"), "kill-session");
    EXPECT_EQ(*sink.last(EventType::SessionEnded)->field("JIT_STEP"), "hard");
    EXPECT_TRUE(enf->sessions().empty());
}

TEST_F(EnforcerTest, RevocationEndsTheSessionAtOnceWithWhoAndWhy) {
    make();
    grants({grant("g1", "alice", T0, T0 + 3600), grant("g2", "bob", T0, T0 + 3600)});
    const std::string a = open("alice", 100);
    const std::string b = open("bob", 200);
    clock.advance(60);
    grants({grant("g2", "bob", T0, T0 + 3600)}, {{"g1", T0 + 60, "carol", "done early"}});
    ASSERT_EQ(term.terminated.size(), 1u);
    EXPECT_EQ(term.terminated[0], a);
    const auto* rev = sink.last(EventType::GrantRevoked);
    ASSERT_NE(rev, nullptr);
    EXPECT_EQ(*rev->field("JIT_REVOKED_BY"), "carol");
    EXPECT_EQ(*rev->field("JIT_REASON"), "done early");
    EXPECT_EQ(*rev->field("JIT_USER"), "alice");
    // Bob's session stays and is not in the way of alice's termination.
    EXPECT_EQ(term.staying_seen[a], std::vector<std::string>{b});
    EXPECT_TRUE(enf->sessions().count(b));
    run_until(T0 + 70);
    EXPECT_EQ(*sink.last(EventType::SessionEnded)->field("JIT_REASON"), "revoked");
}

TEST_F(EnforcerTest, RenewalExtendsTheSession) {
    make();
    grants({grant("g1", "alice", T0, T0 + 600)});
    open("alice", 100);
    run_until(T0 + 550);
    ASSERT_EQ(warner.lines.size(), 2u);  // 10 min (at once: only 600 s) and 1 min
    grants({grant("g1", "alice", T0, T0 + 7200)});
    EXPECT_EQ(enf->next_wakeup(), T0 + 6600);
    run_until(T0 + 7199);
    EXPECT_TRUE(term.terminated.empty());
    EXPECT_EQ(warner.lines.size(), 4u);  // warned again about the new end
    EXPECT_EQ(sink.count(EventType::GrantEnded), 0u);
    run_until(T0 + 7200);
    EXPECT_EQ(term.terminated.size(), 1u);
}

TEST_F(EnforcerTest, OverlappingGrantsForOneUser) {
    make();
    grants({grant("short", "alice", T0, T0 + 1000), grant("long", "alice", T0 + 500, T0 + 5000)});
    const std::string first = open("alice", 100);  // bound to "short" (only active one)
    EXPECT_EQ(enf->sessions().at(first).grant_id, "short");
    clock.advance(600);
    const std::string second = open("alice", 200);
    EXPECT_EQ(enf->sessions().at(second).grant_id, "long");
    run_until(T0 + 1000);
    EXPECT_EQ(sink.count(EventType::GrantEnded), 1u);
    EXPECT_TRUE(term.terminated.empty());  // "long" covers both
    EXPECT_EQ(enf->sessions().at(first).grant_id, "long");
    // No warning about "short"'s end: access really ends with "long".
    for (const auto& [key, line] : warner.lines) EXPECT_NE(line.find("grant long"), std::string::npos) << line;
    run_until(T0 + 5000);
    EXPECT_EQ(term.terminated.size(), 2u);
}

TEST_F(EnforcerTest, ClockJumpForwardEndsAtOnceWithOneWarningFirst) {
    make();
    grants({grant("g1", "alice", T0, T0 + 3600)});
    open("alice", 100);
    clock.wall += 3590;  // realtime only
    enf->evaluate();
    EXPECT_EQ(warner.lines.size(), 1u);
    EXPECT_TRUE(term.terminated.empty());
    clock.wall += 100;
    enf->evaluate();
    EXPECT_EQ(term.terminated.size(), 1u);
}

TEST_F(EnforcerTest, ClockJumpBackwardKeepsEndedSessionsEndedAndRearmsTheTimer) {
    make();
    grants({grant("g1", "alice", T0, T0 + 3600)});
    open("alice", 100);
    clock.wall += 1000;
    enf->evaluate();
    EXPECT_EQ(enf->next_wakeup(), T0 + 3000);
    clock.wall -= 900;  // backwards: the next edge is still the absolute one
    enf->evaluate();
    EXPECT_EQ(enf->next_wakeup(), T0 + 3000);
    EXPECT_TRUE(term.terminated.empty());
    EXPECT_TRUE(warner.lines.empty());
    // Jump past the end, the session is ended; jump back: the grant is in
    // force again (logins allowed by the clock) but nothing is re-warned for
    // the same end, and the ended session does not come back.
    clock.wall = T0 + 3700;
    enf->evaluate();
    EXPECT_EQ(term.terminated.size(), 1u);
    clock.mono += 6000;
    enf->evaluate();
    EXPECT_TRUE(enf->sessions().empty());
    clock.wall = T0 + 3000;
    enf->evaluate();
    EXPECT_EQ(sink.count(EventType::GrantActivated), 2u);
    EXPECT_EQ(enf->next_wakeup(), T0 + 3540);
}

TEST_F(EnforcerTest, RestartMidWindowKeepsTheTableAndTheWarningsGiven) {
    make();
    grants({grant("g1", "alice", T0, T0 + 3600)});
    const std::string key = open("alice", 100);
    run_until(T0 + 3100);
    EXPECT_EQ(warner.lines.size(), 1u);
    enf.reset();  // the daemon stops

    clock.advance(200);
    make();  // no prober: the persisted sessions are kept as they are
    ASSERT_EQ(enf->sessions().size(), 1u);
    EXPECT_EQ(enf->sessions().at(key).warned_offset, 600);
    grants({grant("g1", "alice", T0, T0 + 3600)});  // the daemon hands over its cached bundle
    EXPECT_EQ(sink.count(EventType::GrantActivated), 1u);  // already announced before the restart
    EXPECT_EQ(warner.lines.size(), 1u);                    // not warned twice
    run_until(T0 + 3600);
    EXPECT_EQ(warner.lines.size(), 2u);
    EXPECT_EQ(term.terminated, std::vector<std::string>{key});
}

// Threat model gap 3: when a user's last grant ends, what runs outside every
// session (their user manager, lingering) is ended too: the polite step at
// once, the hard one after the grace. A listing that fails is alerted once
// per distinct error and asked again a minute later.
TEST_F(EnforcerTest, ALastGrantsEndEndsTheUserTooAndAFailedListingIsAskedAgain) {
    make();
    term.user_managers = {{"alice", 70001}, {"bob", 70002}};
    grants({grant("ga", "alice", T0, T0 + 100), grant("gb", "bob", T0, T0 + 200)});
    EXPECT_TRUE(term.users_asked.empty());  // both hold a grant in force

    term.users_error = "ListUsers: no connection to the system bus";
    clock.advance(100);  // alice's grant ends; bob's goes on
    enf->evaluate();
    ASSERT_EQ(term.users_asked.size(), 1u);
    EXPECT_EQ(term.users_asked[0], (std::pair<std::vector<std::string>, bool>{{"alice"}, false}));
    EXPECT_EQ(sink.count(EventType::SecurityAlert), 1u);
    EXPECT_EQ(sink.events.back().field("JIT_ALERT"), std::optional<std::string_view>("user_end"));
    ASSERT_TRUE(enf->next_grace_ms().has_value());
    EXPECT_EQ(*enf->next_grace_ms(), clock.mono + 60'000);
    enf->evaluate();  // not due again yet
    EXPECT_EQ(term.users_asked.size(), 1u);
    clock.mono += 60'000;
    enf->evaluate();  // asked again, fails the same way: no second alert
    EXPECT_EQ(term.users_asked.size(), 2u);
    EXPECT_EQ(sink.count(EventType::SecurityAlert), 1u);

    term.users_error.reset();
    clock.mono += 60'000;
    enf->evaluate();
    ASSERT_EQ(term.users_asked.size(), 3u);
    EXPECT_EQ(term.users_asked[2], (std::pair<std::vector<std::string>, bool>{{"alice"}, false}));
    ASSERT_EQ(sink.count(EventType::UserEnded), 1u);
    EXPECT_EQ(*enf->next_grace_ms(), clock.mono + 5000);
    clock.mono += 5000;
    enf->evaluate();
    ASSERT_EQ(term.users_asked.size(), 4u);
    EXPECT_EQ(term.users_asked[3], (std::pair<std::vector<std::string>, bool>{{"alice"}, true}));
    ASSERT_EQ(sink.count(EventType::UserEnded), 2u);
    EXPECT_EQ(sink.events.back().field("JIT_HOW"), std::optional<std::string_view>("kill-user"));
    enf->evaluate();  // nothing more for alice
    EXPECT_EQ(term.users_asked.size(), 4u);

    clock.advance(100);  // bob's ends: his sessions' end and his user's
    enf->evaluate();
    ASSERT_EQ(term.users_asked.size(), 5u);
    EXPECT_EQ(term.users_asked[4], (std::pair<std::vector<std::string>, bool>{{"bob"}, false}));
}

// A user who holds a grant in force again before the grace is over keeps
// what runs: no hard step.
TEST_F(EnforcerTest, AUserBackInForceBeforeTheGraceIsNotKilled) {
    make();
    term.user_managers = {{"alice", 70001}};
    grants({grant("ga", "alice", T0, T0 + 100)});
    clock.advance(100);
    enf->evaluate();
    ASSERT_EQ(term.users_asked.size(), 1u);
    grants({grant("ga2", "alice", T0 + 100, T0 + 3600)});
    clock.mono += 5000;
    enf->evaluate();
    EXPECT_EQ(term.users_asked.size(), 1u);
    EXPECT_EQ(sink.count(EventType::UserEnded), 1u);
}

// After a restart, every user who held a grant here and holds none in force
// is asked about once: an end that was not done before the daemon stopped
// (here the listing failed) is done then, although the grant's end was
// recorded before and is not announced again.
TEST_F(EnforcerTest, RestartAsksAboutEveryUserWhoseGrantsAreOver) {
    make();
    term.users_error = "ListUsers: no connection to the system bus";
    grants({grant("ga", "alice", T0, T0 + 100), grant("gb", "bob", T0, T0 + 3600)});
    clock.advance(100);
    enf->evaluate();
    ASSERT_EQ(term.users_asked.size(), 1u);
    EXPECT_EQ(sink.count(EventType::GrantEnded), 1u);
    enf.reset();  // the daemon stops

    clock.advance(10);
    term.users_error.reset();
    term.users_asked.clear();
    term.user_managers = {{"alice", 70001}, {"bob", 70002}};
    make();
    grants({grant("ga", "alice", T0, T0 + 100), grant("gb", "bob", T0, T0 + 3600)});
    EXPECT_EQ(sink.count(EventType::GrantEnded), 1u);  // not again
    ASSERT_EQ(term.users_asked.size(), 1u);
    EXPECT_EQ(term.users_asked[0], (std::pair<std::vector<std::string>, bool>{{"alice"}, false}));
    EXPECT_EQ(sink.count(EventType::UserEnded), 1u);
}

class ListProber final : public SessionProber {
public:
    std::set<std::string> live;
    std::vector<Session> extra;
    const char* name() const override { return "test"; }
    std::optional<bool> alive(const Session& s) override { return live.count(s.key) > 0; }
    bool list(Listed done) override {
        done(extra);
        return true;
    }
};

TEST_F(EnforcerTest, RestartDropsSessionsThatAreGoneAndAdoptsLiveOnes) {
    make();
    grants({grant("g1", "alice", T0, T0 + 3600)});
    const std::string gone = open("alice", 100);
    const std::string live = open("alice", 200, "pts/2");
    enf.reset();

    ListProber prober;
    prober.live.insert(live);
    Session adopted;
    adopted.logind_id = "71";
    adopted.user = "alice";
    adopted.uid = 70001;
    adopted.key = session_key("71", 300, "pts/3");
    prober.extra.push_back(adopted);
    prober.live.insert(adopted.key);
    make(&prober);
    EXPECT_EQ(enf->sessions().size(), 2u);
    EXPECT_FALSE(enf->sessions().count(gone));
    EXPECT_TRUE(enf->sessions().count("logind:71"));
    EXPECT_EQ(*sink.last(EventType::SessionClosed)->field("JIT_REASON"), "gone_at_start");
    grants({grant("g1", "alice", T0, T0 + 3600)});
    EXPECT_EQ(enf->sessions().at("logind:71").grant_id, "g1");  // adopted and bound
    // A session whose process disappears without a close is dropped at the next evaluation.
    prober.live.erase(live);
    enf->evaluate();
    EXPECT_FALSE(enf->sessions().count(live));
    EXPECT_EQ(*sink.last(EventType::SessionClosed)->field("JIT_REASON"), "gone");
    EXPECT_TRUE(term.terminated.empty());
}

// Names sessions as logind does (id and leader pid, as a registration names them).
class LogindLikeProber final : public SessionProber {
public:
    std::vector<Session> sessions;
    const char* name() const override { return "logind-like"; }
    std::optional<bool> alive(const Session& s) override {
        for (const Session& l : sessions)
            if (l.key == s.key || (s.pid > 0 && l.pid == s.pid)) return true;
        return false;
    }
    bool list(Listed done) override {
        done(sessions);
        return true;
    }
    bool adopts_unregistered() const override { return true; }
};

// A session whose session_open never reached the daemon (a hand-written stack
// without a required session line, or any session that escaped registration):
// the live session of a managed user that was never registered is adopted at
// the next listing (about once a minute): bound when a grant covers it, ended
// when none does. A session registered under its leader pid
// is not taken twice; one of a user jitlogin does not manage is left alone.
TEST_F(EnforcerTest, UnregisteredSessionsOfManagedUsersAreAdoptedAtTheNextListing) {
    LogindLikeProber prober;
    enf = std::make_unique<Enforcer>(options(), Enforcer::Deps{clock, term, warner, sink, &prober});
    ASSERT_TRUE(enf->start([](const std::string& u) { return u != "ops"; }).ok());
    grants({grant("g1", "alice", T0, T0 + 3600)});
    auto logind = [](const std::string& id, const std::string& user, pid_t pid) {
        Session s;
        s.logind_id = id;
        s.user = user;
        s.uid = 70001;
        s.pid = pid;
        s.tty = "pts/" + id;
        s.key = session_key(id, pid, s.tty);
        return s;
    };
    prober.sessions = {logind("1", "alice", 100)};
    const std::string registered = open("alice", 100);  // no logind id reached the daemon
    // Then three sessions start whose session_open never arrived.
    prober.sessions.push_back(logind("2", "alice", 200));
    prober.sessions.push_back(logind("3", "bob", 300));
    prober.sessions.push_back(logind("4", "ops", 400));
    ASSERT_TRUE(enf->next_wakeup().has_value());
    EXPECT_LE(*enf->next_wakeup(), clock.now() + 60);  // the driver wakes it within the minute
    clock.advance(60);
    enf->evaluate();
    EXPECT_TRUE(enf->sessions().count(registered));
    EXPECT_FALSE(enf->sessions().count("logind:1"));  // the registered one, by its leader pid
    ASSERT_TRUE(enf->sessions().count("logind:2"));
    EXPECT_EQ(enf->sessions().at("logind:2").grant_id, "g1");  // covered by alice's grant
    EXPECT_FALSE(enf->sessions().count("logind:4"));           // not managed: never touched
    EXPECT_EQ(term.terminated, std::vector<std::string>{"logind:3"});  // bob has no grant
    int adopted = 0;
    for (const auto& e : sink.events)
        if (e.type == EventType::SessionOpened && e.field("JIT_REASON") &&
            *e.field("JIT_REASON") == "adopted_unregistered")
            ++adopted;
    EXPECT_EQ(adopted, 2);
    // Listed again a minute later: nothing is adopted twice.
    clock.advance(60);
    enf->evaluate();
    int again = 0;
    for (const auto& e : sink.events)
        if (e.type == EventType::SessionOpened && e.field("JIT_REASON") &&
            *e.field("JIT_REASON") == "adopted_unregistered")
            ++again;
    EXPECT_EQ(again, 2);
}

// The daemon stops 1 s after ending a session (inside the grace): the decision
// was on disk, so after the restart the trail says jitlogin ended it, once.
TEST_F(EnforcerTest, RestartInsideTheGraceCompletesTheEndOnce) {
    ListProber prober;
    make(&prober);
    grants({grant("g1", "alice", T0, T0 + 3600)});
    prober.live.insert(session_key("", 100, "pts/1"));
    const std::string key = open("alice", 100);
    clock.advance(60);
    grants({}, {{"g1", T0 + 60, "carol", "done early"}});
    ASSERT_EQ(term.terminated, std::vector<std::string>{key});
    clock.advance(1);
    enf.reset();  // stopped inside the grace
    auto saved = load_state(dir.path() + "/enforce.json");
    ASSERT_TRUE(saved.ok());
    ASSERT_TRUE(saved->sessions.at(key).ending);
    EXPECT_EQ(saved->sessions.at(key).end_reason, "revoked");

    prober.live.erase(key);  // the session went while the daemon was down
    make(&prober);
    EXPECT_EQ(sink.count(EventType::SessionEnded), 1u);
    EXPECT_EQ(sink.count(EventType::SessionClosed), 0u) << "not 'ended while jit-helperd was not running'";
    const auto* ended = sink.last(EventType::SessionEnded);
    EXPECT_EQ(*ended->field("JIT_REASON"), "revoked");
    EXPECT_EQ(*ended->field("JIT_HOW"), "terminate-session");
    EXPECT_EQ(*ended->field("JIT_GRANT_ID"), "g1");
    EXPECT_TRUE(enf->sessions().empty());
    grants({});
    run_until(T0 + 200);
    EXPECT_EQ(sink.count(EventType::SessionEnded), 1u);
    make(&prober);  // and once more: nothing left to say
    EXPECT_EQ(sink.count(EventType::SessionEnded), 1u);
}

TEST_F(EnforcerTest, RestartInsideTheGraceEndsASessionThatStillRuns) {
    ListProber prober;
    make(&prober);
    grants({grant("g1", "alice", T0, T0 + 100)});
    prober.live.insert(session_key("", 100, "pts/1"));
    const std::string key = open("alice", 100);
    term.stubborn.insert(key);
    run_until(T0 + 100);
    ASSERT_EQ(term.terminated.size(), 1u);
    enf.reset();
    make(&prober);  // still running: the polite step again, the hard one after the grace
    EXPECT_EQ(term.terminated.size(), 2u);
    EXPECT_EQ(sink.count(EventType::SessionEnded), 0u);
    ASSERT_TRUE(enf->next_grace_ms().has_value());
    clock.mono = *enf->next_grace_ms();
    enf->evaluate();
    EXPECT_EQ(term.killed, std::vector<std::string>{key});
    EXPECT_EQ(sink.count(EventType::SessionEnded), 1u);
    EXPECT_EQ(*sink.last(EventType::SessionEnded)->field("JIT_STEP"), "hard");
    EXPECT_EQ(*sink.last(EventType::SessionEnded)->field("JIT_REASON"), "window_ended");
}

// sshd sends session_close from the leader while it exits on SIGTERM: the end
// is confirmed then, not kill_grace later.
TEST_F(EnforcerTest, CloseDuringTheGraceEndsItAtOnceWhenOnlyTheLeaderIsLeft) {
    make();
    grants({grant("g1", "alice", T0, T0 + 100)});
    const std::string key = open("alice", 100);
    term.leader_only.insert(key);
    run_until(T0 + 100);
    EXPECT_EQ(sink.count(EventType::SessionEnded), 0u);
    enf->session_closed(key);
    ASSERT_EQ(sink.count(EventType::SessionEnded), 1u);
    EXPECT_EQ(*sink.last(EventType::SessionEnded)->field("JIT_STEP"), "polite");
    ASSERT_FALSE(term.alive_asked.empty());
    EXPECT_TRUE(term.alive_asked.back().second) << "asked with the leader closing";
    EXPECT_TRUE(enf->sessions().empty());
    EXPECT_FALSE(enf->next_grace_ms().has_value());
    clock.mono += 10'000;
    enf->evaluate();
    EXPECT_TRUE(term.killed.empty());
    EXPECT_EQ(sink.count(EventType::SessionEnded), 1u);
}

// logind answers late (or not for seconds): nothing waits for it, the rest of
// the enforcer keeps working, and the session is ended once the answers come.
TEST_F(EnforcerTest, SlowTerminatorAnswersAreAwaitedWithoutBlocking) {
    make();
    grants({grant("g1", "alice", T0, T0 + 100), grant("g2", "bob", T0, T0 + 3600)});
    const std::string a = open("alice", 100);
    term.hold = true;
    term.stubborn.insert(a);
    run_until(T0 + 100);
    EXPECT_EQ(term.held(), 1u);  // TerminateSession asked, no answer yet
    const std::string b = open("bob", 200, "pts/2");  // other work goes on meanwhile
    EXPECT_TRUE(enf->sessions().count(b));
    clock.mono += 5000;
    enf->evaluate();  // the grace is over: liveness asked, still unanswered
    EXPECT_EQ(term.held(), 2u);
    EXPECT_FALSE(enf->next_grace_ms().has_value()) << "no timer re-armed in a loop while the check is pending";
    enf->evaluate();
    EXPECT_EQ(term.held(), 2u) << "asked once";
    term.release();  // terminate-session and "alive" arrive; KillSession asked
    EXPECT_EQ(term.killed, std::vector<std::string>{a});
    EXPECT_EQ(sink.count(EventType::SessionEnded), 0u);
    term.release();
    ASSERT_EQ(sink.count(EventType::SessionEnded), 1u);
    EXPECT_EQ(*sink.last(EventType::SessionEnded)->field("JIT_HOW"), "kill-session");
    EXPECT_TRUE(enf->sessions().count(b));
    EXPECT_FALSE(enf->sessions().count(a));
}

TEST_F(EnforcerTest, StaleSuspendEndsSessions) {
    make();
    grants({grant("g1", "alice", T0, T0 + 3600)});
    open("alice", 100);
    grants({grant("g1", "alice", T0, T0 + 3600)}, {}, /*suspended=*/true);
    EXPECT_EQ(term.terminated.size(), 1u);
    EXPECT_EQ(*sink.last(EventType::GrantEnded)->field("JIT_CAUSE"), "stale");
}

TEST_F(EnforcerTest, SessionOpenedWithoutACoveringGrantIsEnded) {
    make();
    grants({grant("g1", "alice", T0 + 100, T0 + 3600)});
    open("alice", 100);
    EXPECT_EQ(term.terminated.size(), 1u);
}

TEST_F(EnforcerTest, SessionClosedDuringTheGraceCountsAsEndedPolitely) {
    make();
    grants({grant("g1", "alice", T0, T0 + 100)});
    const std::string key = open("alice", 100);
    run_until(T0 + 100);
    ASSERT_EQ(term.terminated.size(), 1u);
    enf->session_closed(key);  // sshd's PAM close_session arrives, nothing is left
    EXPECT_EQ(*sink.last(EventType::SessionEnded)->field("JIT_STEP"), "polite");
    EXPECT_TRUE(enf->sessions().empty());
    clock.mono += 10000;
    enf->evaluate();
    EXPECT_TRUE(term.killed.empty());
}

TEST_F(EnforcerTest, CloseDuringTheGraceDoesNotSpareWhatStillRuns) {
    make();
    grants({grant("g1", "alice", T0, T0 + 100)});
    const std::string key = open("alice", 100);
    term.stubborn.insert(key);
    run_until(T0 + 100);
    enf->session_closed(key);  // the leader closed, but processes of the session survive SIGTERM
    EXPECT_EQ(sink.count(EventType::SessionEnded), 0u);
    clock.mono += 5000;
    enf->evaluate();
    ASSERT_EQ(term.killed, std::vector<std::string>{key});
    EXPECT_EQ(*sink.last(EventType::SessionEnded)->field("JIT_STEP"), "hard");
}

TEST_F(EnforcerTest, LogoutRemovesTheSession) {
    make();
    grants({grant("g1", "alice", T0, T0 + 100)});
    const std::string key = open("alice", 100);
    enf->session_closed(key);
    run_until(T0 + 200);
    EXPECT_TRUE(term.terminated.empty());
    EXPECT_EQ(sink.count(EventType::GrantEnded), 1u);
}

TEST_F(EnforcerTest, NothingHappensBeforeTheFirstBundle) {
    make();
    open("alice", 100);
    enf->evaluate();
    EXPECT_TRUE(term.terminated.empty());
    EXPECT_FALSE(enf->next_wakeup().has_value());
}

TEST_F(EnforcerTest, CorruptStateFileIsAnErrorNotAnEmptyTable) {
    {
        std::ofstream(dir.path() + "/enforce.json") << "{\"version\": 1, \"sessions\": [{\"user\": 5}]}";
    }
    Enforcer e(options(), Enforcer::Deps{clock, term, warner, sink, nullptr});
    auto r = e.start();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "enforce.state");
    EXPECT_NE(r.error().message.find("sessions[0].user"), std::string::npos) << r.error().message;
}

TEST_F(EnforcerTest, StateFileIsPrivateAndReplacedAtomically) {
    make();
    grants({grant("g1", "alice", T0, T0 + 100)});
    open("alice", 100);
    struct stat st {};
    ASSERT_EQ(::stat((dir.path() + "/enforce.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))  // no temporary file left
        EXPECT_FALSE(e.path().filename().string().starts_with(".tmp.")) << e.path();
}

// ---- many sessions ending at once, through the /proc fallback ---------------

// A host of made-up processes for the /proc fallback: the terminator reads it
// as its process table (each read is one full /proc scan, counted) and
// signals it (SIGTERM ends the processes that do not ignore it, SIGKILL ends
// all). Read and signalled on the terminator's worker thread.
class FakeHost final : public Signaller {
public:
    std::atomic<int> scans{0};
    void add(const ProcInfo& p, bool ignores_term) {
        std::lock_guard<std::mutex> lock(mu_);
        procs_[p.pid] = p;
        if (ignores_term) stubborn_.insert(p.pid);
    }
    ProcTable read() {
        ++scans;
        std::lock_guard<std::mutex> lock(mu_);
        std::vector<ProcInfo> all;
        for (const auto& [pid, p] : procs_) all.push_back(p);
        return ProcTable::from(std::move(all), "/nonexistent");
    }
    Status send(pid_t pid, std::uint64_t start, int sig) override {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = procs_.find(pid);
        if (it != procs_.end() && it->second.start == start && (sig == SIGKILL || !stubborn_.count(pid)))
            procs_.erase(it);
        return Ok{};
    }
    std::size_t running() {
        std::lock_guard<std::mutex> lock(mu_);
        return procs_.size();
    }

private:
    std::mutex mu_;
    std::map<pid_t, ProcInfo> procs_;
    std::set<pid_t> stubborn_;
};

// Issue 18: many sessions whose grants end at the same second (one per user:
// sessions of one user ended together may take each other's processes, which
// would blur which step ended which),
// ended without logind. Before, each session's end had its own /proc scans
// (the liveness check and the hard step per session) and its own durable
// rewrite of the table: quadratic. Now the sessions ended together are one
// batch: one scan per step (SIGTERM for all, one liveness check after the
// grace, SIGKILL for those left) and one table write per batch of answers
// (the decision, the SIGTERM answers, the liveness answers, the SIGKILL
// answers; two that the loop handles in the same turn share one), whatever
// the number of sessions.
TEST(ManySessions, EndingTogetherIsOneScanPerStepAndOneWritePerBatch) {
    constexpr int kUsers = 48, kPerUser = 1;
    constexpr std::size_t kSessions = kUsers * kPerUser;
    test::TempDir dir;
    FakeClock clock;
    FakeWarner warner;
    audit::RecordingSink sink;
    helperd::ManualLoop loop;
    FakeHost host;

    // The table as a previous run left it: every session registered, each a
    // leader with one child; the child of every third session ignores SIGTERM.
    PersistedState st;
    std::vector<Grant> gs;
    std::set<std::string> stubborn_keys;
    const pid_t pid0 = 3'900'000;
    for (int u = 0; u < kUsers; ++u) {
        const std::string user = "msu" + std::to_string(u);
        const std::uint32_t uid = 70000 + u;
        Grant g = grant("g" + std::to_string(u), user, T0, T0 + 600);
        gs.push_back(g);
        for (int k = 0; k < kPerUser; ++k) {
            const int n = u * kPerUser + k;
            ProcInfo leader;
            leader.pid = leader.sid = leader.pgid = pid0 + 2 * n;
            leader.ppid = 1;
            leader.start = 5000 + n;
            leader.state = 'S';
            leader.ruid = leader.euid = leader.suid = leader.fsuid = uid;
            ProcInfo child = leader;
            child.pid = leader.pid + 1;
            child.ppid = leader.pid;
            host.add(leader, false);
            host.add(child, n % 3 == 0);
            Session s;
            s.user = user;
            s.uid = uid;
            s.service = "sshd";
            s.pid = leader.pid;
            s.pid_start = leader.start;
            s.opened_at = T0 - 10;
            s.grant_id = g.id;
            s.key = session_key("", s.pid, "");
            if (n % 3 == 0) stubborn_keys.insert(s.key);
            st.sessions[s.key] = s;
        }
    }
    EnforcerOptions o;
    o.state_path = dir.path() + "/enforce.json";
    o.kill_grace_ms = 2000;
    ASSERT_TRUE(save_state(o.state_path, st).ok());
    FallbackTerminator term(host, DiscoveryOptions{}, "/proc", [&loop](std::function<void()> cb) { loop.post(std::move(cb)); },
                            [&host](const std::string&) { return host.read(); });
    Enforcer enf(o, Enforcer::Deps{clock, term, warner, sink, nullptr, &loop});
    ASSERT_TRUE(enf.start([](const std::string&) { return true; }).ok());
    GrantsUpdate update;
    update.have_bundle = true;
    update.grants = gs;
    update.revision = 1;
    enf.update_grants(update);
    loop.run_posted(false);

    // Not before not_after.
    clock.advance(599);
    enf.evaluate();
    loop.run_posted(false);
    EXPECT_EQ(host.scans, 0);
    EXPECT_EQ(enf.sessions().size(), kSessions);
    EXPECT_EQ(host.running(), 2 * kSessions);
    EXPECT_EQ(sink.count(EventType::SessionEnded), 0u);

    // not_after: every end is decided (on disk first), then SIGTERM for all in one scan.
    clock.advance(1);
    std::uint64_t writes = enf.table_writes();
    enf.evaluate();
    auto polite_answered = [&] {
        for (const auto& [key, s] : enf.sessions())
            if (s.end_how.empty()) return false;
        return true;
    };
    for (int guard = 0; guard < 100 && !polite_answered(); ++guard) loop.run_posted(true);
    loop.run_posted(false);
    ASSERT_TRUE(polite_answered());
    EXPECT_EQ(host.scans, 1) << "SIGTERM step";
    EXPECT_EQ(enf.table_writes() - writes, 2u) << "the decision, then how the SIGTERM step went";
    EXPECT_EQ(host.running(), stubborn_keys.size());  // each stubborn session's child
    EXPECT_EQ(enf.sessions().size(), kSessions);       // confirmed after the grace, not before
    for (const auto& [key, s] : enf.sessions()) EXPECT_TRUE(s.ending) << key;

    // After the grace: one liveness scan for all, one SIGKILL scan for those left.
    clock.mono += o.kill_grace_ms;
    writes = enf.table_writes();
    enf.evaluate();
    for (int guard = 0; guard < 100 && !enf.sessions().empty(); ++guard) loop.run_posted(true);
    loop.run_posted(false);
    EXPECT_TRUE(enf.sessions().empty());
    EXPECT_EQ(host.scans, 3) << "liveness and SIGKILL steps";
    EXPECT_GE(enf.table_writes() - writes, 1u);
    EXPECT_LE(enf.table_writes() - writes, 2u) << "one write when the polite ends are confirmed, one after SIGKILL";
    EXPECT_EQ(host.running(), 0u);
    ASSERT_EQ(sink.count(EventType::SessionEnded), kSessions);
    for (const auto& e : sink.events) {
        if (e.type != EventType::SessionEnded) continue;
        const std::string key = "pid:" + std::string(*e.field("JIT_PID")) + ":";
        EXPECT_EQ(*e.field("JIT_STEP"), stubborn_keys.count(key) ? "hard" : "polite") << key;
        EXPECT_EQ(*e.field("JIT_HOW"), "fallback-kill");
    }
    auto on_disk = load_state(o.state_path);
    ASSERT_TRUE(on_disk.ok());
    EXPECT_TRUE(on_disk.value().sessions.empty());
}

}  // namespace
}  // namespace jit::enforce
