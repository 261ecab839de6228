// pam_jit's logic without PAM: arguments, the daemon-less fallback, and the
// mapping of daemon answers (from a fake daemon on a real socket) to outcomes.
#include "fake_daemon.hpp"
#include "module_core.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace {

using jit::pam::Code;
using jit::test::FakeDaemon;

std::vector<const char*> argv_of(const std::vector<std::string>& v) {
    std::vector<const char*> out;
    for (const auto& s : v) out.push_back(s.c_str());
    return out;
}

jit::pam::ModuleArgs parse(std::vector<std::string> v) {
    auto a = argv_of(v);
    return jit::pam::parse_args(int(a.size()), a.data());
}

TEST(ParseArgs, Defaults) {
    auto a = parse({});
    EXPECT_FALSE(a.debug);
    EXPECT_FALSE(a.quiet);
    EXPECT_EQ(a.socket, "/run/jit/helperd.sock");
    EXPECT_EQ(a.timeout_ms, 1500);
    EXPECT_EQ(a.kind, "");
    EXPECT_EQ(a.uid_min, 70000u);
    EXPECT_EQ(a.uid_max, 79999u);
    EXPECT_TRUE(a.warnings.empty());
}

TEST(ParseArgs, AllKnownArguments) {
    auto a = parse({"debug", "quiet", "socket=/tmp/x.sock", "timeout_ms=300", "kind=sudo", "uid_min=5000", "uid_max=5999"});
    EXPECT_TRUE(a.debug);
    EXPECT_TRUE(a.quiet);
    EXPECT_EQ(a.socket, "/tmp/x.sock");
    EXPECT_EQ(a.timeout_ms, 300);
    EXPECT_EQ(a.kind, "sudo");
    EXPECT_EQ(a.uid_min, 5000u);
    EXPECT_EQ(a.uid_max, 5999u);
    EXPECT_TRUE(a.warnings.empty());
}

TEST(ParseArgs, BadValuesWarnAndKeepSafeValues) {
    auto a = parse({"timeout_ms=1", "kind=root", "socket=relative", "bogus", "uid_min=-5", "timeout_ms="});
    EXPECT_EQ(a.timeout_ms, 50);  // clamped, then the empty one is ignored
    EXPECT_EQ(a.kind, "");
    EXPECT_EQ(a.socket, "/run/jit/helperd.sock");
    EXPECT_EQ(a.uid_min, 70000u);
    ASSERT_EQ(a.warnings.size(), 7u);  // the second timeout_ms= also repeats the first
    EXPECT_NE(a.warnings[0].find("clamped to 50"), std::string::npos) << a.warnings[0];
    EXPECT_NE(a.warnings[3].find("unknown argument 'bogus'"), std::string::npos) << a.warnings[3];
    EXPECT_NE(a.warnings[5].find("repeats timeout_ms="), std::string::npos) << a.warnings[5];
    EXPECT_EQ(parse({"timeout_ms=999999"}).timeout_ms, 10000);
    auto inverted = parse({"uid_min=9", "uid_max=5"});
    EXPECT_EQ(inverted.uid_min, 70000u);
    EXPECT_EQ(inverted.uid_max, 79999u);
    EXPECT_EQ(inverted.warnings.size(), 1u);
}

// A key given twice (a stack edited by hand, a line pasted twice): the last
// value is used, as PAM modules do, and the repeat is named in a warning.
TEST(ParseArgs, RepeatedKeysWarnAndTheLastWins) {
    auto a = parse({"socket=/a.sock", "debug", "socket=/b.sock", "debug", "uid_max=79999", "uid_max=89999"});
    EXPECT_EQ(a.socket, "/b.sock");
    EXPECT_EQ(a.uid_max, 89999u);
    ASSERT_EQ(a.warnings.size(), 2u);
    EXPECT_EQ(a.warnings[0], "argument 'socket=/b.sock' repeats socket=; the last one is used");
    EXPECT_EQ(a.warnings[1], "argument 'uid_max=89999' repeats uid_max=; the last one is used");
}

class WithPasswd : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/jit-pam-passwd-XXXXXX";
        int fd = mkstemp(tmpl);
        ASSERT_GE(fd, 0);
        close(fd);
        passwd = tmpl;
        std::ofstream f(passwd);
        f << "root:x:0:0:root:/root:/bin/bash\n"
             "toor:x:0:0:root alias:/root:/bin/bash\n"
             "ops:x:1000:1000:Ops:/home/ops:/bin/bash\n"
             "jt-alice:x:70501:70501::/home/jt-alice:/bin/bash\n"
             "edge:x:79999:79999::/home/edge:/bin/bash\n"
             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    }
    void TearDown() override { unlink(passwd.c_str()); }

    jit::pam::PamItems items(std::string user, std::string service = "sshd") {
        jit::pam::PamItems it;
        it.user = std::move(user);
        it.service = std::move(service);
        it.rhost = "192.0.2.7";
        it.tty = "ssh";
        it.pid = 4242;
        return it;
    }
    std::string passwd;
};

TEST_F(WithPasswd, ManagedWithoutDaemon) {
    auto a = parse({});
    EXPECT_FALSE(jit::pam::managed_without_daemon("root", a, passwd.c_str()));
    EXPECT_FALSE(jit::pam::managed_without_daemon("toor", parse({"uid_min=1", "uid_max=9"}), passwd.c_str()));
    EXPECT_FALSE(jit::pam::managed_without_daemon("ops", a, passwd.c_str()));
    EXPECT_FALSE(jit::pam::managed_without_daemon("nobody", a, passwd.c_str()));
    EXPECT_TRUE(jit::pam::managed_without_daemon("jt-alice", a, passwd.c_str()));
    EXPECT_TRUE(jit::pam::managed_without_daemon("edge", a, passwd.c_str()));
    EXPECT_TRUE(jit::pam::managed_without_daemon("nss-only", a, passwd.c_str()));  // not in /etc/passwd
    EXPECT_TRUE(jit::pam::managed_without_daemon("ops", parse({"uid_min=1000", "uid_max=1000"}), passwd.c_str()));
    EXPECT_FALSE(jit::pam::managed_without_daemon("root", a, "/nonexistent/passwd"));
    EXPECT_TRUE(jit::pam::managed_without_daemon("ops", a, "/nonexistent/passwd"));  // unreadable: fail closed
}

TEST_F(WithPasswd, AllowSendsCheckAndTellsUntil) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "allow"}, {"reason", "active_grant"},
              {"message", "jitlogin: access until 15:30 (in 47 min), grant g-7f3a"}, {"grant_id", "g-7f3a"},
              {"not_after", "1795793400"}});
    auto o = jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice"), passwd.c_str());
    EXPECT_EQ(o.code, Code::Success);
    EXPECT_EQ(o.user_info, "jitlogin: access until 15:30 (in 47 min), grant g-7f3a");
    EXPECT_EQ(o.user_error, "");
    EXPECT_EQ(o.grant_id, "g-7f3a");
    auto reqs = d.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0], (jit::ipc::Message{{"op", "check"}, {"user", "jt-alice"}, {"service", "sshd"},
                                          {"rhost", "192.0.2.7"}, {"tty", "ssh"}}));
}

TEST_F(WithPasswd, QuietSuppressesOnlyTheSuccessNotice) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "allow"}, {"message", "jitlogin: access until 15:30"}, {"grant_id", "g-1"}});
    auto o = jit::pam::run_account(parse({"quiet", "socket=" + d.path()}), items("jt-alice"), passwd.c_str());
    EXPECT_EQ(o.code, Code::Success);
    EXPECT_EQ(o.user_info, "");
    d.answer({{"status", "ok"}, {"decision", "deny"}, {"message", "jitlogin: access window ended at 14:05"}});
    o = jit::pam::run_account(parse({"quiet", "socket=" + d.path()}), items("jt-alice"), passwd.c_str());
    EXPECT_EQ(o.code, Code::PermDenied);
    EXPECT_EQ(o.user_error, "jitlogin: access window ended at 14:05");
}

TEST_F(WithPasswd, NoSuccessNoticeForSudo) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "allow"}, {"message", "jitlogin: access until 15:30"}, {"grant_id", "g-1"}});
    EXPECT_EQ(jit::pam::run_account(parse({"kind=sudo", "socket=" + d.path()}), items("jt-alice"), passwd.c_str()).user_info, "");
    EXPECT_EQ(jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice", "sudo"), passwd.c_str()).user_info, "");
    EXPECT_EQ(jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice", "sudo-i"), passwd.c_str()).user_info, "");
    EXPECT_EQ(jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice", "su"), passwd.c_str()).user_info,
              "jitlogin: access until 15:30");
    d.answer({{"status", "ok"}, {"decision", "allow"}, {"kind", "sudo"}, {"message", "jitlogin: access until 15:30"}});
    EXPECT_EQ(jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice", "my-sudo"), passwd.c_str()).user_info, "");
}

TEST_F(WithPasswd, DenyShowsOneSanitisedLine) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "deny"}, {"reason", "no_grant"},
              {"message", "jitlogin: no active grant\nfor jt-alice\x1b[2J"}});
    auto o = jit::pam::run_account(parse({"socket=" + d.path(), "kind=su"}), items("jt-alice", "su-custom"),
                                   passwd.c_str());
    EXPECT_EQ(o.code, Code::PermDenied);
    EXPECT_EQ(o.user_error, "jitlogin: no active grant?for jt-alice?[2J");
    ASSERT_EQ(d.requests().size(), 1u);
    EXPECT_EQ(jit::ipc::get(d.requests()[0], "kind"), "su");
    d.answer({{"status", "ok"}, {"decision", "deny"}, {"reason", "no_sudo"}});
    EXPECT_EQ(jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice"), passwd.c_str()).user_error,
              "jitlogin: access denied (no_sudo)");
}

TEST_F(WithPasswd, IgnoreFromDaemonIsIgnore) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "ignore"}, {"reason", "break_glass"}});
    auto o = jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice"), passwd.c_str());
    EXPECT_EQ(o.code, Code::Ignore);
    EXPECT_EQ(o.user_error, "");
    EXPECT_EQ(o.user_info, "");
}

TEST_F(WithPasswd, UnreachableFailsClosedOnlyForManagedUsers) {
    auto args = parse({"socket=/tmp/jit-no-such-dir/helperd.sock", "timeout_ms=100"});
    auto managed = jit::pam::run_account(args, items("jt-alice"), passwd.c_str());
    EXPECT_EQ(managed.code, Code::AuthinfoUnavail);
    EXPECT_EQ(managed.user_error, "jitlogin: cannot reach jit-helperd; access for JIT users is refused");
    EXPECT_TRUE(managed.log_is_error);
    EXPECT_NE(managed.log.find("jit-no-such-dir"), std::string::npos) << managed.log;
    auto nss_only = jit::pam::run_account(args, items("someone-new"), passwd.c_str());
    EXPECT_EQ(nss_only.code, Code::AuthinfoUnavail);
    for (const char* local : {"root", "ops", "nobody"}) {
        auto o = jit::pam::run_account(args, items(local), passwd.c_str());
        EXPECT_EQ(o.code, Code::Ignore) << local;
        EXPECT_EQ(o.user_error, "") << local;
    }
}

TEST_F(WithPasswd, TimeoutHangupGarbageAndErrorsFailClosed) {
    FakeDaemon d;
    auto args = parse({"socket=" + d.path(), "timeout_ms=100"});
    for (FakeDaemon::Mode m : {FakeDaemon::Mode::Silent, FakeDaemon::Mode::Hangup, FakeDaemon::Mode::Garbage}) {
        d.set_mode(m);
        EXPECT_EQ(jit::pam::run_account(args, items("jt-alice"), passwd.c_str()).code, Code::AuthinfoUnavail);
        EXPECT_EQ(jit::pam::run_account(args, items("ops"), passwd.c_str()).code, Code::Ignore);
    }
    d.set_mode(FakeDaemon::Mode::Answer);
    d.answer({{"status", "error"}, {"error", "bad_request"}, {"message", "missing user"}});
    auto o = jit::pam::run_account(args, items("jt-alice"), passwd.c_str());
    EXPECT_EQ(o.code, Code::AuthinfoUnavail);
    EXPECT_EQ(o.user_error, "jitlogin: jit-helperd could not decide; access for JIT users is refused");
    EXPECT_NE(o.log.find("bad_request: missing user"), std::string::npos) << o.log;
    EXPECT_EQ(jit::pam::run_account(args, items("ops"), passwd.c_str()).code, Code::Ignore);
    d.answer({{"status", "ok"}, {"decision", "maybe"}});
    EXPECT_EQ(jit::pam::run_account(args, items("jt-alice"), passwd.c_str()).code, Code::AuthinfoUnavail);
    d.answer({{"status", "ok"}});
    EXPECT_EQ(jit::pam::run_account(args, items("jt-alice"), passwd.c_str()).code, Code::AuthinfoUnavail);
}

TEST_F(WithPasswd, SessionOpenAndCloseRegister) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"grant_id", "g-7f3a"}});
    auto it = items("jt-alice");
    it.logind_session = "37";
    auto args = parse({"socket=" + d.path()});
    EXPECT_EQ(jit::pam::run_session(args, it, true, passwd.c_str()).code, Code::Success);
    EXPECT_EQ(jit::pam::run_session(args, it, false, passwd.c_str()).code, Code::Success);
    auto reqs = d.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0], (jit::ipc::Message{{"op", "session_open"}, {"user", "jt-alice"}, {"service", "sshd"},
                                          {"rhost", "192.0.2.7"}, {"tty", "ssh"}, {"pid", "4242"},
                                          {"logind_session", "37"}}));
    EXPECT_EQ(jit::ipc::get(reqs[1], "op"), "session_close");
    d.answer({{"status", "ok"}, {"decision", "ignore"}});
    EXPECT_EQ(jit::pam::run_session(args, items("ops"), true, passwd.c_str()).code, Code::Ignore);
    d.answer({{"status", "ok"}, {"managed", "no"}});  // jit-helperd's answer for users it does not manage
    EXPECT_EQ(jit::pam::run_session(args, items("ops"), true, passwd.c_str()).code, Code::Ignore);
    d.answer({{"status", "ok"}, {"decision", "deny"}, {"reason", "no_grant"}, {"message", "jitlogin: no active grant"}});
    auto denied = jit::pam::run_session(args, it, true, passwd.c_str());
    EXPECT_EQ(denied.code, Code::SessionErr);
    EXPECT_EQ(denied.user_error, "jitlogin: no active grant");
}

TEST_F(WithPasswd, SessionWithoutDaemon) {
    auto args = parse({"socket=/tmp/jit-no-such-dir/helperd.sock"});
    auto managed = jit::pam::run_session(args, items("jt-alice"), true, passwd.c_str());
    EXPECT_EQ(managed.code, Code::SessionErr);
    EXPECT_NE(managed.user_error, "");
    EXPECT_EQ(jit::pam::run_session(args, items("jt-alice"), false, passwd.c_str()).code, Code::SessionErr);
    EXPECT_EQ(jit::pam::run_session(args, items("jt-alice"), false, passwd.c_str()).user_error, "");
    EXPECT_EQ(jit::pam::run_session(args, items("ops"), true, passwd.c_str()).code, Code::Ignore);
    EXPECT_EQ(jit::pam::run_session(args, items("root"), false, passwd.c_str()).code, Code::Ignore);
}

TEST(OneLine, ControlBytesAndLength) {
    EXPECT_EQ(jit::pam::one_line("a\nb\rc\td"), "a?b?c?d");
    EXPECT_EQ(jit::pam::one_line(std::string(1000, 'x')).size(), 300u);
    EXPECT_EQ(jit::pam::one_line("héllo"), "héllo");
    // 299 ASCII bytes + "é" (2 bytes): the limit would split it; it is dropped whole.
    EXPECT_EQ(jit::pam::one_line(std::string(299, 'x') + "é" + "tail"), std::string(299, 'x'));
    EXPECT_EQ(jit::pam::one_line(std::string(298, 'x') + "é" + "tail"), std::string(298, 'x') + "é");
}

}  // namespace
