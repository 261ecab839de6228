// jit-rec-session: a JIT user's login shell while session recording is on
// (helperd.conf `recording.sessions = on`; docs/ssh.md "Session recording").
//
// sshd, login and su start a user's shell as `SHELL`, `-SHELL` (login) or
// `SHELL -c COMMAND [ARGS...]`. This program execs tlog-rec-session in the
// same shape, after taking from the user every way to change what tlog does:
//   - TLOG_REC_SESSION_CONF_FILE, TLOG_REC_SESSION_CONF_TEXT and
//     TLOG_REC_SESSION_SHELL are removed from the environment (a user can
//     set variables for their next login: ~/.pam_environment with Debian's
//     `pam_env user_readenv=1`, AcceptEnv, PermitUserEnvironment), and
//     TLOG_REC_SESSION_CONF_TEXT is set to jitlogin's fixed settings (the
//     journal; output, window size, and keystrokes when there is a terminal;
//     no rate-limit drops);
//   - the client's command string goes after "--", so that a command such as
//     `ssh host -- --writer=file` is a command, never a tlog option.
// The shell started under recording is the one in
// /etc/tlog/tlog-rec-session.conf ("shell", default /bin/bash): root's file.
// The recording carries the session's audit session id (TLOG_SESSION and the
// journal's trusted _AUDIT_SESSION), which jit-helperd's session events name
// with the grant (JIT_SESSION_ID, JIT_GRANT_ID): `jitctl audit --grant G`
// lists the recordings and how to replay them.
// If tlog-rec-session cannot be started the session does not start either
// (exit 126): a session of a recorded user is never silently unrecorded.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#ifndef JIT_TLOG_REC_SESSION
#define JIT_TLOG_REC_SESSION "/usr/bin/tlog-rec-session"
#endif

namespace {

// To the journal (where jitctl audit and tlog-play -r journal find it),
// output and window always; "pass" keeps the session going past the rate
// limit with the I/O still logged (tlog's "drop" would leave holes, "delay"
// stalls). Keystrokes (input) when the session has a terminal: there they are
// what the engineer typed (a password typed at a no-echo prompt too). Without
// a terminal the input is data (scp, rsync, a pipe), and tlog 12 logging it
// ends the session at the input's end before the command's output is read
// (seen with `echo cmd | tlog-rec-session`): the command's output is recorded.
std::string conf_text(bool log_input) {
    return std::string(R"({"writer":"journal","log":{"input":)") + (log_input ? "true" : "false") +
           R"(,"output":true,"window":true},"limit":{"action":"pass"},"journal":{"augment":true,"priority":"info"}})";
}

}  // namespace

int main(int argc, char** argv) {
    for (const char* name : {"TLOG_REC_SESSION_CONF_FILE", "TLOG_REC_SESSION_CONF_TEXT", "TLOG_REC_SESSION_SHELL"})
        ::unsetenv(name);
    if (::setenv("TLOG_REC_SESSION_CONF_TEXT", conf_text(::isatty(STDIN_FILENO) == 1).c_str(), 1) != 0) {
        std::fprintf(stderr, "jit-rec-session: cannot set tlog's configuration: %s\n", std::strerror(errno));
        return 126;
    }
    // A login shell (argv[0] starting with '-') stays one: tlog-rec-session
    // passes the dash on to the shell it starts.
    const bool login = argc > 0 && argv[0] != nullptr && argv[0][0] == '-';
    std::vector<std::string> args{login ? "-tlog-rec-session" : "tlog-rec-session"};
    int i = 1;
    if (i < argc && std::strcmp(argv[i], "-c") == 0) {
        args.emplace_back("-c");
        ++i;
    }
    args.emplace_back("--");
    for (; i < argc; ++i) args.emplace_back(argv[i]);
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    ::execv(JIT_TLOG_REC_SESSION, cargs.data());
    std::fprintf(stderr, "jit-rec-session: cannot start %s: %s; this session is recorded, so it does not start\n",
                 JIT_TLOG_REC_SESSION, std::strerror(errno));
    return 126;
}
