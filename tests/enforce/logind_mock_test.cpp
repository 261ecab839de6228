// LogindTerminator / logind_list_sessions / LogindSessionProber over sd-bus
// against python-dbusmock's logind template on a private bus (started by
// logind_mock.sh, which passes its address in JIT_TEST_LOGIND_BUS and checks
// the recorded calls afterwards). Skips when run without it.
#include "helpers.hpp"

#include <jit/enforce/enforcer.hpp>

#include <gtest/gtest.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace jit::enforce {
namespace {

using test::grant;
using test::T0;

class MockLogind : public ::testing::Test {
protected:
    sd_bus* bus = nullptr;
    void SetUp() override {
        const char* addr = std::getenv("JIT_TEST_LOGIND_BUS");
        if (!addr) GTEST_SKIP() << "run through logind_mock.sh (needs dbus-daemon + python3-dbusmock)";
        ASSERT_GE(sd_bus_new(&bus), 0);
        ASSERT_GE(sd_bus_set_address(bus, addr), 0);
        ASSERT_GE(sd_bus_set_bus_client(bus, 1), 0);
        ASSERT_GE(sd_bus_start(bus), 0);
    }
    void TearDown() override {
        if (bus) sd_bus_flush_close_unref(bus);
    }
    // Dispatches the bus until `done()` (the answers come asynchronously);
    // false if that never happens (the mock answers within seconds).
    bool pump(const std::function<bool()>& done) {
        for (int i = 0; i < 600 && !done(); ++i) {
            int r = sd_bus_process(bus, nullptr);
            if (r < 0) return false;
            if (r == 0) sd_bus_wait(bus, 50'000);
        }
        return done();
    }
    // Dispatches what comes within about `ms` (to see that nothing more does).
    void drain(int ms) {
        for (int i = 0; i < ms / 10; ++i) {
            int r = sd_bus_process(bus, nullptr);
            if (r < 0) return;
            if (r == 0) sd_bus_wait(bus, 10'000);
        }
    }
};

class NoFallback final : public Terminator {
public:
    int calls = 0, alive_calls = 0, kills = 0;
    std::vector<std::size_t> batches;  // sizes of the terminate_all batches
    void terminate_all(const std::vector<Session>& sessions, const std::vector<Session>& staying,
                       BatchDone done) override {
        batches.push_back(sessions.size());
        Terminator::terminate_all(sessions, staying, std::move(done));
    }
    const char* name() const override { return "fallback"; }
    void terminate(const Session&, const std::vector<Session>&, Done done) override {
        ++calls;
        done(std::string("fallback-kill"));
    }
    void alive(const Session&, const std::vector<Session>&, bool, AliveDone done) override {
        ++alive_calls;
        done(false);
    }
    void kill(const Session&, const std::vector<Session>&, Done done) override {
        ++kills;
        done(std::string("fallback-kill"));
    }
};

class TestClock final : public Clock {
public:
    UnixTime wall = T0;
    std::int64_t mono = 1000;
    UnixTime now() override { return wall; }
    std::int64_t monotonic_ms() override { return mono; }
};

class NoWarn final : public Warner {
public:
    WarnOutcome warn(const Session&, const std::string&) override { return {}; }
};

// An Enforcer that ends sessions and users through the mock logind.
struct OverTheBus {
    explicit OverTheBus(sd_bus* bus) : term(bus, fallback) {}
    NoFallback fallback;
    LogindTerminator term;
    TestClock clock;
    NoWarn warner;
    audit::RecordingSink sink;
    test::TempDir dir;
    EnforcerOptions o = [this] {
        EnforcerOptions x;
        x.state_path = dir.path() + "/enforce.json";
        return x;
    }();
    Enforcer enf{o, Enforcer::Deps{clock, term, warner, sink, nullptr}};
};

TEST_F(MockLogind, IsDetectedAndListsSessions) {
    EXPECT_TRUE(logind_available(bus, "/nonexistent"));
    AsyncBus calls(bus);
    std::optional<Result<std::vector<LogindSession>>> list;
    logind_list_sessions(calls, [&](Result<std::vector<LogindSession>> r) { list = std::move(r); });
    ASSERT_TRUE(pump([&] { return list.has_value(); }));
    ASSERT_TRUE(list->ok()) << list->error().message;
    std::set<std::string> ids;
    for (const auto& s : list->value()) {
        ids.insert(s.id);
        if (s.id == "7") {
            EXPECT_EQ(s.user, "alice");
            EXPECT_EQ(s.uid, 70001u);
            EXPECT_EQ(s.leader, 1u);
            EXPECT_EQ(s.service, "dbusmock");
            EXPECT_EQ(s.timestamp_usec, 42u);
        }
    }
    EXPECT_TRUE(ids.count("7") && ids.count("8"));
}

// The bus refuses a connection more pending replies than its
// max_replies_per_connection (128 on the system bus; 16 on this private bus,
// logind_mock.sh) with LimitsExceeded: 1,000 sessions ending at once were
// 1,000 TerminateSession calls, and most fell back to signals. Sent all at
// once, 200 calls are refused in part (the limit is real here); through an
// AsyncBus with 8 in flight every one is answered by logind, none refused,
// and never more than 8 await a reply.
TEST_F(MockLogind, ManyCallsAtOnceWaitTheirTurnUnderTheBusLimit) {
    auto burst = [&](std::size_t max_in_flight, int n, int& refused, std::size_t& most) {
        AsyncBus calls(bus, max_in_flight);
        int answered = 0;
        refused = 0;
        most = 0;
        for (int i = 0; i < n; ++i) {
            sd_bus_message* m = nullptr;
            ASSERT_GE(sd_bus_message_new_method_call(bus, &m, "org.freedesktop.login1", "/org/freedesktop/login1",
                                                     "org.freedesktop.login1.Manager", "GetSession"),
                      0);
            ASSERT_GE(sd_bus_message_append(m, "s", "8"), 0);
            calls.call(m, 20'000'000, [&](sd_bus_message*, const std::string& name, const std::string&) {
                ++answered;
                if (name == "org.freedesktop.DBus.Error.LimitsExceeded") ++refused;
            });
            most = std::max(most, calls.in_flight());
        }
        EXPECT_TRUE(pump([&] {
            most = std::max(most, calls.in_flight());
            return answered == n;
        })) << answered << " of " << n << " answered";
        EXPECT_EQ(calls.pending(), 0u);
    };
    int refused = 0;
    std::size_t most = 0;
    burst(1000, 200, refused, most);
    ASSERT_GT(refused, 0) << "the private bus did not limit pending replies: the check below would prove nothing";
    burst(8, 200, refused, most);
    EXPECT_EQ(refused, 0);
    EXPECT_LE(most, 8u);
    EXPECT_GE(most, 2u);
}

TEST_F(MockLogind, PoliteThenHardThroughTheBus) {
    OverTheBus t(bus);
    auto [fallback, term, clock, enf, sink, o] = std::tie(t.fallback, t.term, t.clock, t.enf, t.sink, t.o);
    LogindSessionProber prober(bus);
    auto ended = [&](std::size_t n) { return [&sink, n] { return sink.count(audit::EventType::SessionEnded) >= n; }; };
    ASSERT_TRUE(enf.start([](const std::string& u) { return u == "alice" || u == "bob"; }).ok());
    GrantsUpdate u;
    u.have_bundle = true;
    u.grants = {grant("ga", "alice", T0, T0 + 100), grant("gb", "bob", T0, T0 + 100)};
    enf.update_grants(u);
    for (auto [user, id] : {std::pair{"alice", "7"}, std::pair{"bob", "8"}}) {
        SessionOpen s;
        s.user = user;
        s.uid = 70001;
        s.logind_id = id;
        s.pid = 0;
        enf.session_opened(s);
    }
    // Restart-time discovery sees both through logind's list (no pid known).
    for (const auto& [key, s] : enf.sessions()) EXPECT_FALSE(prober.alive(s).has_value()) << key;
    std::set<std::string> listed;
    ASSERT_TRUE(prober.list([&](Result<std::vector<Session>> r) {
        ASSERT_TRUE(r.ok());
        for (const auto& s : r.value()) listed.insert(s.logind_id);
    }));
    ASSERT_TRUE(pump([&] { return !listed.empty(); }));
    EXPECT_TRUE(listed.count("7") && listed.count("8"));

    clock.wall = T0 + 100;
    enf.evaluate();  // TerminateSession for both; the mock ends "7" only (SessionRemoved confirms it)
    ASSERT_TRUE(pump(ended(1)));
    clock.mono += o.kill_grace_ms;
    enf.evaluate();  // GetSession: 8 still there -> KillSession(8, all, SIGKILL)
    ASSERT_TRUE(pump(ended(2)));
    EXPECT_TRUE(enf.sessions().empty());
    std::map<std::string, std::string> how;
    for (const auto& e : sink.events)
        if (e.type == audit::EventType::SessionEnded) how[std::string(*e.field("JIT_SESSION_ID"))] = *e.field("JIT_HOW");
    EXPECT_EQ(how["7"], "terminate-session");
    EXPECT_EQ(how["8"], "kill-session");
    EXPECT_EQ(fallback.calls, 0);

    // Unknown to logind: NoSuchSession counts as already ended, not as an error.
    Session unknown;
    unknown.key = "logind:99";
    unknown.logind_id = "99";
    std::optional<Result<std::string>> r;
    term.terminate(unknown, {}, [&](Result<std::string> res) { r = std::move(res); });
    ASSERT_TRUE(pump([&] { return r.has_value(); }));
    EXPECT_TRUE(r->ok()) << r->error().message;
    std::optional<bool> alive;
    term.alive(unknown, {}, false, [&](bool a) { alive = a; });
    ASSERT_TRUE(pump([&] { return alive.has_value(); }));
    EXPECT_FALSE(*alive);
}

TEST_F(MockLogind, SessionWithoutLogindIdGoesToTheFallback) {
    NoFallback fallback;
    LogindTerminator term(bus, fallback);
    Session s;
    s.key = "pid:5:pts/1";
    s.pid = 5;
    auto r = test::step(term, &Terminator::terminate, s, {});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value(), "fallback-kill");
    EXPECT_EQ(fallback.calls, 1);
}

// Issue 18: a step logind does not carry out (here it refuses: AccessDenied
// for session 6, as without CAP_KILL or with polkit saying no) is done by the
// fallback, and the caller is told why. Before, the step failed and the
// session was recorded as ended while it still ran.
TEST_F(MockLogind, StepLogindDoesNotCarryOutGoesToTheFallback) {
    NoFallback fallback;
    LogindTerminator term(bus, fallback);
    std::vector<std::string> told;
    term.on_unreachable = [&](const std::string& what) { told.push_back(what); };
    Session s;
    s.key = "logind:6";
    s.logind_id = "6";
    s.uid = 70001;
    std::optional<Result<std::string>> polite, hard;
    std::optional<bool> alive;
    term.terminate(s, {}, [&](Result<std::string> r) { polite = std::move(r); });
    ASSERT_TRUE(pump([&] { return polite.has_value(); }));
    ASSERT_TRUE(polite->ok()) << polite->error().message;
    EXPECT_EQ(polite->value(), "fallback-kill");
    EXPECT_EQ(fallback.calls, 1);
    term.alive(s, {}, false, [&](bool a) { alive = a; });
    ASSERT_TRUE(pump([&] { return alive.has_value(); }));
    EXPECT_FALSE(*alive);  // the fallback's answer, not "assume alive"
    EXPECT_EQ(fallback.alive_calls, 1);
    term.kill(s, {}, [&](Result<std::string> r) { hard = std::move(r); });
    ASSERT_TRUE(pump([&] { return hard.has_value(); }));
    ASSERT_TRUE(hard->ok()) << hard->error().message;
    EXPECT_EQ(hard->value(), "fallback-kill");
    EXPECT_EQ(fallback.kills, 1);
    ASSERT_EQ(told.size(), 2u);
    EXPECT_NE(told[0].find("TerminateSession(6)"), std::string::npos) << told[0];
    EXPECT_NE(told[0].find("AccessDenied"), std::string::npos) << told[0];
    EXPECT_NE(told[1].find("KillSession(6)"), std::string::npos) << told[1];
}

// Issue 18: the connection to the system bus closes (dbus restarted): the
// next call opens a new one on the same loop, and the SessionRemoved match
// comes with it. Before, every later call failed for good.
TEST_F(MockLogind, ConnectionClosedIsOpenedAgainOnTheSameLoop) {
    sd_event* event = nullptr;
    ASSERT_GE(sd_event_new(&event), 0);
    ASSERT_GE(sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL), 0);
    auto run = [&](const std::function<bool()>& done) {
        for (int i = 0; i < 600 && !done(); ++i)
            if (sd_event_run(event, 50'000) < 0) return false;
        return done();
    };
    {
        NoFallback fallback;
        LogindTerminator term(bus, fallback);
        std::vector<std::string> removed;
        term.on_session_removed = [&](const std::string& id) { removed.push_back(id); };
        sd_bus_close(bus);
        Session unknown;
        unknown.key = "logind:99";
        unknown.logind_id = "99";
        std::optional<Result<std::string>> r;
        term.terminate(unknown, {}, [&](Result<std::string> res) { r = std::move(res); });
        ASSERT_TRUE(run([&] { return r.has_value(); }));
        ASSERT_TRUE(r->ok()) << r->error().message;
        EXPECT_EQ(r->value(), "terminate-session");  // logind answered NoSuchSession on the new connection
        EXPECT_EQ(fallback.calls, 0);
    }
    sd_bus_detach_event(bus);
    sd_event_unref(event);
}

// Issue 18: sessions ended together through logind get one TerminateSession
// each; those logind cannot end (no logind id; refused) go to the fallback as
// batches, with one alert line for the refused ones, and the batch answers
// once for every session.
TEST_F(MockLogind, BatchGoesToTheFallbackAsBatches) {
    NoFallback fallback;
    LogindTerminator term(bus, fallback);
    std::vector<std::string> told;
    term.on_unreachable = [&](const std::string& what) { told.push_back(what); };
    std::vector<Session> batch;
    for (const char* id : {"6", "99", ""}) {
        Session s;
        s.logind_id = id;
        s.pid = 4242;
        s.uid = 70001;
        s.key = session_key(s.logind_id, s.pid, "pts/1");
        batch.push_back(s);
    }
    std::optional<Terminator::Outcomes> outs;
    term.terminate_all(batch, {}, [&](Terminator::Outcomes o) { outs = std::move(o); });
    ASSERT_TRUE(pump([&] { return outs.has_value(); }));
    std::map<std::string, std::string> how;
    for (const auto& [key, r] : *outs) {
        ASSERT_TRUE(r.ok()) << key << ": " << r.error().message;
        how[key] = r.value();
    }
    EXPECT_EQ(outs->size(), 3u);
    EXPECT_EQ(how["logind:6"], "fallback-kill");       // refused: AccessDenied
    EXPECT_EQ(how["logind:99"], "terminate-session");  // NoSuchSession: already gone
    EXPECT_EQ(how["pid:4242:pts/1"], "fallback-kill");  // no logind id
    EXPECT_EQ(fallback.batches, (std::vector<std::size_t>{1, 1}));
    ASSERT_EQ(told.size(), 1u);
    EXPECT_NE(told[0].find("TerminateSession(6)"), std::string::npos) << told[0];
}


// Threat model gap 3: a user's manager (user@UID.service, what `systemd-run
// --user` started) is in no session, and a lingering user's manager outlives
// every session. When a user's last grant ends, lingering is switched off and
// the user ended through logind (TerminateUser), then what is left is killed
// after the grace (KillUser, SIGKILL): here carol, who lingers with no
// session. dave still holds a grant and sysd (uid 999) is a system account:
// neither is touched (logind_mock.sh checks the calls logind received).
TEST_F(MockLogind, ALastGrantsEndEndsTheUserManagerToo) {
    OverTheBus t(bus);
    auto [clock, enf, sink, o] = std::tie(t.clock, t.enf, t.sink, t.o);
    ASSERT_TRUE(enf.start([](const std::string&) { return true; }).ok());
    GrantsUpdate u;
    u.have_bundle = true;
    u.grants = {grant("gc", "carol", T0, T0 + 100), grant("gd", "dave", T0, T0 + 200),
                grant("gs", "sysd", T0, T0 + 100)};
    enf.update_grants(u);
    auto ended = [&](std::size_t n) { return [&sink, n] { return sink.count(audit::EventType::UserEnded) >= n; }; };
    auto events = [&] {
        std::vector<std::map<std::string, std::string>> out;
        for (const auto& e : sink.events) {
            if (e.type != audit::EventType::UserEnded) continue;
            std::map<std::string, std::string> f;
            for (const auto& [k, v] : e.fields) f[k] = v;
            out.push_back(f);
        }
        return out;
    };
    // In force: nothing asked of logind yet (the first evaluation's sweep
    // finds every user holding a grant).
    drain(500);
    EXPECT_EQ(sink.count(audit::EventType::UserEnded), 0u);
    EXPECT_FALSE(enf.next_grace_ms().has_value());

    clock.wall = T0 + 100;  // carol's and sysd's grants end; dave's goes on
    enf.evaluate();
    ASSERT_TRUE(pump(ended(1)));
    auto polite = events();
    ASSERT_EQ(polite.size(), 1u);
    EXPECT_EQ(polite[0]["JIT_USER"], "carol");
    EXPECT_EQ(polite[0]["JIT_UID"], "70005");
    EXPECT_EQ(polite[0]["JIT_HOW"], "terminate-user");
    EXPECT_EQ(polite[0]["JIT_STEP"], "polite");
    EXPECT_EQ(polite[0].count("JIT_ERROR"), 0u) << polite[0]["JIT_ERROR"];
    // The hard step is due after the grace; carol is still listed then.
    ASSERT_TRUE(enf.next_grace_ms().has_value());
    EXPECT_EQ(*enf.next_grace_ms(), clock.mono + o.kill_grace_ms);
    enf.evaluate();  // not yet
    drain(500);
    EXPECT_EQ(sink.count(audit::EventType::UserEnded), 1u);
    clock.mono += o.kill_grace_ms;
    enf.evaluate();
    ASSERT_TRUE(pump(ended(2)));
    auto all = events();
    EXPECT_EQ(all[1]["JIT_USER"], "carol");
    EXPECT_EQ(all[1]["JIT_HOW"], "kill-user");
    EXPECT_EQ(all[1]["JIT_STEP"], "hard");
    EXPECT_EQ(all[1].count("JIT_ERROR"), 0u) << all[1]["JIT_ERROR"];
    // Done: nothing more is due for carol.
    EXPECT_FALSE(enf.next_grace_ms().has_value());
    enf.evaluate();
    drain(500);
    EXPECT_EQ(sink.count(audit::EventType::UserEnded), 2u);
    EXPECT_EQ(sink.count(audit::EventType::SecurityAlert), 0u);
}

}  // namespace
}  // namespace jit::enforce
