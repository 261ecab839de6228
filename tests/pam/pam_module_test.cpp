// pam_jit.so loaded by the real Linux-PAM (pam_start_confdir with a private
// service directory: no root, nothing under /etc touched), talking to a fake
// daemon. What an application sees: return codes and conversation messages.
#include "fake_daemon.hpp"

#include <jit/test/temp_dir.hpp>

#include <security/pam_appl.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#ifndef JIT_PAM_MODULE_PATH
#error "JIT_PAM_MODULE_PATH must name the built pam_jit.so"
#endif

namespace {

using jit::test::FakeDaemon;

struct Conversation {
    std::vector<std::pair<int, std::string>> messages;  // (msg_style, text)
};

int converse(int n, const pam_message** msg, pam_response** resp, void* data) {
    auto* c = static_cast<Conversation*>(data);
    auto* r = static_cast<pam_response*>(calloc(std::size_t(n), sizeof(pam_response)));
    if (!r) return PAM_BUF_ERR;
    for (int i = 0; i < n; ++i) c->messages.emplace_back(msg[i]->msg_style, msg[i]->msg ? msg[i]->msg : "");
    *resp = r;
    return PAM_SUCCESS;
}

class PamModule : public ::testing::Test {
protected:
    void service(const std::string& name, const std::string& text) {
        std::ofstream f(confdir + "/" + name);
        f << text;
    }
    std::string jit_line(const std::string& type, const std::string& args) {
        return type + " required " + std::string(JIT_PAM_MODULE_PATH) + " " + args + "\n";
    }

    // Runs one phase ("acct", "open", "close", "auth") and returns its PAM result.
    int run(const std::string& svc, const std::string& user, const std::string& phase, Conversation* conv,
            const char* xdg_session = nullptr, int flags = 0) {
        pam_conv pc{converse, conv};
        pam_handle_t* pamh = nullptr;
        int rc = pam_start_confdir(svc.c_str(), user.c_str(), &pc, confdir.c_str(), &pamh);
        if (rc != PAM_SUCCESS) return -1000 - rc;
        pam_set_item(pamh, PAM_RHOST, "198.51.100.9");
        pam_set_item(pamh, PAM_TTY, "pts/7");
        pam_set_item(pamh, PAM_RUSER, "ops");
        if (xdg_session) pam_putenv(pamh, (std::string("XDG_SESSION_ID=") + xdg_session).c_str());
        if (phase == "acct") rc = pam_acct_mgmt(pamh, flags);
        else if (phase == "open") rc = pam_open_session(pamh, 0);
        else if (phase == "close") rc = pam_close_session(pamh, 0);
        else rc = pam_authenticate(pamh, 0);
        pam_end(pamh, rc);
        return rc;
    }
    jit::test::TempDir tmp{"jit-pam-confdir"};
    std::string confdir = tmp.path();
};

TEST_F(PamModule, AllowTellsTheUserWhenAccessEnds) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "allow"}, {"reason", "active_grant"}, {"grant_id", "g-7f3a"},
              {"message", "jitlogin: access until 15:30 (in 47 min), grant g-7f3a"}});
    service("jit-test-sshd", jit_line("account", "socket=" + d.path()));
    Conversation c;
    EXPECT_EQ(run("jit-test-sshd", "jt-e-nssonly", "acct", &c), PAM_SUCCESS);
    ASSERT_EQ(c.messages.size(), 1u);
    EXPECT_EQ(c.messages[0].first, PAM_TEXT_INFO);
    EXPECT_EQ(c.messages[0].second, "jitlogin: access until 15:30 (in 47 min), grant g-7f3a");
    auto reqs = d.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0], (jit::ipc::Message{{"op", "check"}, {"user", "jt-e-nssonly"}, {"service", "jit-test-sshd"},
                                          {"rhost", "198.51.100.9"}, {"tty", "pts/7"}, {"ruser", "ops"}}));
}

// PAM_SILENT drops the success notice, never the reason for a refusal.
TEST_F(PamModule, SilentFlagDropsTheNoticeButNotTheRefusal) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "allow"}, {"reason", "active_grant"}, {"grant_id", "g-7f3a"},
              {"message", "jitlogin: access until 15:30 (in 47 min), grant g-7f3a"}});
    service("jit-test-sshd", jit_line("account", "socket=" + d.path()));
    Conversation allowed, denied;
    EXPECT_EQ(run("jit-test-sshd", "jt-e-nssonly", "acct", &allowed, nullptr, PAM_SILENT), PAM_SUCCESS);
    EXPECT_TRUE(allowed.messages.empty());
    d.answer({{"status", "ok"}, {"decision", "deny"}, {"reason", "no_grant"},
              {"message", "jitlogin: no active grant for jt-e-nssonly on web-01"}});
    EXPECT_EQ(run("jit-test-sshd", "jt-e-nssonly", "acct", &denied, nullptr, PAM_SILENT), PAM_PERM_DENIED);
    ASSERT_EQ(denied.messages.size(), 1u);
    EXPECT_EQ(denied.messages[0].first, PAM_ERROR_MSG);
    EXPECT_EQ(denied.messages[0].second, "jitlogin: no active grant for jt-e-nssonly on web-01");
    EXPECT_EQ(d.requests().size(), 2u);
}

TEST_F(PamModule, DenyIsPermDeniedWithTheReason) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "deny"}, {"reason", "window_ended"},
              {"message", "jitlogin: access window ended at 14:05 (12 min ago), grant g-1"}});
    service("jit-test-sudo", jit_line("account", "quiet kind=sudo socket=" + d.path()) + "account required pam_permit.so\n");
    Conversation c;
    EXPECT_EQ(run("jit-test-sudo", "jt-e-nssonly", "acct", &c), PAM_PERM_DENIED);
    ASSERT_EQ(c.messages.size(), 1u);
    EXPECT_EQ(c.messages[0].first, PAM_ERROR_MSG);
    EXPECT_EQ(c.messages[0].second, "jitlogin: access window ended at 14:05 (12 min ago), grant g-1");
    EXPECT_EQ(jit::ipc::get(d.requests().at(0), "kind"), "sudo");
}

TEST_F(PamModule, DaemonDownRefusesJitUsersOnly) {
    service("jit-test-login", jit_line("account", "socket=" + confdir + "/absent.sock timeout_ms=100 bogus_arg") +
                                  "account required pam_permit.so\n");
    Conversation c;
    EXPECT_EQ(run("jit-test-login", "jt-e-nssonly", "acct", &c), PAM_AUTHINFO_UNAVAIL);
    ASSERT_EQ(c.messages.size(), 1u);
    EXPECT_EQ(c.messages[0].second, "jitlogin: cannot reach jit-helperd; access for JIT users is refused");
    Conversation r;
    EXPECT_EQ(run("jit-test-login", "root", "acct", &r), PAM_SUCCESS);  // pam_jit ignores, pam_permit decides
    EXPECT_TRUE(r.messages.empty());
}

TEST_F(PamModule, SilentDaemonTimesOut) {
    FakeDaemon d;
    d.set_mode(FakeDaemon::Mode::Silent);
    service("jit-test-login", jit_line("account", "timeout_ms=150 socket=" + d.path()));
    Conversation c;
    EXPECT_EQ(run("jit-test-login", "jt-e-nssonly", "acct", &c), PAM_AUTHINFO_UNAVAIL);
}

TEST_F(PamModule, SessionsRegisterWithLogindId) {
    FakeDaemon d;
    d.answer({{"status", "ok"}, {"decision", "allow"}, {"grant_id", "g-7f3a"}, {"session", "3"}});
    service("jit-test-sshd", jit_line("session", "socket=" + d.path()));
    Conversation c;
    EXPECT_EQ(run("jit-test-sshd", "jt-e-nssonly", "open", &c, "37"), PAM_SUCCESS);
    EXPECT_EQ(run("jit-test-sshd", "jt-e-nssonly", "close", &c, "37"), PAM_SUCCESS);
    auto reqs = d.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(jit::ipc::get(reqs[0], "op"), "session_open");
    EXPECT_EQ(jit::ipc::get(reqs[0], "logind_session"), "37");
    EXPECT_EQ(jit::ipc::get(reqs[0], "pid"), std::to_string(getpid()));
    EXPECT_EQ(jit::ipc::get(reqs[1], "op"), "session_close");
}

TEST_F(PamModule, SessionWithoutDaemon) {
    service("jit-test-sshd", "session required pam_permit.so\n" +
                                 jit_line("session", "socket=" + confdir + "/absent.sock timeout_ms=100"));
    Conversation c;
    EXPECT_EQ(run("jit-test-sshd", "jt-e-nssonly", "open", &c), PAM_PERM_DENIED);
    Conversation r;
    EXPECT_EQ(run("jit-test-sshd", "root", "open", &r), PAM_SUCCESS);
    EXPECT_TRUE(r.messages.empty());
}

// Directory users (SSSD/AD names) are never blocked: with the daemon up (even
// one that still answers bad_request for such names) and with it stopped.
TEST_F(PamModule, DirectoryNamesAreNeverBlocked) {
    FakeDaemon d;
    d.answer({{"status", "error"}, {"error", "bad_request"}, {"message", "'user' missing or not a valid login name"}});
    const std::string stack = "account required pam_permit.so\nsession required pam_permit.so\n";
    service("jit-test-up", jit_line("account", "socket=" + d.path()) + jit_line("session", "socket=" + d.path()) + stack);
    service("jit-test-down", jit_line("account", "socket=" + confdir + "/absent.sock timeout_ms=100") +
                                 jit_line("session", "socket=" + confdir + "/absent.sock timeout_ms=100") + stack);
    for (const char* user : {"john.smith", "alice@corp.example", "Bob"}) {
        for (const char* svc : {"jit-test-up", "jit-test-down"}) {
            Conversation c;
            EXPECT_EQ(run(svc, user, "acct", &c), PAM_SUCCESS) << user << " " << svc;
            EXPECT_EQ(run(svc, user, "open", &c), PAM_SUCCESS) << user << " " << svc;
            EXPECT_EQ(run(svc, user, "close", &c), PAM_SUCCESS) << user << " " << svc;
            EXPECT_TRUE(c.messages.empty()) << user << " " << svc;
        }
    }
    EXPECT_TRUE(d.requests().empty());
}

TEST_F(PamModule, AuthAndSetcredAreNoOps) {
    service("jit-test-auth", jit_line("auth", "") + "auth required pam_permit.so\n");
    Conversation c;
    EXPECT_EQ(run("jit-test-auth", "jt-e-nssonly", "auth", &c), PAM_SUCCESS);
    service("jit-test-authonly", jit_line("auth", ""));
    EXPECT_NE(run("jit-test-authonly", "jt-e-nssonly", "auth", &c), PAM_SUCCESS);  // ignore alone is no success
}

}  // namespace
