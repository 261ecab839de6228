#include <jit/helperd/config.hpp>

#include <gtest/gtest.h>

#include <set>

#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.hpp"

using namespace jit::helperd;

namespace {

ParseOptions no_files() {
    ParseOptions o;
    o.check_files = false;
    o.default_host_id = "web-01";
    return o;
}

std::vector<ConfigIssue> issues_of(const std::string& text) { return config_issues(text, "/etc/jit/helperd.conf", no_files(), nullptr); }

}  // namespace

TEST(Config, MinimalUsesDefaults) {
    auto c = parse_config("[authority]\nurl = https://jit.example.com/\n", "f.conf", no_files());
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->authority.url, "https://jit.example.com");
    EXPECT_FALSE(c->authority.plain_http);
    EXPECT_EQ(c->authority.host_id, "web-01");
    EXPECT_EQ(c->policy.host_id, "web-01");
    EXPECT_EQ(c->socket.path, JIT_SOCKET_PATH);
    EXPECT_EQ(c->socket.mode, 0666u);
    EXPECT_EQ(c->state_dir, JIT_STATE_DIR);
    EXPECT_EQ(c->sudoers_path, JIT_SUDOERS_PATH);
    EXPECT_EQ(c->authority.poll_wait, 55);
    EXPECT_EQ(c->policy.stale_policy, jit::HostPolicy::StalePolicy::Honour);
    EXPECT_FALSE(c->recording.sessions);
}

// [recording]: off by default; on names the recording shell (docs/ssh.md).
TEST(Config, RecordingSection) {
    auto c = parse_config("[authority]\nurl = https://x\n[recording]\nsessions = on\nshell = /opt/jit/rec\n", "f.conf",
                          no_files());
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_TRUE(c->recording.sessions);
    EXPECT_EQ(c->recording.shell, "/opt/jit/rec");
    auto bad = parse_config("[authority]\nurl = https://x\n[recording]\nsessions = sometimes\n", "f.conf", no_files());
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("recording.sessions"), std::string::npos) << bad.error().message;
}

TEST(Config, FullExampleParses) {
    const std::string text = R"(# comment
; other comment
[authority]
url = https://jit.example.com
host_id = web-01.prod
trusted_keys_dir = /etc/jit/trusted-keys
ca_file = /etc/jit/ca.pem
client_cert = /etc/jit/client.pem
client_key = /etc/jit/client.key
token_file = /etc/jit/token
poll_wait = 30s
connect_timeout = 5
clock_skew = 2m
stale_policy = suspend

[socket]
path = /run/jit/helperd.sock
mode = 0660
group = jit
io_timeout_ms = 1500
max_connections = 10

[state]
dir = /var/lib/jit

[pam]
timeout_ms = 800
request_hint = "run 'jitctl request' or visit https://jit.example.com"

[access]
break_glass_users = admin, ops
managed_uid_min = 70000
managed_uid_max = 79999
managed_groups = jit-users

[nss]
db_path = /var/lib/jit/nss.db
uid_min = 70000
uid_max = 70999
retention = 7d
home_base = /home
default_shell = /bin/bash

[sudo]
dropin_path =

[enforce]
warn_before = 1m, 10m
kill_grace = 5s
)";
    auto c = parse_config(text, "f.conf", no_files());
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->authority.host_id, "web-01.prod");
    EXPECT_EQ(c->authority.poll_wait, 30);
    EXPECT_EQ(c->authority.clock_skew, 120);
    EXPECT_EQ(c->policy.stale_policy, jit::HostPolicy::StalePolicy::Suspend);
    EXPECT_EQ(c->socket.mode, 0660u);
    EXPECT_EQ(c->socket.group, "jit");
    EXPECT_EQ(c->pam_timeout_ms, 800);
    EXPECT_EQ(c->policy.request_hint, "run 'jitctl request' or visit https://jit.example.com");
    EXPECT_EQ(c->policy.break_glass_users, (std::vector<std::string>{"admin", "ops"}));
    EXPECT_EQ(c->policy.managed_groups, (std::vector<std::string>{"jit-users"}));
    EXPECT_EQ(c->nss.retention, 7 * 86400);
    EXPECT_EQ(c->sudoers_path, "");
    EXPECT_EQ(c->enforce.warn_before, (std::vector<int>{600, 60}));
    EXPECT_EQ(c->enforce.kill_grace, 5);
}

TEST(Config, EveryErrorNamesFileLineAndKey) {
    struct Case {
        std::string text;
        int line;
        std::string key;
        std::string fragment;
    };
    const std::vector<Case> cases = {
        {"[authority]\nurl = https://x\npoll_wait = 61\n", 3, "authority.poll_wait", "out of range"},
        {"[authority]\nurl = https://x\npoll_wait = soon\n", 3, "authority.poll_wait", "not a duration"},
        {"[authority]\nurl = ftp://x\n", 2, "authority.url", "https://"},
        {"[authority]\nurl = http://jit.example.com\n", 2, "authority.url", "loopback"},
        {"[authority]\nurl = http://127.0.0.1.evil.com\n", 2, "authority.url", "loopback"},
        {"[authority]\nurl = https://x\nhost_id = -bad\n", 3, "authority.host_id", "does not match"},
        {"[authority]\nurl = https://x\nstale_policy = maybe\n", 3, "authority.stale_policy", "honour, suspend"},
        {"[authority]\nurl = https://x\ntrusted_keys_dir = keys\n", 3, "authority.trusted_keys_dir", "absolute"},
        {"[authority]\nurl = https://x\nbogus = 1\n", 3, "authority.bogus", "unknown key"},
        {"[authority]\nurl = https://x\nurl = https://y\n", 3, "authority.url", "duplicate"},
        {"[authority]\nurl = https://x\n[socket]\nmode = 0999\n", 4, "socket.mode", "octal"},
        {"[authority]\nurl = https://x\n[socket]\ngroup = Bad Group\n", 4, "socket.group", "group name"},
        {"[authority]\nurl = https://x\n[access]\nbreak_glass_users = ok, Not-Valid\n", 4, "access.break_glass_users", "Not-Valid"},
        {"[authority]\nurl = https://x\n[access]\nbreak_glass_users = root\n", 4, "access.break_glass_users", "root"},
        {"[authority]\nurl = https://x\n[access]\nmanaged_uid_min = 9000\nmanaged_uid_max = 8000\n", 4, "access.managed_uid_min", "greater"},
        {"[authority]\nurl = https://x\n[nss]\nuid_min = 10\n", 4, "nss.uid_min", "out of range"},
        {"[authority]\nurl = https://x\n[nss]\ncreate_home = perhaps\n", 4, "nss.create_home", "boolean"},
        {"[authority]\nurl = https://x\n[nss]\nskel = etc/skel\n", 4, "nss.skel", "not an absolute path"},
        {"[authority]\nurl = https://x\n[enforce]\nwarn_before = 10m, never\n", 4, "enforce.warn_before", "never"},
        {"[authority]\nurl = https://x\nclient_cert = /etc/jit/c.pem\n", 3, "authority.client_key", "together"},
        {"[authority]\nurl = https://x\n[pam]\ntimeout_ms = 5\n", 4, "pam.timeout_ms", "out of range"},
        {"[authority]\nurl = https://x\n[socket]\npath = relative.sock\n", 4, "socket.path", "absolute"},
        {"[authority]\nurl = https://x\n[limits]\nallowed_groups = users, Wheel\n", 4, "limits.allowed_groups", "Wheel"},
        {"[authority]\nurl = https://x\n[limits]\nallowed_groups = users, docker\n", 4, "limits.allowed_groups", "also in limits.denied_groups (the default list)"},
        {"[authority]\nurl = https://x\n[limits]\ndenied_groups = users\n\nallowed_groups = users\n", 6, "limits.allowed_groups", "also in limits.denied_groups, which wins"},
        {"[authority]\nurl = https://x\n[limits]\nallowed_run_as = root, 0\n", 4, "limits.allowed_run_as", "'0'"},
        {"[authority]\nurl = https://x\n[limits]\nallowed_sudo_commands = /usr/bin/apt-get, bin/sh\n", 4, "limits.allowed_sudo_commands", "'bin/sh'"},
        {"[authority]\nurl = https://x\n[limits]\nallowed_sudo_commands = /usr/bin/a,,/usr/bin/b\n", 4, "limits.allowed_sudo_commands", "empty command"},
        {"[authority]\nurl = https://x\n[limits]\nallowed_sudo_commands = /bin/ls *\n", 4, "limits.allowed_sudo_commands", "'*'"},
        {"[authority]\nurl = https://x\n[limits]\nmax_window = forever\n", 4, "limits.max_window", "not a duration"},
        {"[authority]\nurl = https://x\n[limits]\nmin_approvers = 65\n", 4, "limits.min_approvers", "out of range [0, 64]"},
        {"[authority]\nurl = https://x\n[limits]\nmin_sudo_approvers = -1\n", 4, "limits.min_sudo_approvers", "out of range"},
        {"[authority]\nurl = https://x\n[limits]\nlogin_shell = bash\n", 4, "limits.login_shell", "absolute"},
    };
    for (const auto& c : cases) {
        auto issues = issues_of(c.text);
        ASSERT_EQ(issues.size(), 1u) << c.text;
        EXPECT_EQ(issues[0].file, "/etc/jit/helperd.conf");
        EXPECT_EQ(issues[0].line, c.line) << c.text;
        EXPECT_EQ(issues[0].key, c.key) << c.text;
        EXPECT_NE(issues[0].message.find(c.fragment), std::string::npos) << issues[0].message;
        const std::string rendered = issues[0].to_string();
        EXPECT_EQ(rendered.rfind("/etc/jit/helperd.conf:" + std::to_string(c.line) + ": key '" + c.key + "'", 0), 0u)
            << rendered;
    }
}

TEST(Config, SyntaxErrorsNameTheLine) {
    auto issues = issues_of("[authority]\nurl = https://x\njust words\n[nope]\nx = 1\nkey_before = 1\n[socket\n");
    ASSERT_EQ(issues.size(), 3u);
    EXPECT_EQ(issues[0].line, 3);
    EXPECT_NE(issues[0].message.find("key = value"), std::string::npos);
    EXPECT_EQ(issues[1].line, 4);
    EXPECT_NE(issues[1].message.find("unknown section [nope]"), std::string::npos);
    EXPECT_EQ(issues[2].line, 7);
    EXPECT_NE(issues[2].message.find("section header"), std::string::npos);
}

TEST(Config, MissingUrlIsReported) {
    auto issues = issues_of("[socket]\nmode = 0666\n");
    ASSERT_EQ(issues.size(), 1u);
    EXPECT_EQ(issues[0].key, "authority.url");
    EXPECT_NE(issues[0].to_string().find("required"), std::string::npos);
}

TEST(Config, KeyOutsideSection) {
    auto issues = issues_of("url = https://x\n");
    ASSERT_GE(issues.size(), 1u);
    EXPECT_EQ(issues[0].line, 1);
    EXPECT_NE(issues[0].message.find("outside"), std::string::npos);
}

TEST(Config, LoopbackDetection) {
    EXPECT_TRUE(url_host_is_loopback("http://127.0.0.1:8080"));
    EXPECT_TRUE(url_host_is_loopback("http://127.1.2.3/x"));
    EXPECT_TRUE(url_host_is_loopback("http://localhost:1"));
    EXPECT_TRUE(url_host_is_loopback("http://[::1]:80/"));
    EXPECT_FALSE(url_host_is_loopback("http://127.0.0.1.nip.io"));
    EXPECT_FALSE(url_host_is_loopback("http://user@127.0.0.1"));
    EXPECT_FALSE(url_host_is_loopback("http://10.0.0.1"));
    EXPECT_FALSE(url_host_is_loopback("http://[::2]"));
    EXPECT_FALSE(url_host_is_loopback("http://localhost.example.com"));
}

TEST(Config, Durations) {
    EXPECT_EQ(parse_duration("30"), 30);
    EXPECT_EQ(parse_duration("30s"), 30);
    EXPECT_EQ(parse_duration("10m"), 600);
    EXPECT_EQ(parse_duration("2h"), 7200);
    EXPECT_EQ(parse_duration("7d"), 7 * 86400);
    EXPECT_FALSE(parse_duration(""));
    EXPECT_FALSE(parse_duration("-1"));
    EXPECT_FALSE(parse_duration("1w"));
    EXPECT_FALSE(parse_duration("99999999999999d"));
}

TEST(Config, TokenFileMustBeRootOnly) {
    jit::test::TempDir dir;
    const std::string token = dir.path() + "/token";
    { std::ofstream(token) << "secret\n"; }
    chmod(token.c_str(), 0644);
    const std::string text = "[authority]\nurl = https://x\ntrusted_keys_dir = " + dir.path() + "\ntoken_file = " + token + "\n";
    ParseOptions opt;
    opt.default_host_id = "web-01";
    auto issues = config_issues(text, "c.conf", opt, nullptr);
    ASSERT_EQ(issues.size(), 1u);
    EXPECT_EQ(issues[0].key, "authority.token_file");
    EXPECT_EQ(issues[0].line, 4);
    EXPECT_NE(issues[0].message.find("root-only"), std::string::npos);
    chmod(token.c_str(), 0600);
    EXPECT_TRUE(config_issues(text, "c.conf", opt, nullptr).empty());
}

TEST(Config, MissingFilesAreReported) {
    ParseOptions opt;
    opt.default_host_id = "web-01";
    auto issues = config_issues("[authority]\nurl = https://x\ntrusted_keys_dir = /nonexistent/keys\nca_file = /nonexistent/ca.pem\n",
                                "c.conf", opt, nullptr);
    ASSERT_EQ(issues.size(), 2u);
    std::set<std::string> keys{issues[0].key, issues[1].key};
    EXPECT_TRUE(keys.count("authority.ca_file"));
    EXPECT_TRUE(keys.count("authority.trusted_keys_dir"));
}

TEST(Config, LoadConfigNamesUnreadableFile) {
    auto c = load_config("/nonexistent/helperd.conf");
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("/nonexistent/helperd.conf"), std::string::npos);
}

TEST(Config, LimitsParse) {
    auto c = parse_config("[authority]\nurl = https://x\n[limits]\nallowed_groups = developers, www-data\n"
                          "denied_groups = docker\nallowed_run_as =\n"
                          "allowed_sudo_commands = /usr/bin/apt-get, /usr/bin/systemctl restart nginx\n"
                          "max_window = 8h\nmin_approvers = 1\nmin_sudo_approvers = 2\nlogin_shell = /bin/bash\n",
                          "f.conf", no_files());
    ASSERT_TRUE(c.ok()) << c.error().message;
    const jit::GrantLimits& l = c->policy.limits;
    EXPECT_EQ(l.allowed_groups, (std::vector<std::string>{"developers", "www-data"}));
    EXPECT_EQ(l.denied_groups, std::vector<std::string>{"docker"});
    EXPECT_EQ(l.allowed_run_as, std::vector<std::string>{});  // set and empty: no sudo at all
    EXPECT_EQ(l.allowed_sudo_commands,
              (std::vector<std::string>{"/usr/bin/apt-get", "/usr/bin/systemctl restart nginx"}));
    EXPECT_EQ(l.max_window, 8 * 3600);
    EXPECT_EQ(l.min_approvers, 1u);
    EXPECT_EQ(l.min_sudo_approvers, 2u);
    EXPECT_EQ(l.login_shell, "/bin/bash");
    // Left out: anything but the default deny list.
    auto d = parse_config("[authority]\nurl = https://x\n", "f.conf", no_files());
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->policy.limits.allowed_groups);
    EXPECT_FALSE(d->policy.limits.allowed_run_as);
    EXPECT_FALSE(d->policy.limits.allowed_sudo_commands);
    EXPECT_EQ(d->policy.limits.denied_groups, jit::default_denied_groups());
    EXPECT_EQ(d->policy.limits.max_window, 0);
}

// The annotated example and docs/config.md cover every key, and the example parses.
TEST(Config, ExampleAndDocsCoverEveryKey) {
    auto read = [](const std::string& p) {
        std::ifstream in(p);
        EXPECT_TRUE(in.good()) << p;
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const std::string example = read(JIT_SOURCE_DIR "/packaging/helperd.conf.example");
    const std::string docs = read(JIT_SOURCE_DIR "/docs/config.md");
    auto c = parse_config(example, "helperd.conf.example", no_files());
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    for (const auto& key : config_keys()) {
        const std::string name = key.substr(key.find('.') + 1);
        EXPECT_NE(example.find(name + " ="), std::string::npos) << key << " missing in helperd.conf.example";
        EXPECT_NE(docs.find("`" + key + "`"), std::string::npos) << key << " missing in docs/config.md";
    }
}
