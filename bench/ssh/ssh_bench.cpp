// What sshd pays per key offered: jit-authorized-keys (AuthorizedKeysCommand:
// fork + exec + one socket round trip to jit-helperd + reading its output)
// side by side with reading a plain authorized_keys file, interleaved in one
// loop so that all series see the same machine noise. Prints p50/p90/p99/max.
//
//   ssh_bench --command PATH --socket SOCK --user USER --keys-file FILE [--iterations N] [--warmup N]
//
// Series:
//   "jit-authorized-keys": spawn PATH --socket SOCK USER as sshd does (stdout
//       to a pipe, read to EOF, wait), checking it printed at least one key;
//   "command floor": the same spawn of /bin/cat FILE: what any
//       AuthorizedKeysCommand costs before it does anything;
//   "authorized_keys file": open + read + split FILE in this process, what
//       sshd does for AuthorizedKeysFile (without the key comparison both share).
#include "bench_stats.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

extern char** environ;

namespace {

using jit::bench::now_ns;
using jit::bench::pct;
using jit::bench::Series;

// Runs argv with stdout into a pipe, reads it to EOF, waits; the output, or
// nullopt-like "" with ok=false on failure.
std::string run(const std::vector<std::string>& args, bool* ok) {
    int fds[2];
    *ok = false;
    if (pipe2(fds, O_CLOEXEC) != 0) return {};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    std::string out;
    if (rc == 0) {
        char buf[4096];
        ssize_t n;
        while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, std::size_t(n));
        int status = 0;
        *ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    close(fds[0]);
    return out;
}

std::size_t read_keys_file(const std::string& path, bool* ok) {
    *ok = false;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, std::size_t(n));
    close(fd);
    std::size_t lines = 0;
    for (std::size_t start = 0; start < text.size();) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        if (end > start && text[start] != '#') ++lines;
        start = end + 1;
    }
    *ok = lines > 0;
    return lines;
}

}  // namespace

int main(int argc, char** argv) {
    std::string command, socket, user, keys_file;
    int iterations = 2000, warmup = 50;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--command") command = argv[i + 1];
        else if (a == "--socket") socket = argv[i + 1];
        else if (a == "--user") user = argv[i + 1];
        else if (a == "--keys-file") keys_file = argv[i + 1];
        else if (a == "--iterations") iterations = std::atoi(argv[i + 1]);
        else if (a == "--warmup") warmup = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "ssh_bench: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (command.empty() || socket.empty() || user.empty() || keys_file.empty() || iterations < 1) {
        std::fprintf(stderr,
                     "usage: ssh_bench --command PATH --socket SOCK --user USER --keys-file FILE [--iterations N] "
                     "[--warmup N]\n");
        return 2;
    }
    Series jit{"jit-authorized-keys (spawn + daemon)", {}, 0}, floor{"command floor (spawn /bin/cat FILE)", {}, 0},
        file{"authorized_keys file (in process)", {}, 0};
    const std::vector<std::string> jit_args = {command, "--socket", socket, user};
    const std::vector<std::string> cat_args = {"/bin/cat", keys_file};
    for (int i = -warmup; i < iterations; ++i) {
        bool ok = false;
        long long t0 = now_ns();
        const std::string keys = run(jit_args, &ok);
        long long t1 = now_ns();
        ok = ok && keys.rfind("expiry-time=", 0) == 0;
        if (i >= 0) (ok ? jit.ns.push_back(t1 - t0) : void(++jit.failures));
        t0 = now_ns();
        run(cat_args, &ok);
        t1 = now_ns();
        if (i >= 0) (ok ? floor.ns.push_back(t1 - t0) : void(++floor.failures));
        t0 = now_ns();
        read_keys_file(keys_file, &ok);
        t1 = now_ns();
        if (i >= 0) (ok ? file.ns.push_back(t1 - t0) : void(++file.failures));
    }
    std::printf("| series | p50 µs | p90 µs | p99 µs | max µs | failures |\n|---|---|---|---|---|---|\n");
    int failures = 0;
    for (const Series* s : {&jit, &floor, &file}) {
        std::printf("| %s | %.0f | %.0f | %.0f | %.0f | %d |\n", s->name.c_str(), pct(s->ns, 50), pct(s->ns, 90),
                    pct(s->ns, 99), pct(s->ns, 100), s->failures);
        failures += s->failures;
    }
    if (failures) std::fprintf(stderr, "ssh_bench: %d call(s) failed\n", failures);
    return failures ? 1 : 0;
}
