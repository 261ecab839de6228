// The rules file: every problem named with file:line; rule decisions.
#include "fixture.hpp"

#include <jit/authority/rules.hpp>

namespace jit::authority::test {
namespace {

TEST(AuthorityConfig, ReportsEveryProblemWithFileAndLine) {
    auto cfg = parse_config("[authority]\nkey_id = k\nbundle_ttl = soon\n\n[rule r]\ngroups = nope\nrequesters = alice\n"
                            "colour = blue\n[weird]\n",
                            "/etc/jit/authority.conf");
    ASSERT_FALSE(cfg);
    const std::string& m = cfg.error().message;
    EXPECT_NE(m.find("/etc/jit/authority.conf:3: bundle_ttl: 'soon' is not a duration"), std::string::npos) << m;
    EXPECT_NE(m.find("/etc/jit/authority.conf:8: unknown key 'colour' in [rule r]"), std::string::npos) << m;
    EXPECT_NE(m.find("/etc/jit/authority.conf:9: unknown section"), std::string::npos) << m;
    EXPECT_NE(m.find("/etc/jit/authority.conf:5: [rule r] names unknown group 'nope'"), std::string::npos) << m;
    EXPECT_NE(m.find("/etc/jit/authority.conf:5: [rule r] needs approvers"), std::string::npos) << m;
}

TEST(AuthorityConfig, RefusesDuplicatesAndMissingKeyId) {
    auto cfg = parse_config("[authority]\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:2\n[group g]\nhosts = a\n[group g]\n", "f");
    ASSERT_FALSE(cfg);
    EXPECT_NE(cfg.error().message.find("f:3: 'listen' given twice"), std::string::npos) << cfg.error().message;
    EXPECT_NE(cfg.error().message.find("f:6: [group g] defined twice"), std::string::npos);
    EXPECT_NE(cfg.error().message.find("f:1: [authority] needs key_id"), std::string::npos);
}

// fuzz_authority_config found a port of many digits throwing out of the
// parser (std::stol out_of_range) instead of a file:line error.
TEST(AuthorityConfig, AHugePortIsAnErrorNotAThrow) {
    for (const std::string port : {"65536", "099999", "99999999999999999999999999999"}) {
        auto cfg = parse_config("[authority]\nlisten = 127.0.0.1:" + port + "\n", "f");
        ASSERT_FALSE(cfg) << port;
        EXPECT_NE(cfg.error().message.find("f:2: listen: '127.0.0.1:" + port + "' has a bad port"), std::string::npos)
            << cfg.error().message;
    }
}

TEST(AuthorityConfig, ParsesTheExample) {
    auto cfg = parse_config(kRules, "rules.conf");
    ASSERT_TRUE(cfg) << cfg.error().message;
    ASSERT_EQ(cfg->rules.size(), 2u);
    EXPECT_EQ(cfg->rules[0].sudo.size(), 2u);
    EXPECT_EQ(cfg->rules[0].sudo[1], "/usr/bin/systemctl restart nginx");
    EXPECT_EQ(cfg->rules[0].max_duration, 4 * 3600);
    EXPECT_EQ(cfg->rules[1].approvals, 0);
}

class RulesTest : public ::testing::Test {
protected:
    Config cfg = parse_config(kRules, "rules.conf").value();
    AccessAsk base() {
        AccessAsk a;
        a.host_id = "web-01";
        a.requester = "alice";
        a.duration = 3600;
        return a;
    }
};

TEST_F(RulesTest, AllowsWhatARuleAllows) {
    auto v = check_request(cfg, base());
    ASSERT_TRUE(v) << v.message;
    EXPECT_EQ(v.rule->name, "web-oncall");
}

TEST_F(RulesTest, RefusesWithTheReason) {
    AccessAsk a = base();
    a.duration = 5 * 3600;
    auto v = check_request(cfg, a);
    EXPECT_FALSE(v);
    EXPECT_EQ(v.error, "duration");
    EXPECT_EQ(v.message, "access may last at most 4 h (rule 'web-oncall')");

    a = base();
    a.sudo = SudoRule{"root", {"/bin/bash"}};
    v = check_request(cfg, a);
    EXPECT_EQ(v.error, "sudo");
    a.sudo = SudoRule{"postgres", {"/usr/bin/apt-get"}};
    EXPECT_EQ(check_request(cfg, a).error, "run_as");
    a.sudo = SudoRule{"root", {"/usr/bin/systemctl restart nginx"}};
    EXPECT_TRUE(check_request(cfg, a));

    a = base();
    a.requester = "mallory";
    v = check_request(cfg, a);
    EXPECT_EQ(v.error, "no_rule");
    EXPECT_EQ(v.message, "no rule lets mallory request access to web-01");

    a = base();
    a.host_id = "db-01";
    EXPECT_EQ(check_request(cfg, a).error, "no_rule");
}

TEST_F(RulesTest, GroupsByLabel) {
    AccessAsk a = base();
    a.host_id = "db-01";
    a.requester = "mallory";
    a.host_labels = {"env=prod", "role=db"};
    auto v = check_request(cfg, a);
    ASSERT_TRUE(v) << v.message;
    EXPECT_EQ(v.rule->name, "prod-self");
    a.host_labels = {"env=staging"};
    EXPECT_FALSE(check_request(cfg, a));
}

TEST_F(RulesTest, Extensions) {
    AccessAsk a = base();
    a.extension = true;
    a.duration = 1800;
    EXPECT_TRUE(check_request(cfg, a));
    a.duration = 7200;
    EXPECT_EQ(check_request(cfg, a).error, "duration");
    a.host_id = "db-01";
    a.host_labels = {"env=prod"};
    a.duration = 60;
    EXPECT_EQ(check_request(cfg, a).error, "extend");
}

TEST_F(RulesTest, Approvers) {
    const Rule& r = cfg.rules[0];
    EXPECT_EQ(check_approver(r, "alice", "alice", {}), "the requester cannot approve their own request");
    EXPECT_EQ(check_approver(r, "alice", "carol", {"carol"}), "carol has already approved this request");
    EXPECT_EQ(check_approver(r, "alice", "eve", {}), "eve is not an approver under rule 'web-oncall'");
    EXPECT_EQ(check_approver(r, "alice", "dave", {"carol"}), "");
}

}  // namespace
}  // namespace jit::authority::test
