// Unit tests for the pure access decision (policy/include/jit/decision.hpp).
#include <jit/decision.hpp>
#include <jit/test/grants.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

namespace {

using jit::AccessKind;
using jit::Decision;
using jit::Grant;
using jit::Verdict;
using jit::test::grant;
using jit::test::sudo_grant;

// 2026-11-27 14:00:00 UTC
constexpr jit::UnixTime kNoon2 = 1795788000;

class DecisionTest : public ::testing::Test {
protected:
    void SetUp() override {
        setenv("TZ", "UTC", 1);
        tzset();
        policy.host_id = "web-01";
        policy.request_hint = "'jitctl request'";
        policy.break_glass_users = {"breakglass"};
        view.have_bundle = true;
        view.grants = &grants;
    }

    Decision ask(std::string user, AccessKind kind, jit::UnixTime now, std::string run_as = "", bool managed = true) {
        jit::AccessRequest r;
        r.user = std::move(user);
        r.service = kind == AccessKind::Sudo ? "sudo" : kind == AccessKind::Su ? "su" : "sshd";
        r.kind = kind;
        r.run_as = std::move(run_as);
        r.now = now;
        return jit::decide(r, view, policy, managed);
    }

    jit::HostPolicy policy;
    jit::GrantView view;
    std::vector<Grant> grants;
};

TEST_F(DecisionTest, AllowInsideWindowWithUntilMessage) {
    grants = {grant("g-7f3a", "alice", kNoon2 - 600, kNoon2 + 90 * 60)};
    Decision d = ask("alice", AccessKind::Login, kNoon2 + 43 * 60);
    EXPECT_EQ(d.verdict, Verdict::Allow);
    EXPECT_EQ(d.reason, "active_grant");
    EXPECT_EQ(d.grant_id, "g-7f3a");
    EXPECT_EQ(d.not_after, kNoon2 + 90 * 60);
    EXPECT_EQ(d.message, "jitlogin: access until 15:30 (in 47 min), grant g-7f3a");
}

TEST_F(DecisionTest, BoundaryNotBeforeIsAllowed) {
    grants = {grant("g-1", "alice", kNoon2, kNoon2 + 3600)};
    EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2).verdict, Verdict::Allow);
    Decision before = ask("alice", AccessKind::Login, kNoon2 - 1);
    EXPECT_EQ(before.verdict, Verdict::Deny);
    EXPECT_EQ(before.reason, "not_yet");
    EXPECT_EQ(before.message, "jitlogin: login window opens at 14:00 (in less than a minute), grant g-1");
}

TEST_F(DecisionTest, BoundaryNotAfterIsDenied) {
    grants = {grant("g-1", "alice", kNoon2 - 3600, kNoon2 + 5 * 60)};
    EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2 + 5 * 60 - 1).verdict, Verdict::Allow);
    Decision d = ask("alice", AccessKind::Login, kNoon2 + 5 * 60);
    EXPECT_EQ(d.verdict, Verdict::Deny);
    EXPECT_EQ(d.reason, "window_ended");
    EXPECT_EQ(d.grant_id, "g-1");
    EXPECT_EQ(d.message, "jitlogin: access window ended at 14:05 (less than a minute ago), grant g-1");
}

TEST_F(DecisionTest, WindowEndedLongAgoSaysHowLong) {
    grants = {grant("g-1", "alice", kNoon2 - 7200, kNoon2 - 3 * 3600 / 2)};
    Decision d = ask("alice", AccessKind::Login, kNoon2);
    EXPECT_EQ(d.message, "jitlogin: access window ended at 12:30 (1 h 30 min ago), grant g-1");
}

TEST_F(DecisionTest, NotYetPicksEarliestUpcoming) {
    grants = {grant("g-late", "alice", kNoon2 + 7200, kNoon2 + 9000),
              grant("g-soon", "alice", kNoon2 + 47 * 60, kNoon2 + 9000),
              grant("g-old", "alice", kNoon2 - 9000, kNoon2 - 7200)};
    Decision d = ask("alice", AccessKind::Login, kNoon2);
    EXPECT_EQ(d.reason, "not_yet");
    EXPECT_EQ(d.grant_id, "g-soon");
    EXPECT_EQ(d.message, "jitlogin: login window opens at 14:47 (in 47 min), grant g-soon");
}

// Two fitting grants ending at the same second: the decision names the ruling
// one (the smallest id), as enforcement and NSS do, whatever the bundle's
// order. It used to name whichever the bundle listed first.
TEST_F(DecisionTest, TiesNameTheSmallestIdWhateverTheBundleOrder) {
    for (bool reversed : {false, true}) {
        grants = {grant("g-b", "alice", kNoon2 - 600, kNoon2 + 3600), grant("g-a", "alice", kNoon2 - 60, kNoon2 + 3600)};
        if (reversed) std::swap(grants[0], grants[1]);
        EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2).grant_id, "g-a") << reversed;
        grants = {grant("g-b", "alice", kNoon2 + 60, kNoon2 + 3600), grant("g-a", "alice", kNoon2 + 60, kNoon2 + 600)};
        if (reversed) std::swap(grants[0], grants[1]);
        EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2).grant_id, "g-a") << "not_yet " << reversed;
        grants = {grant("g-b", "alice", kNoon2 - 600, kNoon2 - 60), grant("g-a", "alice", kNoon2 - 900, kNoon2 - 60)};
        if (reversed) std::swap(grants[0], grants[1]);
        EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2).grant_id, "g-a") << "window_ended " << reversed;
        grants = {grant("g-b", "alice", kNoon2 - 600, kNoon2 + 60, false),
                  grant("g-a", "alice", kNoon2 - 900, kNoon2 + 60, false)};
        if (reversed) std::swap(grants[0], grants[1]);
        EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2).grant_id, "g-a") << "no_login " << reversed;
    }
}

TEST_F(DecisionTest, NoGrantNamesUserHostAndHint) {
    grants = {grant("g-bob", "bob", kNoon2 - 60, kNoon2 + 60)};
    Decision d = ask("alice", AccessKind::Login, kNoon2);
    EXPECT_EQ(d.verdict, Verdict::Deny);
    EXPECT_EQ(d.reason, "no_grant");
    EXPECT_EQ(d.grant_id, "");
    EXPECT_EQ(d.message, "jitlogin: no active grant for alice on web-01; request one with 'jitctl request'");
    policy.request_hint.clear();
    policy.host_id.clear();
    EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2).message, "jitlogin: no active grant for alice");
}

TEST_F(DecisionTest, OverlappingGrantsChooseLatestNotAfter) {
    grants = {grant("g-a", "alice", kNoon2 - 600, kNoon2 + 600),
              grant("g-b", "alice", kNoon2 - 60, kNoon2 + 3600),
              grant("g-c", "alice", kNoon2 - 6000, kNoon2 + 1200)};
    Decision d = ask("alice", AccessKind::Login, kNoon2);
    EXPECT_EQ(d.verdict, Verdict::Allow);
    EXPECT_EQ(d.grant_id, "g-b");
    EXPECT_EQ(d.not_after, kNoon2 + 3600);
    // After g-b ends at 15:00, nothing is active.
    EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2 + 3600).reason, "window_ended");
    EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2 + 3600).grant_id, "g-b");
}

TEST_F(DecisionTest, LoginFalseDeniesLoginAndSu) {
    grants = {sudo_grant("g-s", "alice", kNoon2 - 60, kNoon2 + 60)};
    Decision d = ask("alice", AccessKind::Login, kNoon2);
    EXPECT_EQ(d.verdict, Verdict::Deny);
    EXPECT_EQ(d.reason, "no_login");
    EXPECT_EQ(d.message, "jitlogin: grant g-s for alice does not allow login");
    EXPECT_EQ(ask("alice", AccessKind::Su, kNoon2).reason, "no_login");
    // ...but sudo is fine.
    EXPECT_EQ(ask("alice", AccessKind::Sudo, kNoon2).verdict, Verdict::Allow);
}

TEST_F(DecisionTest, SudoAbsentDeniesSudo) {
    grants = {grant("g-l", "alice", kNoon2 - 60, kNoon2 + 60)};
    Decision d = ask("alice", AccessKind::Sudo, kNoon2, "root");
    EXPECT_EQ(d.verdict, Verdict::Deny);
    EXPECT_EQ(d.reason, "no_sudo");
    EXPECT_EQ(d.message, "jitlogin: grant g-l for alice does not allow sudo");
    EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2).verdict, Verdict::Allow);
}

TEST_F(DecisionTest, RunAsHonouredWhenKnown) {
    grants = {sudo_grant("g-pg", "alice", kNoon2 - 60, kNoon2 + 60, "postgres")};
    EXPECT_EQ(ask("alice", AccessKind::Sudo, kNoon2, "postgres").verdict, Verdict::Allow);
    EXPECT_EQ(ask("alice", AccessKind::Sudo, kNoon2, "").verdict, Verdict::Allow);  // unknown: sudoers decides
    Decision d = ask("alice", AccessKind::Sudo, kNoon2, "root");
    EXPECT_EQ(d.verdict, Verdict::Deny);
    EXPECT_EQ(d.reason, "run_as");
    EXPECT_EQ(d.message, "jitlogin: grant g-pg allows sudo as postgres, not as root");
}

TEST_F(DecisionTest, RunAsMismatchExplainedBeforeMissingSudo) {
    grants = {grant("g-l", "alice", kNoon2 - 60, kNoon2 + 60),
              sudo_grant("g-pg", "alice", kNoon2 - 60, kNoon2 + 60, "postgres")};
    Decision d = ask("alice", AccessKind::Sudo, kNoon2, "root");
    EXPECT_EQ(d.reason, "run_as");
    EXPECT_EQ(d.grant_id, "g-pg");
}

TEST_F(DecisionTest, SudoWithTwoGrantsPicksTheMatchingRunAs) {
    grants = {sudo_grant("g-root", "alice", kNoon2 - 60, kNoon2 + 600, "root"),
              sudo_grant("g-pg", "alice", kNoon2 - 60, kNoon2 + 6000, "postgres")};
    Decision d = ask("alice", AccessKind::Sudo, kNoon2, "root");
    EXPECT_EQ(d.verdict, Verdict::Allow);
    EXPECT_EQ(d.grant_id, "g-root");
}

TEST_F(DecisionTest, SudoUpcomingAndNoSudoGrant) {
    grants = {sudo_grant("g-s", "alice", kNoon2 + 600, kNoon2 + 1200)};
    Decision d = ask("alice", AccessKind::Sudo, kNoon2, "root");
    EXPECT_EQ(d.reason, "not_yet");
    EXPECT_EQ(d.message, "jitlogin: sudo window opens at 14:10 (in 10 min), grant g-s");
    grants.clear();
    EXPECT_EQ(ask("alice", AccessKind::Sudo, kNoon2).message,
              "jitlogin: no active sudo grant for alice on web-01; request one with 'jitctl request'");
}

TEST_F(DecisionTest, ActiveMisfitBeatsUpcomingFit) {
    // Alice may log in later, and has an active sudo-only grant now: explain the active one.
    grants = {sudo_grant("g-s", "alice", kNoon2 - 60, kNoon2 + 60), grant("g-l", "alice", kNoon2 + 600, kNoon2 + 900)};
    EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2).reason, "no_login");
}

TEST_F(DecisionTest, NoBundleDeniesManagedUsers) {
    view.have_bundle = false;
    view.grants = nullptr;
    Decision d = ask("alice", AccessKind::Login, kNoon2);
    EXPECT_EQ(d.verdict, Verdict::Deny);
    EXPECT_EQ(d.reason, "no_bundle");
    EXPECT_EQ(d.message, "jitlogin: no grants received from the authority yet; access for alice is refused");
}

TEST_F(DecisionTest, StaleHonourKeepsGrantsSuspendDenies) {
    grants = {grant("g-1", "alice", kNoon2 - 60, kNoon2 + 60)};
    view.stale = true;
    policy.stale_policy = jit::HostPolicy::StalePolicy::Honour;
    EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2).verdict, Verdict::Allow);
    policy.stale_policy = jit::HostPolicy::StalePolicy::Suspend;
    Decision d = ask("alice", AccessKind::Login, kNoon2);
    EXPECT_EQ(d.verdict, Verdict::Deny);
    EXPECT_EQ(d.reason, "stale");
    EXPECT_EQ(d.message.rfind("jitlogin: grants are stale", 0), 0u);
}

// grants_suspended: the one "suspended" rule (decide, the daemon's published
// grants and enforcement ask it).
TEST(GrantsSuspended, OnlyStaleUnderSuspend) {
    jit::HostPolicy p;
    p.stale_policy = jit::HostPolicy::StalePolicy::Honour;
    EXPECT_FALSE(jit::grants_suspended(false, p));
    EXPECT_FALSE(jit::grants_suspended(true, p));
    EXPECT_STREQ(jit::to_string(p.stale_policy), "honour");
    p.stale_policy = jit::HostPolicy::StalePolicy::Suspend;
    EXPECT_FALSE(jit::grants_suspended(false, p));
    EXPECT_TRUE(jit::grants_suspended(true, p));
    EXPECT_STREQ(jit::to_string(p.stale_policy), "suspend");
}

TEST_F(DecisionTest, BreakGlassAndUnmanagedAreNotManaged) {
    view.have_bundle = false;  // even with nothing known
    Decision bg = ask("breakglass", AccessKind::Login, kNoon2, "", /*managed=*/true);
    EXPECT_EQ(bg.verdict, Verdict::NotManaged);
    EXPECT_EQ(bg.reason, "break_glass");
    EXPECT_TRUE(bg.message.empty());
    Decision local = ask("ops", AccessKind::Sudo, kNoon2, "root", /*managed=*/false);
    EXPECT_EQ(local.verdict, Verdict::NotManaged);
    EXPECT_EQ(local.reason, "not_managed");
}

TEST_F(DecisionTest, MessagesAreOneLineWithPrefix) {
    grants = {grant("g-1", "alice", kNoon2 - 60, kNoon2 + 60)};
    for (AccessKind k : {AccessKind::Login, AccessKind::Sudo, AccessKind::Su})
        for (jit::UnixTime t : {kNoon2 - 3600, kNoon2, kNoon2 + 3600}) {
            Decision d = ask("alice", k, t, "root");
            EXPECT_EQ(d.message.rfind("jitlogin: ", 0), 0u) << d.message;
            EXPECT_EQ(d.message.find('\n'), std::string::npos);
            EXPECT_LT(d.message.size(), 160u);
        }
}

TEST_F(DecisionTest, IsManagedRules) {
    grants = {grant("g-1", "carol", kNoon2 - 60, kNoon2 + 60)};
    policy.managed_groups = {"jit-users"};
    jit::LocalAccount none;
    jit::LocalAccount system_user{1000u, {"users"}};
    jit::LocalAccount in_range{70501u, {}};
    jit::LocalAccount in_group{1001u, {"jit-users"}};
    EXPECT_FALSE(jit::is_managed("ops", system_user, view, policy));
    EXPECT_TRUE(jit::is_managed("carol", none, view, policy));           // named by a grant
    EXPECT_TRUE(jit::is_managed("dave", in_range, view, policy));        // managed uid range
    EXPECT_FALSE(jit::is_managed("dave", jit::LocalAccount{69999u, {}}, view, policy));
    EXPECT_TRUE(jit::is_managed("dave", jit::LocalAccount{79999u, {}}, view, policy));
    EXPECT_FALSE(jit::is_managed("dave", jit::LocalAccount{80000u, {}}, view, policy));
    EXPECT_TRUE(jit::is_managed("erin", in_group, view, policy));        // managed group
    EXPECT_FALSE(jit::is_managed("root", in_range, view, policy));
    EXPECT_FALSE(jit::is_managed("toor", jit::LocalAccount{0u, {}}, view, policy));
    grants.push_back(grant("g-bg", "breakglass", kNoon2 - 60, kNoon2 + 60));
    EXPECT_FALSE(jit::is_managed("breakglass", in_range, view, policy));
    EXPECT_FALSE(jit::is_managed("", in_range, view, policy));
}

TEST(ClassifyService, KnownNames) {
    EXPECT_EQ(jit::classify_service("sudo"), AccessKind::Sudo);
    EXPECT_EQ(jit::classify_service("sudo-i"), AccessKind::Sudo);
    EXPECT_EQ(jit::classify_service("sudo-jit"), AccessKind::Sudo);
    EXPECT_EQ(jit::classify_service("su"), AccessKind::Su);
    EXPECT_EQ(jit::classify_service("su-l"), AccessKind::Su);
    EXPECT_EQ(jit::classify_service("runuser-l"), AccessKind::Su);
    EXPECT_EQ(jit::classify_service("sshd"), AccessKind::Login);
    EXPECT_EQ(jit::classify_service("login"), AccessKind::Login);
    EXPECT_EQ(jit::classify_service("sudoers"), AccessKind::Login);  // only sudo, sudo-i, sudo-*
    EXPECT_EQ(jit::classify_service("superuser"), AccessKind::Login);
    EXPECT_EQ(jit::parse_access_kind("sudo"), AccessKind::Sudo);
    EXPECT_EQ(jit::parse_access_kind("Sudo"), std::nullopt);
    for (AccessKind k : {AccessKind::Login, AccessKind::Sudo, AccessKind::Su})
        EXPECT_EQ(jit::parse_access_kind(jit::to_string(k)), k);
    EXPECT_EQ(jit::parse_access_kind(""), std::nullopt);
    EXPECT_STREQ(jit::to_string(Verdict::NotManaged), "ignore");
}

TEST(FormatTime, DurationsAndDates) {
    setenv("TZ", "UTC", 1);
    tzset();
    EXPECT_EQ(jit::format_duration(59), "less than a minute");
    EXPECT_EQ(jit::format_duration(60), "1 min");
    EXPECT_EQ(jit::format_duration(3599), "59 min");
    EXPECT_EQ(jit::format_duration(3600), "1 h");
    EXPECT_EQ(jit::format_duration(3660), "1 h 1 min");
    EXPECT_EQ(jit::format_duration(86400 + 3600 * 4 + 59), "1 d 4 h");
    EXPECT_EQ(jit::format_duration(-120), "2 min");
    EXPECT_EQ(jit::format_when(kNoon2 + 86400, kNoon2), "2026-11-28 14:00 (in 1 d)");
    EXPECT_EQ(jit::format_when(kNoon2 - 3600, kNoon2), "13:00 (1 h ago)");
    setenv("TZ", "Europe/Berlin", 1);  // local time, not UTC (if tzdata has it)
    tzset();
    std::string berlin = jit::format_when(kNoon2, kNoon2);
    setenv("TZ", "UTC", 1);
    tzset();
    EXPECT_TRUE(berlin == "15:00 (less than a minute ago)") << berlin;
}

}  // namespace

// Host limits (policy/include/jit/limits.hpp) seen through the decision: the
// view holds the bounded grants, the refused ones and the notes.
class LimitedDecisionTest : public DecisionTest {
protected:
    void bound(const std::vector<Grant>& received) {
        bounded = jit::apply_limits(received, policy.limits);
        grants = bounded.grants;
        view.refused = &bounded.refused;
        view.limit_notes = &bounded.notes;
    }
    jit::BoundedGrants bounded;
};

TEST_F(LimitedDecisionTest, RefusedGrantDeniesNamingTheRuleAndKeepsTheUserManaged) {
    policy.limits.min_approvers = 2;
    Grant g = grant("g-1", "alice", kNoon2 - 600, kNoon2 + 3600);
    g.requested_by = "alice";
    g.approved_by = {"bob"};
    bound({g});
    jit::LocalAccount none;
    EXPECT_TRUE(jit::is_managed("alice", none, view, policy));
    Decision d = ask("alice", AccessKind::Login, kNoon2);
    EXPECT_EQ(d.verdict, Verdict::Deny);
    EXPECT_EQ(d.reason, "host_policy");
    EXPECT_EQ(d.grant_id, "g-1");
    EXPECT_EQ(d.message, "jitlogin: grant g-1 for alice is refused by this host's limits "
                         "(limits.min_approvers: grant (1 independent approver(s), 2 needed))");
    EXPECT_EQ(d.limits, "limits.min_approvers: refused grant (1 independent approver(s), 2 needed)");
}

TEST_F(LimitedDecisionTest, ClampedWindowEndsAtTheClampAndSaysWhy) {
    policy.limits.max_window = 3600;
    bound({grant("g-1", "alice", kNoon2 - 600, kNoon2 + 8 * 3600)});
    Decision inside = ask("alice", AccessKind::Login, kNoon2);
    EXPECT_EQ(inside.verdict, Verdict::Allow);
    EXPECT_EQ(inside.not_after, kNoon2 + 3000);
    EXPECT_EQ(inside.message, "jitlogin: access until 14:50 (in 50 min), grant g-1 (limits.max_window on this host)");
    Decision after = ask("alice", AccessKind::Login, kNoon2 + 3000);
    EXPECT_EQ(after.verdict, Verdict::Deny);
    EXPECT_EQ(after.reason, "window_ended");
    EXPECT_EQ(after.limits, "limits.max_window: clamped not_after 1795816800 -> 1795791000");
}

TEST_F(LimitedDecisionTest, SudoTakenAwayByRunAsLimitNamesTheRule) {
    policy.limits.allowed_run_as = {{"www-data"}};
    Grant g = sudo_grant("g-1", "alice", kNoon2 - 600, kNoon2 + 3600);
    g.login = true;
    bound({g});
    EXPECT_EQ(ask("alice", AccessKind::Login, kNoon2).verdict, Verdict::Allow);
    Decision d = ask("alice", AccessKind::Sudo, kNoon2, "root");
    EXPECT_EQ(d.verdict, Verdict::Deny);
    EXPECT_EQ(d.reason, "no_sudo");
    EXPECT_EQ(d.message, "jitlogin: grant g-1 for alice does not allow sudo (limits.allowed_run_as on this host)");
}

TEST_F(LimitedDecisionTest, AnAcceptedGrantBeatsARefusedOne) {
    policy.limits.min_approvers = 1;
    Grant ok = grant("g-ok", "alice", kNoon2 - 600, kNoon2 + 3600);
    ok.approved_by = {"bob"};
    Grant refused = grant("g-no", "alice", kNoon2 - 600, kNoon2 + 7200);
    bound({refused, ok});
    Decision d = ask("alice", AccessKind::Login, kNoon2);
    EXPECT_EQ(d.verdict, Verdict::Allow);
    EXPECT_EQ(d.grant_id, "g-ok");
    EXPECT_EQ(d.limits, "");
}

// docs/threat-model.md (a JIT user outliving the window): cron, atd and
// systemd's user manager run the PAM account phase under their own service
// names; with pam_jit.so in common-account (the Debian package's pam-config)
// they are login checks, so a job or a user manager started after the window
// is refused like an ssh login.
TEST_F(DecisionTest, ScheduledJobsAndTheUserManagerAreLoginChecks) {
    grants = {grant("g-1", "alice", kNoon2 - 3600, kNoon2)};
    for (const char* service : {"cron", "atd", "systemd-user"}) {
        EXPECT_EQ(jit::classify_service(service), AccessKind::Login) << service;
        jit::AccessRequest r;
        r.user = "alice";
        r.service = service;
        r.kind = jit::classify_service(service);
        r.now = kNoon2 - 1;
        EXPECT_EQ(jit::decide(r, view, policy, true).verdict, Verdict::Allow) << service;
        r.now = kNoon2;
        const Decision after = jit::decide(r, view, policy, true);
        EXPECT_EQ(after.verdict, Verdict::Deny) << service;
        EXPECT_EQ(after.reason, "window_ended") << service;
    }
}
