// sudo_jit_audit.so: a sudo (>= 1.9) audit plugin (sudo_plugin(5)) that sends
// every command sudo runs, refuses or fails to run to jit-helperd
// (op=sudo_audit, docs/sudo.md). Loaded into sudo: it exports only its
// `jit_audit` entry, catches everything at each callback, and never stops a
// command: every callback answers 1 whatever happens (users jitlogin does not
// manage must never notice it; JIT users are already decided by pam_jit.so).
// What cannot be sent goes to syslog (authpriv).
#include <jit/ipc.hpp>
#include <jit/paths.h>

#include <sudo_plugin.h>
#include <syslog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr const char* kDefaultSocket = JIT_SOCKET_PATH;
constexpr long kDefaultTimeoutMs = 1000;
// Below the socket protocol's 64 KiB body: the other keys fit in the rest.
constexpr std::size_t kMaxArgBytes = 48 * 1024;

// Everything open() learned; heap-allocated there (no global constructors in
// code loaded into sudo), freed by close().
struct State {
    std::string socket = kDefaultSocket;
    long timeout_ms = kDefaultTimeoutMs;
    std::string user, cwd, tty, run_as = "root";
    std::vector<std::string> submitted;  // the command as the user typed it
    bool sent = false;                   // one record per sudo run
};
State* g_state = nullptr;

// "key=value" vector lookup (sudo's settings, user_info, command_info).
const char* find(char* const list[], const char* key) {
    if (list == nullptr) return nullptr;
    const std::size_t n = std::strlen(key);
    for (char* const* p = list; *p != nullptr; ++p)
        if (std::strncmp(*p, key, n) == 0 && (*p)[n] == '=') return *p + n + 1;
    return nullptr;
}

void note(const std::string& text) { syslog(LOG_AUTHPRIV | LOG_WARNING, "jitlogin sudo audit: %s", text.c_str()); }

void send(const char* event, const std::vector<std::string>& argv, const std::string& run_as, const std::string& cwd,
          const char* message) {
    State& s = *g_state;
    if (s.sent) return;
    s.sent = true;
    jit::ipc::Message m{{"op", "sudo_audit"}, {"event", event}, {"user", s.user}, {"run_as", run_as},
                        {"cwd", cwd},         {"tty", s.tty}};
    if (message != nullptr) m["message"] = std::string(message).substr(0, 1024);
    std::size_t bytes = 0, n = 0;
    for (; n < argv.size(); ++n) {
        if (bytes + argv[n].size() > kMaxArgBytes) break;
        bytes += argv[n].size();
        m["arg." + std::to_string(n)] = argv[n];
    }
    if (n == 0) {  // not even the command fits: keep its first bytes
        m["arg.0"] = argv.empty() ? std::string("?") : argv[0].substr(0, kMaxArgBytes);
        n = 1;
    }
    m["argc"] = std::to_string(n);
    m["truncated"] = n < argv.size() ? "yes" : "no";
    std::string error;
    auto answer = jit::ipc::call(s.socket, m, std::chrono::milliseconds(s.timeout_ms), &error);
    if (!answer) {
        note("could not record \"" + (argv.empty() ? std::string("?") : argv[0]) + "\" for " + s.user + ": " + error);
    } else if (jit::ipc::get(*answer, "status") != "ok") {
        note("jit-helperd refused the record for " + s.user + ": " + jit::ipc::get(*answer, "error") + ": " +
             jit::ipc::get(*answer, "message"));
    }
}

// The command sudo is about to run: command_info's full path, then run_argv's arguments.
std::vector<std::string> command_of(char* const command_info[], char* const run_argv[]) {
    std::vector<std::string> argv;
    const char* path = find(command_info, "command");
    if (path != nullptr) argv.emplace_back(path);
    if (run_argv != nullptr && run_argv[0] != nullptr) {
        if (path == nullptr) argv.emplace_back(run_argv[0]);
        for (char* const* p = run_argv + 1; *p != nullptr; ++p) argv.emplace_back(*p);
    }
    return argv.empty() ? g_state->submitted : argv;
}

std::string run_as_of(char* const command_info[]) {
    const char* r = find(command_info, "runas_user");
    return r != nullptr ? r : g_state->run_as;
}

std::string cwd_of(char* const command_info[]) {
    const char* c = find(command_info, "cwd");
    return c != nullptr ? c : g_state->cwd;
}

int audit_open(unsigned int version, sudo_conv_t, sudo_printf_t, char* const settings[], char* const user_info[],
               int submit_optind, char* const submit_argv[], char* const[], char* const plugin_options[],
               const char**) {
    try {
        if (SUDO_API_VERSION_GET_MAJOR(version) != SUDO_API_VERSION_MAJOR) {
            note("sudo plugin API " + std::to_string(SUDO_API_VERSION_GET_MAJOR(version)) + " is not " +
                 std::to_string(SUDO_API_VERSION_MAJOR) + ": not recording");
            return 1;
        }
        auto* s = new State;
        if (const char* v = find(plugin_options, "socket"); v != nullptr && v[0] == '/') s->socket = v;
        if (const char* v = find(plugin_options, "timeout_ms"); v != nullptr) {
            char* end = nullptr;
            const long ms = std::strtol(v, &end, 10);
            if (*end == '\0' && ms >= 50 && ms <= 10000) s->timeout_ms = ms;
            else note(std::string("timeout_ms=") + v + " is not 50..10000; using " + std::to_string(kDefaultTimeoutMs));
        }
        if (const char* v = find(user_info, "user")) s->user = v;
        if (const char* v = find(user_info, "cwd")) s->cwd = v;
        if (const char* v = find(user_info, "tty")) s->tty = v;
        if (const char* v = find(settings, "runas_user")) s->run_as = v;
        if (submit_argv != nullptr)
            for (int i = submit_optind; i >= 0 && submit_argv[i] != nullptr; ++i) s->submitted.emplace_back(submit_argv[i]);
        delete g_state;
        g_state = s;
    } catch (...) {
        // Out of memory: sudo goes on without the record.
    }
    return 1;
}

void audit_close(int, int) {
    delete g_state;
    g_state = nullptr;
}

int audit_accept(const char*, unsigned int plugin_type, char* const command_info[], char* const run_argv[],
                 char* const[], const char**) {
    try {
        // Approval plugins' accepts come after the policy's: one record per command.
        if (g_state != nullptr && plugin_type == SUDO_POLICY_PLUGIN)
            send("accept", command_of(command_info, run_argv), run_as_of(command_info), cwd_of(command_info), nullptr);
    } catch (...) {
    }
    return 1;
}

int audit_reject(const char*, unsigned int, const char* audit_msg, char* const command_info[], const char**) {
    try {
        if (g_state != nullptr)
            send("reject", command_of(command_info, nullptr), run_as_of(command_info), cwd_of(command_info), audit_msg);
    } catch (...) {
    }
    return 1;
}

int audit_error(const char*, unsigned int, const char* audit_msg, char* const command_info[], const char**) {
    try {
        if (g_state != nullptr)
            send("error", command_of(command_info, nullptr), run_as_of(command_info), cwd_of(command_info), audit_msg);
    } catch (...) {
    }
    return 1;
}

}  // namespace

extern "C" {
__attribute__((visibility("default"))) struct audit_plugin jit_audit = {
    SUDO_AUDIT_PLUGIN, SUDO_API_VERSION, audit_open, audit_close, audit_accept, audit_reject, audit_error,
    nullptr,           nullptr,          nullptr,    nullptr,
};
}
