// jit-authorized-keys: sshd's AuthorizedKeysCommand / AuthorizedPrincipalsCommand
// (docs/ssh.md, jit-authorized-keys.8). sshd runs it for every key offered, so
// it is a small program of its own: one socket round trip to jit-helperd, no
// JSON, no configuration file. Whatever goes wrong, it prints nothing and
// exits 0 (sshd then refuses the key); the reason goes to syslog (authpriv).
#include <jit/ipc.hpp>
#include <jit/paths.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <syslog.h>

namespace {

constexpr const char* kDefaultSocket = JIT_SOCKET_PATH;
constexpr int kDefaultTimeoutMs = 1500;

int usage() {
    std::fputs("usage: jit-authorized-keys [--principals] [--socket PATH] [--timeout-ms N] USER\n", stderr);
    return 2;
}

void note(int priority, const std::string& text) {
    syslog(LOG_AUTHPRIV | priority, "%s", text.c_str());
    std::fprintf(stderr, "jit-authorized-keys: %s\n", text.c_str());
}

int run(int argc, char** argv) {
    bool principals = false;
    std::string socket = kDefaultSocket, user;
    long timeout_ms = kDefaultTimeoutMs;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--principals") {
            principals = true;
        } else if (a == "--socket" && i + 1 < argc) {
            socket = argv[++i];
        } else if (a == "--timeout-ms" && i + 1 < argc) {
            char* end = nullptr;
            timeout_ms = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || timeout_ms < 50 || timeout_ms > 30000) {
                std::fputs("jit-authorized-keys: --timeout-ms takes 50..30000\n", stderr);
                return 2;
            }
        } else if (!a.empty() && a[0] == '-') {
            return usage();
        } else if (user.empty()) {
            user = a;
        } else {
            return usage();
        }
    }
    if (user.empty()) return usage();
    openlog("jit-authorized-keys", LOG_PID, LOG_AUTHPRIV);
    const char* op = principals ? "ssh_principals" : "ssh_keys";
    std::string error;
    auto answer = jit::ipc::call(socket, {{"op", op}, {"user", user}}, std::chrono::milliseconds(timeout_ms), &error);
    if (!answer) {
        note(LOG_WARNING, "no " + std::string(principals ? "principals" : "keys") + " for " + user +
                              ": cannot reach jit-helperd at " + socket + ": " + error);
        return 0;
    }
    if (jit::ipc::get(*answer, "status") != "ok") {
        note(LOG_WARNING, "no keys for " + user + ": jit-helperd answered " + jit::ipc::get(*answer, "error") + ": " +
                              jit::ipc::get(*answer, "message"));
        return 0;
    }
    const std::string lines = jit::ipc::get(*answer, principals ? "principals" : "keys");
    if (!lines.empty() && lines.back() != '\n') {
        note(LOG_ERR, "no keys for " + user + ": jit-helperd's answer does not end with a newline");
        return 0;
    }
    if (std::fwrite(lines.data(), 1, lines.size(), stdout) != lines.size() || std::fflush(stdout) != 0) {
        note(LOG_ERR, "writing the keys for " + user + " failed: " + std::strerror(errno));
        return 0;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (...) {
        // Out of memory at worst: nothing printed, so no key is accepted.
        return 0;
    }
}
