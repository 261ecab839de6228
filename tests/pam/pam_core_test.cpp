// pam_jit's logic without PAM: arguments, the daemon-less fallback, and the
// mapping of daemon answers (from a fake daemon on a real socket) to outcomes.
#include "fake_daemon.hpp"
#include "module_core.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>

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
    EXPECT_EQ(a.socket, JIT_SOCKET_PATH);
    EXPECT_EQ(a.timeout_ms, JIT_PAM_TIMEOUT_MS);
    EXPECT_EQ(a.kind, "");
    EXPECT_EQ(a.uid_min, JIT_DEFAULT_UID_MIN);
    EXPECT_EQ(a.uid_max, JIT_DEFAULT_UID_MAX);
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
    EXPECT_EQ(a.socket, JIT_SOCKET_PATH);
    EXPECT_EQ(a.uid_min, JIT_DEFAULT_UID_MIN);
    ASSERT_EQ(a.warnings.size(), 7u);  // the second timeout_ms= also repeats the first
    EXPECT_NE(a.warnings[0].find("clamped to 50"), std::string::npos) << a.warnings[0];
    EXPECT_NE(a.warnings[3].find("unknown argument 'bogus'"), std::string::npos) << a.warnings[3];
    EXPECT_NE(a.warnings[5].find("repeats timeout_ms="), std::string::npos) << a.warnings[5];
    EXPECT_EQ(parse({"timeout_ms=999999"}).timeout_ms, 10000);
    auto inverted = parse({"uid_min=9", "uid_max=5"});
    EXPECT_EQ(inverted.uid_min, JIT_DEFAULT_UID_MIN);
    EXPECT_EQ(inverted.uid_max, JIT_DEFAULT_UID_MAX);
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

// The host as the daemon-less fallback sees it, through LocalFacts: accounts
// from NSS (files or a directory) and the NSS snapshot's users.
jit::LocalAccount fake_account(const std::string& user) {
    static const std::map<std::string, std::pair<std::uint32_t, std::vector<std::string>>> accounts = {
        {"root", {0, {"root"}}},          {"toor", {0, {"root"}}},
        {"ops", {1000, {"ops", "adm"}}},  {"jt-alice", {70501, {"jt-alice"}}},
        {"edge", {79999, {"edge"}}},      {"nobody", {65534, {"nogroup"}}},
        {"dirk", {20001, {"staff"}}},     {"carol", {20002, {"staff", "jitusers"}}},
        {"jt-fleet", {5000, {"jt-fleet"}}},
    };
    jit::LocalAccount a;
    if (user == "nss-error") a.lookup_failed = true;
    if (user == "half-read") {  // uid known, a group could not be read
        a.uid = 20003;
        a.groups = {"staff"};
        a.lookup_failed = true;
    }
    if (auto it = accounts.find(user); it != accounts.end()) {
        a.uid = it->second.first;
        a.groups = it->second.second;
    }
    return a;
}
std::vector<std::string> g_lookups;  // every user the fallback looked up, in order
jit::LocalAccount recorded_account(const std::string& user) {
    g_lookups.push_back(user);
    return fake_account(user);
}
bool fake_snapshot(const std::string& path, const std::string& user, std::string* why) {
    if (path == "/corrupt.db") {
        *why = "NSS snapshot /corrupt.db is corrupt";
        return false;
    }
    return user == "jt-fleet";
}

class WithPasswd : public ::testing::Test {
protected:
    void SetUp() override {
        g_lookups.clear();
        facts.account = &recorded_account;
        facts.in_snapshot = &fake_snapshot;
    }

    jit::pam::PamItems items(std::string user, std::string service = "sshd") {
        jit::pam::PamItems it;
        it.user = std::move(user);
        it.service = std::move(service);
        it.rhost = "192.0.2.7";
        it.tty = "ssh";
        it.pid = 4242;
        return it;
    }
    bool managed(const std::string& user, const jit::pam::ModuleArgs& a) {
        return jit::pam::managed_without_daemon(user, a, facts).managed;
    }
    jit::pam::LocalFacts facts;
};

TEST_F(WithPasswd, ManagedWithoutDaemon) {
    auto a = parse({});
    EXPECT_FALSE(managed("root", a));
    EXPECT_FALSE(managed("toor", parse({"uid_min=1", "uid_max=9"})));
    EXPECT_FALSE(managed("ops", a));
    EXPECT_FALSE(managed("nobody", a));
    EXPECT_TRUE(managed("jt-alice", a));
    EXPECT_TRUE(managed("edge", a));
    EXPECT_TRUE(managed("ops", parse({"uid_min=1000", "uid_max=1000"})));
    // A directory user outside the range, in no managed group: not managed.
    EXPECT_FALSE(managed("dirk", a));
    EXPECT_TRUE(managed("carol", parse({"managed_groups=wheel,jitusers"})));
    EXPECT_FALSE(managed("carol", parse({"managed_groups=wheel"})));
    // A JIT user with a fleet uid outside the range is known from the snapshot.
    EXPECT_TRUE(managed("jt-fleet", a));
    EXPECT_FALSE(managed("jt-fleet", parse({"break_glass=ops,jt-fleet"})));
    EXPECT_FALSE(managed("jt-alice", parse({"break_glass=jt-alice"})));
    // Unknown to every NSS source, or NSS failed: only a JIT user can be missing (fail closed).
    EXPECT_TRUE(managed("gone", a));
    EXPECT_TRUE(managed("nss-error", a));
    // A group that could not be read matters only when there are managed groups.
    EXPECT_FALSE(managed("half-read", a));
    EXPECT_TRUE(managed("half-read", parse({"managed_groups=jitusers"})));
    // A corrupt snapshot is named in the reason; the other facts still decide.
    auto corrupt = jit::pam::managed_without_daemon("dirk", parse({"nss_db=/corrupt.db"}), facts);
    EXPECT_FALSE(corrupt.managed);
    EXPECT_NE(corrupt.why.find("corrupt"), std::string::npos) << corrupt.why;
}

// Names no grant can carry are decided before any lookup, daemon or not.
TEST_F(WithPasswd, NamesOutsideTheGrantRuleAreNeverManaged) {
    for (const char* name : {"john.smith", "alice@corp.example", "Bob", "a-name-far-longer-than-thirty-two-b", "",
                             "x y", "root"}) {
        EXPECT_TRUE(jit::pam::never_managed(name) || std::string(name).empty()) << name;
        EXPECT_FALSE(managed(name, parse({}))) << name;
    }
    EXPECT_TRUE(g_lookups.empty());
    FakeDaemon d;
    d.answer({{"status", "error"}, {"error", "bad_request"}, {"message", "'user' missing or not a valid login name"}});
    for (const char* name : {"john.smith", "alice@corp.example", "Bob"}) {
        auto args = parse({"socket=" + d.path()});
        EXPECT_EQ(jit::pam::run_account(args, items(name), facts).code, Code::Ignore) << name;
        EXPECT_EQ(jit::pam::run_session(args, items(name), true, facts).code, Code::Ignore) << name;
        EXPECT_EQ(jit::pam::run_session(args, items(name), false, facts).code, Code::Ignore) << name;
    }
    EXPECT_TRUE(d.requests().empty());
    EXPECT_TRUE(g_lookups.empty());
}

// The daemon stopped: a directory user with a valid-looking name is looked up
// through NSS and not blocked; a JIT user is.
TEST_F(WithPasswd, DaemonDownDecidesFromLocalFacts) {
    auto args = parse({"socket=/tmp/jit-no-such-dir/helperd.sock", "timeout_ms=100", "managed_groups=jitusers"});
    EXPECT_EQ(jit::pam::run_account(args, items("dirk"), facts).code, Code::Ignore);
    EXPECT_EQ(jit::pam::run_session(args, items("dirk"), true, facts).code, Code::Ignore);
    EXPECT_EQ(g_lookups, (std::vector<std::string>{"dirk", "dirk"}));
    for (const char* jit_user : {"jt-alice", "jt-fleet", "carol", "gone"}) {
        auto o = jit::pam::run_account(args, items(jit_user), facts);
        EXPECT_EQ(o.code, Code::AuthinfoUnavail) << jit_user;
        EXPECT_TRUE(o.log_is_error) << jit_user;
        EXPECT_EQ(jit::pam::run_session(args, items(jit_user), true, facts).code, Code::PermDenied) << jit_user;
    }
}

TEST_F(WithPasswd, AllowSendsCheckAndTellsUntil) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "allow"}, {"reason", "active_grant"},
              {"message", "jitlogin: access until 15:30 (in 47 min), grant g-7f3a"}, {"grant_id", "g-7f3a"},
              {"not_after", "1795793400"}});
    auto o = jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice"), facts);
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
    auto o = jit::pam::run_account(parse({"quiet", "socket=" + d.path()}), items("jt-alice"), facts);
    EXPECT_EQ(o.code, Code::Success);
    EXPECT_EQ(o.user_info, "");
    d.answer({{"status", "ok"}, {"decision", "deny"}, {"message", "jitlogin: access window ended at 14:05"}});
    o = jit::pam::run_account(parse({"quiet", "socket=" + d.path()}), items("jt-alice"), facts);
    EXPECT_EQ(o.code, Code::PermDenied);
    EXPECT_EQ(o.user_error, "jitlogin: access window ended at 14:05");
}

TEST_F(WithPasswd, NoSuccessNoticeForSudo) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "allow"}, {"message", "jitlogin: access until 15:30"}, {"grant_id", "g-1"}});
    EXPECT_EQ(jit::pam::run_account(parse({"kind=sudo", "socket=" + d.path()}), items("jt-alice"), facts).user_info, "");
    EXPECT_EQ(jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice", "sudo"), facts).user_info, "");
    EXPECT_EQ(jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice", "sudo-i"), facts).user_info, "");
    EXPECT_EQ(jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice", "su"), facts).user_info,
              "jitlogin: access until 15:30");
    d.answer({{"status", "ok"}, {"decision", "allow"}, {"kind", "sudo"}, {"message", "jitlogin: access until 15:30"}});
    EXPECT_EQ(jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice", "my-sudo"), facts).user_info, "");
}

TEST_F(WithPasswd, DenyShowsOneSanitisedLine) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "deny"}, {"reason", "no_grant"},
              {"message", "jitlogin: no active grant\nfor jt-alice\x1b[2J"}});
    auto o = jit::pam::run_account(parse({"socket=" + d.path(), "kind=su"}), items("jt-alice", "su-custom"),
                                   facts);
    EXPECT_EQ(o.code, Code::PermDenied);
    EXPECT_EQ(o.user_error, "jitlogin: no active grant?for jt-alice?[2J");
    ASSERT_EQ(d.requests().size(), 1u);
    EXPECT_EQ(jit::ipc::get(d.requests()[0], "kind"), "su");
    d.answer({{"status", "ok"}, {"decision", "deny"}, {"reason", "no_sudo"}});
    EXPECT_EQ(jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice"), facts).user_error,
              "jitlogin: access denied (no_sudo)");
}

TEST_F(WithPasswd, IgnoreFromDaemonIsIgnore) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "ignore"}, {"reason", "break_glass"}});
    auto o = jit::pam::run_account(parse({"socket=" + d.path()}), items("jt-alice"), facts);
    EXPECT_EQ(o.code, Code::Ignore);
    EXPECT_EQ(o.user_error, "");
    EXPECT_EQ(o.user_info, "");
}

TEST_F(WithPasswd, UnreachableFailsClosedOnlyForManagedUsers) {
    auto args = parse({"socket=/tmp/jit-no-such-dir/helperd.sock", "timeout_ms=100"});
    auto managed = jit::pam::run_account(args, items("jt-alice"), facts);
    EXPECT_EQ(managed.code, Code::AuthinfoUnavail);
    EXPECT_EQ(managed.user_error, "jitlogin: cannot reach jit-helperd; access for JIT users is refused");
    EXPECT_TRUE(managed.log_is_error);
    EXPECT_NE(managed.log.find("jit-no-such-dir"), std::string::npos) << managed.log;
    auto nss_only = jit::pam::run_account(args, items("someone-new"), facts);
    EXPECT_EQ(nss_only.code, Code::AuthinfoUnavail);
    for (const char* local : {"root", "ops", "nobody"}) {
        auto o = jit::pam::run_account(args, items(local), facts);
        EXPECT_EQ(o.code, Code::Ignore) << local;
        EXPECT_EQ(o.user_error, "") << local;
    }
}

TEST_F(WithPasswd, TimeoutHangupGarbageAndErrorsFailClosed) {
    FakeDaemon d;
    auto args = parse({"socket=" + d.path(), "timeout_ms=100"});
    for (FakeDaemon::Mode m : {FakeDaemon::Mode::Silent, FakeDaemon::Mode::Hangup, FakeDaemon::Mode::Garbage}) {
        d.set_mode(m);
        EXPECT_EQ(jit::pam::run_account(args, items("jt-alice"), facts).code, Code::AuthinfoUnavail);
        EXPECT_EQ(jit::pam::run_account(args, items("ops"), facts).code, Code::Ignore);
    }
    d.set_mode(FakeDaemon::Mode::Answer);
    d.answer({{"status", "error"}, {"error", "bad_request"}, {"message", "missing user"}});
    // An error answer about this request: the daemon is there but did not
    // decide; a managed user is refused (PERM_DENIED, not "unavailable"), and
    // the error is logged even for a user it does not concern.
    auto o = jit::pam::run_account(args, items("jt-alice"), facts);
    EXPECT_EQ(o.code, Code::PermDenied);
    EXPECT_EQ(o.user_error, "jitlogin: jit-helperd could not decide; access for JIT users is refused");
    EXPECT_NE(o.log.find("bad_request: missing user"), std::string::npos) << o.log;
    auto ops = jit::pam::run_account(args, items("ops"), facts);
    EXPECT_EQ(ops.code, Code::Ignore);
    EXPECT_TRUE(ops.log_is_error);
    EXPECT_NE(ops.log.find("bad_request: missing user"), std::string::npos) << ops.log;
    // error=busy is "could not answer": asked again until timeout_ms, then
    // unavailable, like a timeout.
    d.answer({{"status", "error"}, {"error", "busy"}, {"message", "too many connections"}});
    d.clear_requests();
    EXPECT_EQ(jit::pam::run_account(args, items("jt-alice"), facts).code, Code::AuthinfoUnavail);
    EXPECT_GT(d.requests().size(), 1u);
    EXPECT_EQ(jit::pam::run_account(args, items("ops"), facts).code, Code::Ignore);
    d.answer({{"status", "ok"}, {"decision", "maybe"}});
    EXPECT_EQ(jit::pam::run_account(args, items("jt-alice"), facts).code, Code::AuthinfoUnavail);
    d.answer({{"status", "ok"}});
    EXPECT_EQ(jit::pam::run_account(args, items("jt-alice"), facts).code, Code::AuthinfoUnavail);
}

// Issue 18 (bench/load): a burst of PAM checks fills the daemon's connection
// slots and the ones over the cap get error=busy. The module asks again, and
// a user the daemon allows is allowed, not refused as "unreachable".
TEST_F(WithPasswd, BusyIsAskedAgainWithinTheTimeout) {
    FakeDaemon d;
    auto args = parse({"socket=" + d.path()});
    std::atomic<int> calls{0};
    d.set_handler([&calls](const jit::ipc::Message&) -> jit::ipc::Message {
        if (++calls <= 3) return {{"status", "error"}, {"error", "busy"}, {"message", "too many connections"}};
        return {{"status", "ok"}, {"decision", "allow"}, {"grant_id", "g-1"}};
    });
    EXPECT_EQ(jit::pam::run_account(args, items("jt-alice"), facts).code, Code::Success);
    EXPECT_EQ(calls.load(), 4);
    // Any other error is final: asked once.
    calls = 0;
    d.set_handler([&calls](const jit::ipc::Message&) -> jit::ipc::Message {
        ++calls;
        return {{"status", "error"}, {"error", "bad_request"}, {"message", "missing user"}};
    });
    EXPECT_EQ(jit::pam::run_account(args, items("jt-alice"), facts).code, Code::PermDenied);
    EXPECT_EQ(calls.load(), 1);
}

TEST_F(WithPasswd, SessionOpenAndCloseRegister) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "allow"}, {"grant_id", "g-7f3a"}, {"session", "1"}});
    auto it = items("jt-alice");
    it.logind_session = "37";
    auto args = parse({"socket=" + d.path()});
    EXPECT_EQ(jit::pam::run_session(args, it, true, facts).code, Code::Success);
    EXPECT_EQ(jit::pam::run_session(args, it, false, facts).code, Code::Success);
    auto reqs = d.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0], (jit::ipc::Message{{"op", "session_open"}, {"user", "jt-alice"}, {"service", "sshd"},
                                          {"rhost", "192.0.2.7"}, {"tty", "ssh"}, {"pid", "4242"},
                                          {"logind_session", "37"}}));
    EXPECT_EQ(jit::ipc::get(reqs[1], "op"), "session_close");
    d.answer({{"status", "ok"}, {"decision", "ignore"}});
    EXPECT_EQ(jit::pam::run_session(args, items("ops"), true, facts).code, Code::Ignore);
    d.answer({{"status", "ok"}, {"managed", "no"}});  // jit-helperd's answer for users it does not manage
    EXPECT_EQ(jit::pam::run_session(args, items("ops"), true, facts).code, Code::Ignore);
    d.answer({{"status", "ok"}, {"decision", "deny"}, {"reason", "no_grant"}, {"message", "jitlogin: no active grant"}});
    auto denied = jit::pam::run_session(args, it, true, facts);
    EXPECT_EQ(denied.code, Code::PermDenied);
    EXPECT_EQ(denied.user_error, "jitlogin: no active grant");
    // An answer that registers nothing must not let the session run untracked.
    d.answer({{"status", "ok"}, {"grant_id", "g-7f3a"}});
    EXPECT_EQ(jit::pam::run_session(args, it, true, facts).code, Code::PermDenied);
    d.answer({{"status", "error"}, {"error", "internal"}, {"message", "boom"}});
    EXPECT_EQ(jit::pam::run_session(args, it, true, facts).code, Code::PermDenied);
    EXPECT_EQ(jit::pam::run_session(args, items("ops"), true, facts).code, Code::Ignore);
}

// sudo: PAM_RUSER is the invoking user. An admin's `sudo -u jt-alice` is about
// becoming jt-alice (su to her), not a sudo by her; jt-alice's own sudo (to
// root) is hers, in the account phase and in the session phase, where sudo
// has set PAM_USER to the target.
TEST_F(WithPasswd, SudoIsDecidedForTheInvokingUserAndTheTarget) {
    FakeDaemon d;
    d.set_handler([](const jit::ipc::Message& req) -> jit::ipc::Message {
        const std::string user = jit::ipc::get(req, "user");
        const bool session = jit::ipc::get(req, "op") != "check";
        if (user != "jt-alice") return {{"status", "ok"}, {"decision", "ignore"}, {"managed", "no"}, {"session", ""}};
        return {{"status", "ok"}, {"decision", "allow"}, {"grant_id", "g-1"}, {"session", session ? "5" : ""}};
    });
    auto args = parse({"socket=" + d.path()});
    auto admin_sudo_to_alice = items("jt-alice", "sudo");
    admin_sudo_to_alice.ruser = "ops";
    // Account phase (PAM_USER = ops, the invoking user) and session phase (PAM_USER = jt-alice).
    auto acct = items("ops", "sudo");
    acct.ruser = "ops";
    EXPECT_EQ(jit::pam::run_account(args, acct, facts).code, Code::Ignore);
    EXPECT_EQ(jit::pam::run_account(args, admin_sudo_to_alice, facts).code, Code::Success);
    EXPECT_EQ(jit::pam::run_session(args, admin_sudo_to_alice, true, facts).code, Code::Success);
    EXPECT_EQ(jit::pam::run_session(args, admin_sudo_to_alice, false, facts).code, Code::Success);
    auto reqs = d.requests();
    ASSERT_EQ(reqs.size(), 7u);
    EXPECT_EQ(reqs[0], (jit::ipc::Message{{"op", "check"}, {"user", "ops"}, {"service", "sudo"}, {"rhost", "192.0.2.7"},
                                          {"tty", "ssh"}, {"ruser", "ops"}}));
    // ops first, as a sudo to jt-alice; ops is not managed: becoming jt-alice is a su to her.
    EXPECT_EQ(jit::ipc::get(reqs[1], "user"), "ops");
    EXPECT_EQ(jit::ipc::get(reqs[1], "kind"), "sudo");
    EXPECT_EQ(jit::ipc::get(reqs[1], "run_as"), "jt-alice");
    EXPECT_EQ(jit::ipc::get(reqs[2], "user"), "jt-alice");
    EXPECT_EQ(jit::ipc::get(reqs[2], "kind"), "su");
    EXPECT_EQ(jit::ipc::get(reqs[3], "op"), "session_open");
    EXPECT_EQ(jit::ipc::get(reqs[3], "user"), "ops");
    EXPECT_EQ(jit::ipc::get(reqs[4], "op"), "session_open");
    EXPECT_EQ(jit::ipc::get(reqs[4], "user"), "jt-alice");
    EXPECT_EQ(jit::ipc::get(reqs[4], "kind"), "su");
    EXPECT_EQ(jit::ipc::get(reqs[6], "op"), "session_close");
    EXPECT_EQ(jit::ipc::get(reqs[6], "user"), "jt-alice");

    // jt-alice's own sudo to root: hers in both phases; root is never asked about.
    d.clear_requests();
    auto alice_sudo = items("jt-alice", "sudo");
    alice_sudo.ruser = "jt-alice";
    EXPECT_EQ(jit::pam::run_account(args, alice_sudo, facts).code, Code::Success);
    auto alice_session = items("root", "sudo");
    alice_session.ruser = "jt-alice";
    alice_session.logind_session = "37";  // her ssh login's, inherited: not sent for a sudo
    EXPECT_EQ(jit::pam::run_session(args, alice_session, true, facts).code, Code::Success);
    EXPECT_EQ(jit::pam::run_session(args, alice_session, false, facts).code, Code::Success);
    reqs = d.requests();
    ASSERT_EQ(reqs.size(), 3u);
    for (const auto& r : reqs) EXPECT_EQ(jit::ipc::get(r, "user"), "jt-alice");
    EXPECT_EQ(jit::ipc::get(reqs[1], "kind"), "sudo");
    EXPECT_EQ(jit::ipc::get(reqs[1], "op"), "session_open");
    EXPECT_EQ(reqs[1].count("logind_session"), 0u);
    EXPECT_EQ(reqs[2].count("logind_session"), 0u);

    // The daemon stopped: the same classification from local facts, one timeout at most.
    auto down = parse({"socket=/tmp/jit-no-such-dir/helperd.sock", "timeout_ms=100"});
    EXPECT_EQ(jit::pam::run_account(down, admin_sudo_to_alice, facts).code, Code::AuthinfoUnavail);
    EXPECT_EQ(jit::pam::run_session(down, alice_session, true, facts).code, Code::PermDenied);
    auto admin_to_dirk = items("dirk", "sudo");
    admin_to_dirk.ruser = "ops";
    EXPECT_EQ(jit::pam::run_account(down, admin_to_dirk, facts).code, Code::Ignore);
    EXPECT_EQ(jit::pam::run_session(down, admin_to_dirk, true, facts).code, Code::Ignore);
}

TEST_F(WithPasswd, SessionWithoutDaemon) {
    auto args = parse({"socket=/tmp/jit-no-such-dir/helperd.sock"});
    auto managed = jit::pam::run_session(args, items("jt-alice"), true, facts);
    EXPECT_EQ(managed.code, Code::PermDenied);  // not SESSION_ERR: sudo would run the command
    EXPECT_NE(managed.user_error, "");
    EXPECT_EQ(jit::pam::run_session(args, items("jt-alice"), false, facts).code, Code::SessionErr);
    EXPECT_EQ(jit::pam::run_session(args, items("jt-alice"), false, facts).user_error, "");
    EXPECT_EQ(jit::pam::run_session(args, items("ops"), true, facts).code, Code::Ignore);
    EXPECT_EQ(jit::pam::run_session(args, items("root"), false, facts).code, Code::Ignore);
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
