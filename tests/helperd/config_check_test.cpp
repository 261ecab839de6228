// check_config_file: the one config check jit-helperd (start, SIGHUP,
// --check-config) and jitctl check-config share.
#include <jit/helperd/config_check.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <sys/stat.h>

#include "test_util.hpp"

namespace {

using jit::helperd::check_config_file;

struct Files {
    jit::test::TempDir dir;
    std::string keys = dir.path() + "/keys";
    std::string token = dir.path() + "/token";
    std::string conf = dir.path() + "/helperd.conf";

    Files() { mkdir(keys.c_str(), 0755); }
    void write(const std::string& path, const std::string& text, mode_t mode) {
        { std::ofstream(path) << text; }
        chmod(path.c_str(), mode);
    }
    void write_config(const std::string& extra = "", const std::string& url = "https://jit.example.com") {
        write(conf, "[authority]\nurl = " + url + "\nhost_id = web-01\ntrusted_keys_dir = " + keys +
                        "\ntoken_file = " + token + "\n" + extra,
              0644);
    }
};

TEST(ConfigCheck, GoodConfigGivesConfigKeysAndToken) {
    Files f;
    jit::test::Signer signer;
    f.write(f.keys + "/authority-1.pub", signer.public_pem(), 0644);
    f.write(f.token, "  s3cret \n", 0600);
    f.write_config();
    auto c = check_config_file(f.conf, "jitlogin/9.9");
    ASSERT_TRUE(c.ok()) << c.message();
    ASSERT_TRUE(c.config.has_value());
    EXPECT_EQ(c.config->authority.url, "https://jit.example.com");
    EXPECT_EQ(c.config->authority.host_id, "web-01");
    EXPECT_EQ(c.keys.size(), 1u);
    EXPECT_TRUE(c.keys.contains("authority-1"));
    EXPECT_EQ(c.tls.bearer_token, "s3cret");
    EXPECT_EQ(c.tls.user_agent, "jitlogin/9.9");
    EXPECT_EQ(c.message(), "");
    EXPECT_TRUE(c.warnings.empty());
    EXPECT_EQ(c.summary(f.conf), f.conf + ": OK (host web-01, authority https://jit.example.com, 1 trusted key(s))\n");
}

// Plain http to a loopback authority is accepted, and both programs say it
// is for development and tests (jit-helperd --check-config said it, jitctl
// check-config did not).
TEST(ConfigCheck, PlainHttpToLoopbackPassesWithAWarning) {
    Files f;
    jit::test::Signer signer;
    f.write(f.keys + "/authority-1.pub", signer.public_pem(), 0644);
    f.write(f.token, "s3cret\n", 0600);
    f.write_config("", "http://127.0.0.1:8080");
    auto c = check_config_file(f.conf, "ua");
    ASSERT_TRUE(c.ok()) << c.message();
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_EQ(c.summary(f.conf), f.conf + ": OK (host web-01, authority http://127.0.0.1:8080, 1 trusted key(s))\n" +
                                     "warning: plain http to a loopback authority: for development and tests only\n");
}

// No key in the directory and a token with a space: both named, each with
// the file and the key, one per line (what both programs print).
TEST(ConfigCheck, EveryProblemWithKeysAndTokenIsNamed) {
    Files f;
    f.write(f.token, "two words\n", 0600);
    f.write_config();
    auto c = check_config_file(f.conf, "ua");
    ASSERT_FALSE(c.ok());
    ASSERT_TRUE(c.config.has_value());
    ASSERT_EQ(c.problems.size(), 2u) << c.message();
    EXPECT_EQ(c.problems[0].rfind(f.conf + ": key 'authority.trusted_keys_dir': ", 0), 0u) << c.problems[0];
    EXPECT_NE(c.problems[0].find("no trusted keys"), std::string::npos) << c.problems[0];
    EXPECT_EQ(c.problems[1].rfind(f.conf + ": key 'authority.token_file': ", 0), 0u) << c.problems[1];
    EXPECT_EQ(c.message(), c.problems[0] + "\n" + c.problems[1]);
}

// A file with problems of its own: its issues, one per line with the line
// number; the keys and the token are not looked at.
TEST(ConfigCheck, ConfigProblemsComeFirstAndAlone) {
    Files f;
    f.write(f.token, "two words\n", 0600);
    f.write_config("poll_wait = 99\nbogus = 1\n");
    auto c = check_config_file(f.conf, "ua");
    ASSERT_FALSE(c.ok());
    EXPECT_FALSE(c.config.has_value());
    ASSERT_EQ(c.problems.size(), 2u) << c.message();
    EXPECT_EQ(c.problems[0].rfind(f.conf + ":6: key 'authority.poll_wait'", 0), 0u) << c.problems[0];
    EXPECT_EQ(c.problems[1].rfind(f.conf + ":7: ", 0), 0u) << c.problems[1];
    for (const auto& p : c.problems) EXPECT_EQ(p.find("token_file"), std::string::npos) << p;
}

TEST(ConfigCheck, UnreadableFileIsOneProblem) {
    auto c = check_config_file("/nonexistent/helperd.conf", "ua");
    ASSERT_EQ(c.problems.size(), 1u);
    EXPECT_NE(c.problems[0].find("/nonexistent/helperd.conf"), std::string::npos);
}

}  // namespace
