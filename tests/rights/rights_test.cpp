// Sudoers drop-in rendering and publishing (helperd/rights).
#include <jit/rights.hpp>
#include <jit/test/grants.hpp>
#include <jit/test/temp_dir.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace {

// 2026-11-27 13:00:00 UTC
constexpr jit::UnixTime kT0 = 1795784400;

jit::Grant sudo_grant(std::string id, std::string user, std::vector<std::string> cmds, std::string run_as = "root",
                      jit::UnixTime nb = kT0, jit::UnixTime na = kT0 + 9000) {
    jit::Grant g = jit::test::grant(std::move(id), std::move(user), nb, na);
    g.sudo = jit::SudoRule{std::move(run_as), std::move(cmds)};
    return g;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Temporary files (".tmp.<name>.XXXXXX", jit/durable_file.hpp) left in `dir`.
int temp_files(const std::string& dir) {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().filename().string().starts_with(".tmp.")) ++n;
    return n;
}

std::string rules_only(const std::string& text) {
    std::string out, line;
    std::istringstream in(text);
    while (std::getline(in, line))
        if (!line.empty() && line[0] != '#') out += line + "\n";
    return out;
}

TEST(RenderSudoers, ExampleRule) {
    auto r = jit::rights::render_sudoers(
        {sudo_grant("g-7f3a", "alice", {"/usr/bin/apt-get", "/usr/bin/systemctl  restart nginx"})}, kT0 + 60);
    EXPECT_EQ(r.rules, 1u);
    EXPECT_TRUE(r.problems.empty());
    EXPECT_EQ(rules_only(r.text),
              "alice ALL=(root) NOTBEFORE=20261127130000Z NOTAFTER=20261127153000Z NOPASSWD: /usr/bin/apt-get, "
              "/usr/bin/systemctl restart nginx\n");
    EXPECT_NE(r.text.find("# grant g-7f3a for alice: 2026-11-27T13:00:00Z .. 2026-11-27T15:30:00Z\n"), std::string::npos);
    EXPECT_EQ(r.text.rfind("# jitlogin: sudo rights", 0), 0u);
}

TEST(RenderSudoers, AllAndRunAsAll) {
    auto r = jit::rights::render_sudoers({sudo_grant("g-1", "bob", {"/usr/bin/id", "ALL"}, "ALL")}, kT0);
    EXPECT_EQ(rules_only(r.text),
              "bob ALL=(ALL) NOTBEFORE=20261127130000Z NOTAFTER=20261127153000Z NOPASSWD: ALL\n");
}

TEST(RenderSudoers, OnlyActiveGrantsWithSudoHalfOpenWindow) {
    jit::Grant nosudo = sudo_grant("g-n", "carol", {"ALL"});
    nosudo.sudo.reset();
    std::vector<jit::Grant> gs = {sudo_grant("g-a", "alice", {"/usr/bin/id"}, "root", kT0, kT0 + 100), nosudo,
                                  sudo_grant("g-f", "dave", {"/usr/bin/id"}, "root", kT0 + 50, kT0 + 200)};
    EXPECT_EQ(jit::rights::render_sudoers(gs, kT0 - 1).rules, 0u);
    EXPECT_EQ(jit::rights::render_sudoers(gs, kT0).rules, 1u);        // not_before: active
    EXPECT_EQ(jit::rights::render_sudoers(gs, kT0 + 50).rules, 2u);
    auto at_end = jit::rights::render_sudoers(gs, kT0 + 100);        // not_after of g-a: gone
    EXPECT_EQ(at_end.rules, 1u);
    EXPECT_EQ(at_end.text.find("alice "), std::string::npos);
    EXPECT_EQ(jit::rights::render_sudoers(gs, kT0 + 200).rules, 0u);
}

TEST(RenderSudoers, DeterministicOrder) {
    std::vector<jit::Grant> gs = {sudo_grant("g-2", "zed", {"/usr/bin/id"}), sudo_grant("g-9", "alice", {"/usr/bin/id"}),
                                  sudo_grant("g-1", "alice", {"/usr/bin/id"}, "root", kT0, kT0 + 100)};
    auto r = jit::rights::render_sudoers(gs, kT0 + 1);
    auto p1 = r.text.find("grant g-1"), p9 = r.text.find("grant g-9"), p2 = r.text.find("grant g-2");
    EXPECT_LT(p1, p9);
    EXPECT_LT(p9, p2);
    std::reverse(gs.begin(), gs.end());
    EXPECT_EQ(jit::rights::render_sudoers(gs, kT0 + 1).text, r.text);
}

TEST(CheckCommand, RefusesWhatSudoersWouldNotReadLiterally) {
    EXPECT_EQ(jit::rights::check_command("ALL"), "");
    EXPECT_EQ(jit::rights::check_command("/usr/bin/systemctl restart nginx.service"), "");
    EXPECT_EQ(jit::rights::check_command("/usr/sbin/ip -4 addr"), "");
    for (const char* bad : {"/usr/bin/a,b", "/usr/bin/a:b", "/usr/bin/a=b", "/usr/bin/a\\b", "/usr/bin/a#b",
                            "/usr/bin/a!", "/usr/bin/(a)", "/usr/bin/\"a\"", "/usr/bin/*", "/usr/bin/a?",
                            "/usr/bin/[ab]", "^/usr/bin/a$", "/usr/bin/a\nroot ALL=(ALL) ALL", "/usr/bin/a\tb",
                            "/usr/bin/cat /var/log/*", "/usr/bin/a 'x'"}) {
        EXPECT_NE(jit::rights::check_command(bad), "") << bad;
    }
    EXPECT_NE(jit::rights::check_command("usr/bin/id"), "");
    EXPECT_NE(jit::rights::check_command("/usr/bin/"), "");           // directory = every command in it
    EXPECT_NE(jit::rights::check_command("/usr/bin/../bin/sh"), "");
    EXPECT_NE(jit::rights::check_command("/usr//bin/id"), "");
    EXPECT_NE(jit::rights::check_command("/usr/bin/sudoedit /etc/x"), "");
    EXPECT_NE(jit::rights::check_command(""), "");
    EXPECT_NE(jit::rights::check_command("   "), "");
    EXPECT_NE(jit::rights::check_command("all"), "");                 // not absolute; only "ALL" is special
}

TEST(RenderSudoers, BadCommandsLeftOutNeverWidened) {
    auto r = jit::rights::render_sudoers(
        {sudo_grant("g-1", "alice", {"/usr/bin/id", "/usr/bin/a\nalice ALL=(ALL) ALL", "/usr/bin/*"})}, kT0);
    EXPECT_EQ(r.rules, 1u);
    ASSERT_EQ(r.problems.size(), 2u);
    EXPECT_NE(r.problems[0].find("grant g-1: command 2"), std::string::npos) << r.problems[0];
    EXPECT_EQ(r.problems[0].find('\n'), std::string::npos);
    EXPECT_EQ(rules_only(r.text),
              "alice ALL=(root) NOTBEFORE=20261127130000Z NOTAFTER=20261127153000Z NOPASSWD: /usr/bin/id\n");
}

TEST(RenderSudoers, GrantWithNothingRenderableOrBadNamesIsLeftOut) {
    std::vector<jit::Grant> gs = {sudo_grant("g-1", "alice", {"/usr/bin/*"}),
                                  sudo_grant("g-2", "Alice", {"/usr/bin/id"}),
                                  sudo_grant("g-3", "bob", {"/usr/bin/id"}, "root,alice"),
                                  sudo_grant("g 4", "bob", {"/usr/bin/id"})};
    auto r = jit::rights::render_sudoers(gs, kT0);
    EXPECT_EQ(r.rules, 0u);
    EXPECT_EQ(r.problems.size(), 5u);  // g-1: the command, then the empty rule
    EXPECT_EQ(rules_only(r.text), "");
}

class PublishTest : public ::testing::Test {
protected:
    void SetUp() override {
        path = dir + "/jitlogin";
        opts.chown_root = geteuid() == 0;
    }
    jit::test::TempDir tmp{"jit-rights-test"};
    std::string dir = tmp.path(), path;
    jit::rights::PublishOptions opts;
};

TEST_F(PublishTest, WritesAtomicallyWith0440AndValidates) {
    auto rep = jit::rights::publish_sudoers(path, {sudo_grant("g-1", "alice", {"/usr/bin/id"})}, kT0, opts);
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_TRUE(rep->changed);
    EXPECT_EQ(rep->rules, 1u);
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0440u);
    if (geteuid() == 0) {
        EXPECT_EQ(st.st_uid, 0u);
        EXPECT_EQ(st.st_gid, 0u);
    }
    EXPECT_EQ(slurp(path), jit::rights::render_sudoers({sudo_grant("g-1", "alice", {"/usr/bin/id"})}, kT0).text);
    EXPECT_EQ(temp_files(dir), 0);
    if (access("/usr/sbin/visudo", X_OK) == 0 && geteuid() == 0) {
        std::string cmd = "/usr/sbin/visudo -cqf '" + path + "'";
        EXPECT_EQ(std::system(cmd.c_str()), 0);
    }
}

TEST_F(PublishTest, UnchangedContentIsNotRewritten) {
    std::vector<jit::Grant> gs = {sudo_grant("g-1", "alice", {"/usr/bin/id"})};
    ASSERT_TRUE(jit::rights::publish_sudoers(path, gs, kT0, opts).ok());
    auto again = jit::rights::publish_sudoers(path, gs, kT0 + 10, opts);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->changed);
    auto after = jit::rights::publish_sudoers(path, gs, kT0 + 9000, opts);  // window over
    ASSERT_TRUE(after.ok());
    EXPECT_TRUE(after->changed);
    EXPECT_EQ(after->rules, 0u);
    EXPECT_EQ(rules_only(slurp(path)), "");
    EXPECT_EQ(slurp(path).rfind("# jitlogin:", 0), 0u);  // header only
}

TEST_F(PublishTest, RejectedByVisudoLeavesLiveFileAlone) {
    ASSERT_TRUE(jit::rights::publish_sudoers(path, {sudo_grant("g-1", "alice", {"/usr/bin/id"})}, kT0, opts).ok());
    const std::string before = slurp(path);
    const std::string fake = dir + "/fake-visudo";
    {
        std::ofstream f(fake);
        f << "#!/bin/sh\necho \"$3: syntax error near line 7\" >&2\nexit 1\n";
    }
    ASSERT_EQ(chmod(fake.c_str(), 0755), 0);
    opts.visudo = fake;
    auto rep = jit::rights::publish_sudoers(path, {sudo_grant("g-2", "bob", {"/usr/bin/id"})}, kT0, opts);
    ASSERT_FALSE(rep.ok());
    EXPECT_EQ(rep.error().code, "sudoers.invalid");
    EXPECT_NE(rep.error().message.find("syntax error near line 7"), std::string::npos) << rep.error().message;
    EXPECT_EQ(slurp(path), before);
    EXPECT_EQ(temp_files(dir), 0);
}

TEST_F(PublishTest, MissingVisudoIsSkipped) {
    opts.visudo = dir + "/no-such-visudo";
    EXPECT_TRUE(jit::rights::publish_sudoers(path, {}, kT0, opts).ok());
}

TEST_F(PublishTest, PathsSudoWouldIgnoreAreRefused) {
    for (const std::string& p : {dir + "/jit.login", dir + "/jitlogin~", std::string("relative"), dir + "/"}) {
        auto rep = jit::rights::publish_sudoers(p, {}, kT0, opts);
        ASSERT_FALSE(rep.ok()) << p;
        EXPECT_EQ(rep.error().code, "sudoers.path");
    }
    auto nodir = jit::rights::publish_sudoers(dir + "/missing/jitlogin", {}, kT0, opts);
    ASSERT_FALSE(nodir.ok());
    EXPECT_EQ(nodir.error().code, "sudoers.write");
    EXPECT_NE(nodir.error().message.find(dir + "/missing for " + dir + "/missing/jitlogin"), std::string::npos)
        << nodir.error().message;
}

TEST_F(PublishTest, RemoveIsIdempotent) {
    ASSERT_TRUE(jit::rights::publish_sudoers(path, {}, kT0, opts).ok());
    EXPECT_TRUE(jit::rights::remove_sudoers(path).ok());
    EXPECT_NE(access(path.c_str(), F_OK), 0);
    EXPECT_TRUE(jit::rights::remove_sudoers(path).ok());
}

TEST_F(PublishTest, RealVisudoAcceptsEveryRenderedShape) {
    if (geteuid() != 0 || access("/usr/sbin/visudo", X_OK) != 0) GTEST_SKIP() << "needs root and visudo";
    std::vector<jit::Grant> gs = {sudo_grant("g-1", "jt-e-alice", {"/usr/bin/apt-get", "/usr/bin/systemctl restart nginx"}),
                                  sudo_grant("g.2_x", "bob", {"ALL"}, "ALL"),
                                  sudo_grant("g-3", "_svc", {"/usr/sbin/ip -4 addr show", "/opt/x+y/bin/run@1 %a ~b"}, "postgres")};
    auto rep = jit::rights::publish_sudoers(path, gs, kT0, opts);  // visudo runs inside
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_EQ(rep->rules, 3u);
}

}  // namespace
