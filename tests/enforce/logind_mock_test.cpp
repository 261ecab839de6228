// LogindTerminator / logind_list_sessions / LogindSessionProber over sd-bus
// against python-dbusmock's logind template on a private bus (started by
// logind_mock.sh, which passes its address in JIT_TEST_LOGIND_BUS and checks
// the recorded calls afterwards). Skips when run without it.
#include "helpers.hpp"

#include <jit/enforce/enforcer.hpp>

#include <gtest/gtest.h>
#include <systemd/sd-bus.h>

#include <cstdlib>
#include <set>

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
};

class NoFallback final : public Terminator {
public:
    int calls = 0;
    const char* name() const override { return "fallback"; }
    Result<std::string> terminate(const Session&, const std::vector<Session>&) override {
        ++calls;
        return std::string("fallback-kill");
    }
    bool alive(const Session&, const std::vector<Session>&) override { return false; }
    Result<std::string> kill(const Session&, const std::vector<Session>&) override { return std::string("fallback-kill"); }
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

TEST_F(MockLogind, IsDetectedAndListsSessions) {
    EXPECT_TRUE(logind_available(bus, "/nonexistent"));
    auto list = logind_list_sessions(bus);
    ASSERT_TRUE(list.ok()) << list.error().message;
    std::set<std::string> ids;
    for (const auto& s : *list) {
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

TEST_F(MockLogind, PoliteThenHardThroughTheBus) {
    NoFallback fallback;
    LogindTerminator term(bus, fallback);
    TestClock clock;
    NoWarn warner;
    audit::RecordingSink sink;
    test::TempDir dir;
    EnforcerOptions o;
    o.state_path = dir.path() + "/enforce.json";
    LogindSessionProber prober(bus);
    Enforcer enf(o, Enforcer::Deps{clock, term, warner, sink, nullptr});
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
    // Restart-time discovery sees both as alive through logind (no pid known).
    for (const auto& [key, s] : enf.sessions()) EXPECT_TRUE(prober.alive(s)) << key;

    clock.wall = T0 + 100;
    enf.evaluate();  // TerminateSession for both; the mock ends "7" only
    clock.mono += o.kill_grace_ms;
    enf.evaluate();  // GetSession: 7 is gone, 8 still there -> KillSession(8, all, SIGKILL)
    EXPECT_TRUE(enf.sessions().empty());
    std::map<std::string, std::string> how;
    for (const auto& e : sink.events)
        if (e.type == audit::EventType::SessionEnded) how[std::string(*e.field("JIT_SESSION_ID"))] = *e.field("JIT_HOW");
    EXPECT_EQ(how["7"], "terminate-session");
    EXPECT_EQ(how["8"], "kill-session");
    EXPECT_EQ(fallback.calls, 0);

    Session gone;
    gone.logind_id = "7";
    EXPECT_FALSE(prober.alive(gone));
    // Unknown to logind: NoSuchSession counts as already ended, not as an error.
    Session unknown;
    unknown.key = "logind:99";
    unknown.logind_id = "99";
    auto r = term.terminate(unknown, {});
    EXPECT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(term.alive(unknown, {}));
}

TEST_F(MockLogind, SessionWithoutLogindIdGoesToTheFallback) {
    NoFallback fallback;
    LogindTerminator term(bus, fallback);
    Session s;
    s.key = "pid:5:pts/1";
    s.pid = 5;
    auto r = term.terminate(s, {});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value(), "fallback-kill");
    EXPECT_EQ(fallback.calls, 1);
}

}  // namespace
}  // namespace jit::enforce
