// Table tests of the host limits on grants (policy/include/jit/limits.hpp):
// (grant, limits) -> effective grant + notes.
#include <jit/limits.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace {

using jit::Grant;
using jit::GrantLimits;
using jit::LimitAction;

constexpr jit::UnixTime kStart = 1795788000;
constexpr jit::UnixTime kHour = 3600;

Grant base_grant() {
    Grant g;
    g.id = "g-1";
    g.user = "alice";
    g.login = true;
    g.sudo = jit::SudoRule{"root", {"ALL"}};
    g.groups = {"developers"};
    g.shell = "/bin/zsh";
    g.not_before = kStart;
    g.not_after = kStart + 8 * kHour;
    g.requested_by = "alice";
    g.approved_by = {"bob"};
    return g;
}

// What the notes say, as "rule action detail" lines, for exact comparison.
std::vector<std::string> lines(const std::vector<jit::LimitNote>& notes) {
    std::vector<std::string> out;
    for (const auto& n : notes) {
        EXPECT_EQ(n.grant_id, "g-1");
        EXPECT_EQ(n.user, "alice");
        out.push_back(jit::describe(n));
    }
    return out;
}

struct Case {
    const char* name;
    void (*limit)(GrantLimits&);
    void (*tweak)(Grant&);
    bool refused;
    void (*expect)(const Grant& effective);
    std::vector<std::string> notes;
};

const std::vector<Case>& cases() {
    static const std::vector<Case> table = {
        {"defaults_keep_an_ordinary_grant", [](GrantLimits&) {}, [](Grant&) {}, false,
         [](const Grant& g) {
             EXPECT_EQ(g.groups, std::vector<std::string>{"developers"});
             ASSERT_TRUE(g.sudo);
             EXPECT_EQ(g.sudo->commands, std::vector<std::string>{"ALL"});
             EXPECT_EQ(g.not_after, kStart + 8 * kHour);
             EXPECT_EQ(g.shell, "/bin/zsh");
         },
         {}},
        {"default_deny_list_drops_root_equivalent_groups", [](GrantLimits&) {},
         [](Grant& g) { g.groups = {"docker", "developers", "disk", "shadow", "sudo", "adm"}; }, false,
         [](const Grant& g) { EXPECT_EQ(g.groups, std::vector<std::string>{"developers"}); },
         {"limits.denied_groups: dropped group docker", "limits.denied_groups: dropped group disk",
          "limits.denied_groups: dropped group shadow", "limits.denied_groups: dropped group sudo",
          "limits.denied_groups: dropped group adm"}},
        {"empty_deny_list_lets_docker_through", [](GrantLimits& l) { l.denied_groups.clear(); },
         [](Grant& g) { g.groups = {"docker"}; }, false,
         [](const Grant& g) { EXPECT_EQ(g.groups, std::vector<std::string>{"docker"}); }, {}},
        {"allowed_groups_keeps_only_listed", [](GrantLimits& l) { l.allowed_groups = {{"developers", "www-data"}}; },
         [](Grant& g) { g.groups = {"www-data", "audio", "developers", "www-data"}; }, false,
         [](const Grant& g) { EXPECT_EQ(g.groups, (std::vector<std::string>{"www-data", "developers"})); },
         {"limits.allowed_groups: dropped group audio"}},
        {"run_as_not_allowed_drops_sudo_keeps_login", [](GrantLimits& l) { l.allowed_run_as = {{"www-data"}}; },
         [](Grant&) {}, false,
         [](const Grant& g) {
             EXPECT_FALSE(g.sudo);
             EXPECT_TRUE(g.login);
         },
         {"limits.allowed_run_as: dropped sudo as root"}},
        {"run_as_allowed_keeps_sudo", [](GrantLimits& l) { l.allowed_run_as = {{"postgres", "root"}}; },
         [](Grant&) {}, false, [](const Grant& g) { EXPECT_TRUE(g.sudo); }, {}},
        {"sudo_all_narrowed_to_allowed_commands",
         [](GrantLimits& l) { l.allowed_sudo_commands = {{"/usr/bin/apt-get", "/usr/bin/systemctl restart nginx"}}; },
         [](Grant&) {}, false,
         [](const Grant& g) {
             ASSERT_TRUE(g.sudo);
             EXPECT_EQ(g.sudo->commands,
                       (std::vector<std::string>{"/usr/bin/apt-get", "/usr/bin/systemctl restart nginx"}));
         },
         {"limits.allowed_sudo_commands: clamped sudo commands ALL -> /usr/bin/apt-get, /usr/bin/systemctl restart nginx"}},
        {"sudo_commands_intersection_keeps_narrower_side",
         [](GrantLimits& l) { l.allowed_sudo_commands = {{"/usr/bin/apt-get", "/usr/bin/systemctl restart nginx"}}; },
         [](Grant& g) { g.sudo->commands = {"/usr/bin/apt-get update", "/usr/bin/systemctl", "/bin/bash"}; }, false,
         [](const Grant& g) {
             ASSERT_TRUE(g.sudo);
             EXPECT_EQ(g.sudo->commands,
                       (std::vector<std::string>{"/usr/bin/apt-get update", "/usr/bin/systemctl restart nginx"}));
         },
         {"limits.allowed_sudo_commands: dropped sudo command /bin/bash",
          "limits.allowed_sudo_commands: clamped sudo commands /usr/bin/apt-get update, /usr/bin/systemctl, /bin/bash -> "
          "/usr/bin/apt-get update, /usr/bin/systemctl restart nginx"}},
        {"sudo_with_no_allowed_command_is_dropped",
         [](GrantLimits& l) { l.allowed_sudo_commands = {{"/usr/bin/apt-get"}}; },
         [](Grant& g) { g.sudo->commands = {"/bin/sh", "/usr/bin/apt update"}; }, false,
         [](const Grant& g) { EXPECT_FALSE(g.sudo); },
         {"limits.allowed_sudo_commands: dropped sudo command /bin/sh",
          "limits.allowed_sudo_commands: dropped sudo command /usr/bin/apt update",
          "limits.allowed_sudo_commands: dropped sudo (no granted command is allowed here)"}},
        {"different_arguments_do_not_intersect", [](GrantLimits& l) { l.allowed_sudo_commands = {{"/usr/bin/systemctl restart nginx"}}; },
         [](Grant& g) { g.sudo->commands = {"/usr/bin/systemctl restart sshd"}; }, false,
         [](const Grant& g) { EXPECT_FALSE(g.sudo); },
         {"limits.allowed_sudo_commands: dropped sudo command /usr/bin/systemctl restart sshd",
          "limits.allowed_sudo_commands: dropped sudo (no granted command is allowed here)"}},
        {"window_longer_than_max_is_clamped_from_not_before", [](GrantLimits& l) { l.max_window = 4 * kHour; },
         [](Grant&) {}, false, [](const Grant& g) {
             EXPECT_EQ(g.not_before, kStart);
             EXPECT_EQ(g.not_after, kStart + 4 * kHour);
         },
         {"limits.max_window: clamped not_after 1795816800 -> 1795802400"}},
        {"window_at_max_is_kept", [](GrantLimits& l) { l.max_window = 8 * kHour; }, [](Grant&) {}, false,
         [](const Grant& g) { EXPECT_EQ(g.not_after, kStart + 8 * kHour); }, {}},
        {"too_few_approvers_refuses_the_grant", [](GrantLimits& l) { l.min_approvers = 2; }, [](Grant&) {}, true,
         nullptr, {"limits.min_approvers: refused grant (1 independent approver(s), 2 needed)"}},
        {"self_approval_and_repeats_do_not_count", [](GrantLimits& l) { l.min_approvers = 2; },
         [](Grant& g) { g.approved_by = {"alice", "bob", "bob", ""}; }, true, nullptr,
         {"limits.min_approvers: refused grant (1 independent approver(s), 2 needed)"}},
        {"two_distinct_approvers_suffice", [](GrantLimits& l) { l.min_approvers = 2; },
         [](Grant& g) { g.approved_by = {"bob", "carol"}; }, false, [](const Grant& g) { EXPECT_TRUE(g.login); }, {}},
        {"auto_approved_grant_refused_when_one_approver_needed", [](GrantLimits& l) { l.min_approvers = 1; },
         [](Grant& g) { g.approved_by.clear(); }, true, nullptr,
         {"limits.min_approvers: refused grant (0 independent approver(s), 1 needed)"}},
        {"too_few_sudo_approvers_drops_sudo_only", [](GrantLimits& l) { l.min_sudo_approvers = 2; }, [](Grant&) {},
         false,
         [](const Grant& g) {
             EXPECT_FALSE(g.sudo);
             EXPECT_TRUE(g.login);
         },
         {"limits.min_sudo_approvers: dropped sudo (1 independent approver(s), 2 needed)"}},
        {"sudo_approvers_rule_ignores_login_only_grants", [](GrantLimits& l) { l.min_sudo_approvers = 2; },
         [](Grant& g) { g.sudo.reset(); }, false, [](const Grant& g) { EXPECT_TRUE(g.login); }, {}},
        {"login_shell_replaces_the_grant_shell", [](GrantLimits& l) { l.login_shell = "/bin/bash"; }, [](Grant&) {},
         false, [](const Grant& g) { EXPECT_EQ(g.shell, "/bin/bash"); },
         {"limits.login_shell: replaced shell /bin/zsh -> /bin/bash"}},
        {"login_shell_fills_an_absent_shell_silently", [](GrantLimits& l) { l.login_shell = "/bin/bash"; },
         [](Grant& g) { g.shell.clear(); }, false, [](const Grant& g) { EXPECT_EQ(g.shell, "/bin/bash"); }, {}},
    };
    return table;
}

class LimitsTable : public ::testing::TestWithParam<std::size_t> {};

TEST_P(LimitsTable, EffectiveGrantAndNotes) {
    const Case& c = cases()[GetParam()];
    GrantLimits limits;
    c.limit(limits);
    Grant g = base_grant();
    c.tweak(g);
    const jit::BoundedGrants out = jit::apply_limits({g}, limits);
    if (c.refused) {
        EXPECT_TRUE(out.grants.empty());
        ASSERT_EQ(out.refused.size(), 1u);
        EXPECT_EQ(out.refused[0].id, g.id);
    } else {
        EXPECT_TRUE(out.refused.empty());
        ASSERT_EQ(out.grants.size(), 1u);
        c.expect(out.grants[0]);
    }
    EXPECT_EQ(lines(out.notes), c.notes);
}

INSTANTIATE_TEST_SUITE_P(Limits, LimitsTable, ::testing::Range<std::size_t>(0, cases().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& p) { return std::string(cases()[p.param].name); });

TEST(Limits, ApplyingTwiceChangesNothingMore) {
    GrantLimits limits;
    limits.max_window = kHour;
    limits.allowed_sudo_commands = {{"/usr/bin/apt-get"}};
    Grant g = base_grant();
    g.groups = {"docker", "developers"};
    const auto once = jit::apply_limits({g}, limits);
    const auto twice = jit::apply_limits(once.grants, limits);
    EXPECT_TRUE(twice.notes.empty());
    ASSERT_EQ(twice.grants.size(), 1u);
    EXPECT_EQ(twice.grants[0].not_after, once.grants[0].not_after);
    EXPECT_EQ(twice.grants[0].groups, once.grants[0].groups);
}

TEST(Limits, KeepsTheBundleOrderAndSeparatesRefused) {
    GrantLimits limits;
    limits.min_approvers = 1;
    Grant a = base_grant(), b = base_grant(), c = base_grant();
    a.id = "g-a";
    b.id = "g-b";
    b.approved_by.clear();
    c.id = "g-c";
    const auto out = jit::apply_limits({a, b, c}, limits);
    ASSERT_EQ(out.grants.size(), 2u);
    EXPECT_EQ(out.grants[0].id, "g-a");
    EXPECT_EQ(out.grants[1].id, "g-c");
    ASSERT_EQ(out.refused.size(), 1u);
    EXPECT_EQ(out.refused[0].id, "g-b");
}

TEST(Limits, SudoCommandIntersection) {
    struct Row {
        const char *granted, *allowed;
        std::optional<std::string> both;
    };
    const Row rows[] = {
        {"ALL", "ALL", "ALL"},
        {"ALL", "/usr/bin/apt-get", "/usr/bin/apt-get"},
        {"/usr/bin/apt-get update", "ALL", "/usr/bin/apt-get update"},
        {"/usr/bin/apt-get", "/usr/bin/apt-get", "/usr/bin/apt-get"},
        {"/usr/bin/apt-get update", "/usr/bin/apt-get", "/usr/bin/apt-get update"},
        {"/usr/bin/apt-get", "/usr/bin/apt-get update", "/usr/bin/apt-get update"},
        {"/usr/bin/apt-get update", "/usr/bin/apt-get upgrade", std::nullopt},
        {"/usr/bin/apt", "/usr/bin/apt-get", std::nullopt},
        {"/usr/bin/apt-get", "/usr/bin/apt", std::nullopt},
    };
    for (const Row& r : rows)
        EXPECT_EQ(jit::intersect_sudo_command(r.granted, r.allowed), r.both) << r.granted << " & " << r.allowed;
}

}  // namespace
