// The pure window scheduler: edges, warnings, rebinding, revocation, stale.
#include "helpers.hpp"

#include <jit/enforce/scheduler.hpp>

#include <gtest/gtest.h>

namespace jit::enforce {
namespace {

using test::grant;
using test::T0;

Session session(std::string key, std::string user, std::string grant_id) {
    Session s;
    s.key = std::move(key);
    s.user = std::move(user);
    s.uid = 70001;
    s.grant_id = std::move(grant_id);
    return s;
}

std::vector<Action> of_kind(const Plan& p, ActionKind k) {
    std::vector<Action> out;
    for (const Action& a : p.actions)
        if (a.kind == k) out.push_back(a);
    return out;
}

struct World {
    std::vector<Grant> grants;
    SessionMap sessions;
    GrantStates states;
    bool suspended = false;
    Plan at(UnixTime now) const {
        ScheduleInput in;
        in.grants = &grants;
        in.sessions = &sessions;
        in.states = &states;
        in.suspended = suspended;
        in.now = now;
        return plan(in);
    }
};

TEST(Scheduler, NextWakeupIsTheNearestFutureEdge) {
    World w;
    w.grants = {grant("g1", "alice", T0 + 100, T0 + 3600)};
    EXPECT_EQ(w.at(T0).next_wakeup, T0 + 100);                // not_before
    EXPECT_EQ(w.at(T0 + 100).next_wakeup, T0 + 3600 - 600);   // first warning
    EXPECT_EQ(w.at(T0 + 3000).next_wakeup, T0 + 3600 - 60);   // second warning
    EXPECT_EQ(w.at(T0 + 3540).next_wakeup, T0 + 3600);        // not_after
    EXPECT_FALSE(w.at(T0 + 3600).next_wakeup.has_value());
}

TEST(Scheduler, ActivatesAtNotBeforeAndEndsAtNotAfterExactly) {
    World w;
    w.grants = {grant("g1", "alice", T0 + 100, T0 + 200)};
    EXPECT_TRUE(of_kind(w.at(T0 + 99), ActionKind::ActivateGrant).empty());
    auto p = w.at(T0 + 100);
    ASSERT_EQ(of_kind(p, ActionKind::ActivateGrant).size(), 1u);
    w.states["g1"] = {GrantPhase::Active, "alice", T0 + 100, T0 + 200};
    EXPECT_TRUE(of_kind(w.at(T0 + 199), ActionKind::EndGrant).empty());
    auto end = of_kind(w.at(T0 + 200), ActionKind::EndGrant);  // half-open window
    ASSERT_EQ(end.size(), 1u);
    EXPECT_EQ(end[0].cause, EndCause::Expired);
}

TEST(Scheduler, SessionIsTerminatedAtTheEndOfItsGrant) {
    World w;
    w.grants = {grant("g1", "alice", T0, T0 + 200)};
    w.states["g1"] = {GrantPhase::Active, "alice", T0, T0 + 200};
    w.sessions["s1"] = session("s1", "alice", "g1");
    EXPECT_TRUE(of_kind(w.at(T0 + 199), ActionKind::Terminate).empty());
    auto t = of_kind(w.at(T0 + 200), ActionKind::Terminate);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].session_key, "s1");
    EXPECT_EQ(t[0].grant_id, "g1");
    EXPECT_EQ(t[0].cause, EndCause::Expired);
}

TEST(Scheduler, OverlappingGrantOfTheSameUserKeepsTheSessionAlive) {
    World w;
    w.grants = {grant("g1", "alice", T0, T0 + 200), grant("g2", "alice", T0 + 100, T0 + 900)};
    w.sessions["s1"] = session("s1", "alice", "g1");
    w.sessions["s2"] = session("s2", "alice", "g2");
    auto p = w.at(T0 + 200);
    EXPECT_TRUE(of_kind(p, ActionKind::Terminate).empty());
    auto rb = of_kind(p, ActionKind::Rebind);
    ASSERT_EQ(rb.size(), 1u);
    EXPECT_EQ(rb[0].session_key, "s1");
    EXPECT_EQ(rb[0].grant_id, "g2");
}

TEST(Scheduler, OtherUsersSessionsAreNotTouched) {
    World w;
    w.grants = {grant("g1", "alice", T0, T0 + 200), grant("g2", "bob", T0, T0 + 900)};
    w.sessions["a"] = session("a", "alice", "g1");
    w.sessions["b"] = session("b", "bob", "g2");
    auto t = of_kind(w.at(T0 + 300), ActionKind::Terminate);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].session_key, "a");
}

TEST(Scheduler, GrantWithoutLoginDoesNotCoverASession) {
    World w;
    w.grants = {grant("g1", "alice", T0, T0 + 200), grant("sudo-only", "alice", T0, T0 + 900, false)};
    w.sessions["s1"] = session("s1", "alice", "g1");
    EXPECT_EQ(of_kind(w.at(T0 + 200), ActionKind::Terminate).size(), 1u);
}

TEST(Scheduler, WarningsFireOnceAtEachOffsetWithTheSmallestDueOffset) {
    World w;
    w.grants = {grant("g1", "alice", T0, T0 + 3600)};
    w.sessions["s1"] = session("s1", "alice", "g1");
    EXPECT_TRUE(of_kind(w.at(T0 + 2999), ActionKind::Warn).empty());
    auto first = of_kind(w.at(T0 + 3000), ActionKind::Warn);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].offset, 600);
    EXPECT_EQ(first[0].end, T0 + 3600);
    w.sessions["s1"].warned_end = T0 + 3600;
    w.sessions["s1"].warned_offset = 600;
    EXPECT_TRUE(of_kind(w.at(T0 + 3001), ActionKind::Warn).empty());
    auto second = of_kind(w.at(T0 + 3540), ActionKind::Warn);
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].offset, 60);
}

TEST(Scheduler, JumpPastBothOffsetsWarnsOnceWithTheNearest) {
    World w;
    w.grants = {grant("g1", "alice", T0, T0 + 3600)};
    w.sessions["s1"] = session("s1", "alice", "g1");
    auto warn = of_kind(w.at(T0 + 3570), ActionKind::Warn);
    ASSERT_EQ(warn.size(), 1u);
    EXPECT_EQ(warn[0].offset, 60);
}

TEST(Scheduler, RenewalMovesTheEndAndResetsWarnings) {
    World w;
    w.grants = {grant("g1", "alice", T0, T0 + 3600)};
    w.sessions["s1"] = session("s1", "alice", "g1");
    w.sessions["s1"].warned_end = T0 + 3600;
    w.sessions["s1"].warned_offset = 60;
    w.grants[0].not_after = T0 + 7200;  // extension approved, same id
    auto p = w.at(T0 + 3600);
    EXPECT_TRUE(of_kind(p, ActionKind::Terminate).empty());
    EXPECT_TRUE(of_kind(p, ActionKind::Warn).empty());  // 1 h left: no offset due
    EXPECT_EQ(p.next_wakeup, T0 + 7200 - 600);
    auto warn = of_kind(w.at(T0 + 6600), ActionKind::Warn);
    ASSERT_EQ(warn.size(), 1u);
    EXPECT_EQ(warn[0].end, T0 + 7200);
}

TEST(Scheduler, BackToBackGrantsWarnAboutTheRealEnd) {
    World w;
    w.grants = {grant("g1", "alice", T0, T0 + 3600), grant("g2", "alice", T0 + 3600, T0 + 7200)};
    w.sessions["s1"] = session("s1", "alice", "g1");
    EXPECT_TRUE(of_kind(w.at(T0 + 3000), ActionKind::Warn).empty());
    auto warn = of_kind(w.at(T0 + 6600), ActionKind::Warn);
    ASSERT_EQ(warn.size(), 1u);
    EXPECT_EQ(warn[0].grant_id, "g2");
    EXPECT_EQ(warn[0].end, T0 + 7200);
}

TEST(Scheduler, GrantMissingFromTheNewBundleEndsAtOnce) {
    World w;
    w.grants = {};
    w.states["g1"] = {GrantPhase::Active, "alice", T0, T0 + 3600};
    w.states["g2"] = {GrantPhase::Pending, "alice", T0 + 5000, T0 + 6000};
    w.states["old"] = {GrantPhase::Ended, "alice", T0 - 100, T0 - 10};
    w.sessions["s1"] = session("s1", "alice", "g1");
    auto p = w.at(T0 + 10);
    auto ends = of_kind(p, ActionKind::EndGrant);
    ASSERT_EQ(ends.size(), 2u);  // g1 and the never-active g2; not the long-ended one
    for (const auto& e : ends) EXPECT_EQ(e.cause, EndCause::Removed);
    auto t = of_kind(p, ActionKind::Terminate);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].cause, EndCause::Removed);
}

TEST(Scheduler, SuspendedViewEndsEverything) {
    World w;
    w.grants = {grant("g1", "alice", T0, T0 + 3600)};
    w.states["g1"] = {GrantPhase::Active, "alice", T0, T0 + 3600};
    w.sessions["s1"] = session("s1", "alice", "g1");
    w.suspended = true;
    auto p = w.at(T0 + 10);
    auto ends = of_kind(p, ActionKind::EndGrant);
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends[0].cause, EndCause::Suspended);
    auto t = of_kind(p, ActionKind::Terminate);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].cause, EndCause::Suspended);
    EXPECT_TRUE(of_kind(p, ActionKind::ActivateGrant).empty());
}

TEST(Scheduler, SessionWithoutAGrantIsEndedUnlessOneCoversIt) {
    World w;
    w.sessions["s1"] = session("s1", "alice", "");
    auto t = of_kind(w.at(T0), ActionKind::Terminate);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].cause, EndCause::NoGrant);
    w.grants = {grant("g1", "alice", T0, T0 + 100)};
    EXPECT_EQ(of_kind(w.at(T0), ActionKind::Rebind).size(), 1u);
}

TEST(Scheduler, ClockBackwardAfterTheEndReactivates) {
    World w;
    w.grants = {grant("g1", "alice", T0, T0 + 200)};
    w.states["g1"] = {GrantPhase::Ended, "alice", T0, T0 + 200};
    auto p = w.at(T0 + 50);
    EXPECT_EQ(of_kind(p, ActionKind::ActivateGrant).size(), 1u);
    EXPECT_EQ(p.next_wakeup, T0 + 200 - 60);  // the 1-minute warning, then the end again
}

TEST(Scheduler, BindingPicksTheLatestNotAfter) {
    std::vector<Grant> gs = {grant("a", "alice", T0, T0 + 100), grant("b", "alice", T0, T0 + 500),
                             grant("c", "alice", T0, T0 + 900, false), grant("d", "bob", T0, T0 + 9000)};
    const Grant* g = binding_grant(gs, "alice", T0 + 1);
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->id, "b");
    EXPECT_EQ(binding_grant(gs, "alice", T0 + 1, true), nullptr);
    EXPECT_EQ(binding_grant(gs, "carol", T0 + 1), nullptr);
}

TEST(Scheduler, NoBundleMeansNoActions) {
    SessionMap sessions;
    sessions["s1"] = session("s1", "alice", "g1");
    ScheduleInput in;
    in.sessions = &sessions;
    in.now = T0;
    EXPECT_TRUE(plan(in).actions.empty());
}

}  // namespace
}  // namespace jit::enforce
