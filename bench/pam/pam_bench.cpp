// p50/p99 of one pam_acct_mgmt through pam_jit.so (+ jit-helperd) side by side
// with pam_unix's account phase, interleaved in the same run so both see the
// same machine noise. Services come from a private confdir (pam_start_confdir).
//
//   pam_bench --confdir DIR --user USER [--jit-service S] [--unix-service S] [--iterations N] [--warmup N]
//             [--socket PATH]
// With --socket, three more series break pam_jit's cost down: the bare socket
// round trip to jit-helperd (op=ping), op=check without PAM back to back, and
// op=check after 300 µs of idleness (the daemon asleep, as between PAM calls).
//
// "floor": the same client call (ipc::call) to a trivial server
// process forked here (accept, read, fixed answer, close), in the same
// interleaved loop as the pam_jit and pam_unix calls: what any design in which PAM
// asks another process pays on this machine, before the daemon does any work.
//
// Two measurements per service: "acct" times pam_acct_mgmt alone on a fresh
// handle (pam_start/pam_end outside the timed region: the cost of the decision
// itself); "txn" times pam_start + pam_acct_mgmt + pam_end (what a short-lived
// caller such as sudo pays, module loading included). A handle is never reused
// for many calls: libpam's per-handle state grows with each call, which no
// real caller does.
#include <jit/ipc.hpp>

#include "bench_stats.hpp"

#include <security/pam_appl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

using jit::bench::now_ns;
using jit::bench::pct;
using jit::bench::Series;

int quiet_conv(int n, const pam_message**, pam_response** resp, void*) {
    *resp = static_cast<pam_response*>(calloc(std::size_t(n), sizeof(pam_response)));
    return *resp ? PAM_SUCCESS : PAM_BUF_ERR;
}

struct Handle {
    pam_handle_t* pamh = nullptr;
};

bool open_handle(const std::string& svc, const std::string& user, const std::string& confdir, Handle* h) {
    static pam_conv conv{quiet_conv, nullptr};
    return pam_start_confdir(svc.c_str(), user.c_str(), &conv, confdir.c_str(), &h->pamh) == PAM_SUCCESS;
}

void time_acct(const std::string& svc, const std::string& user, const std::string& confdir, Series& s) {
    Handle h;
    if (!open_handle(svc, user, confdir, &h)) {
        ++s.failures;
        return;
    }
    long long t0 = now_ns();
    int rc = pam_acct_mgmt(h.pamh, PAM_SILENT);
    s.ns.push_back(now_ns() - t0);
    pam_end(h.pamh, rc);
    if (rc != PAM_SUCCESS) ++s.failures;
}

void time_txn(const std::string& svc, const std::string& user, const std::string& confdir, Series& s) {
    static pam_conv conv{quiet_conv, nullptr};
    long long t0 = now_ns();
    pam_handle_t* pamh = nullptr;
    int rc = pam_start_confdir(svc.c_str(), user.c_str(), &conv, confdir.c_str(), &pamh);
    if (rc == PAM_SUCCESS) rc = pam_acct_mgmt(pamh, PAM_SILENT);
    if (pamh) pam_end(pamh, rc);
    s.ns.push_back(now_ns() - t0);
    if (rc != PAM_SUCCESS) ++s.failures;
}

void time_ipc(const std::string& socket, const jit::ipc::Message& req, Series& s) {
    std::string err;
    long long t0 = now_ns();
    auto resp = jit::ipc::call(socket, req, std::chrono::milliseconds(1500), &err);
    s.ns.push_back(now_ns() - t0);
    if (!resp || jit::ipc::get(*resp, "status") != "ok") ++s.failures;
}

// Forks the floor server on `path`; returns its pid (or -1).
pid_t start_floor_server(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (fd < 0 || path.size() >= sizeof(a.sun_path)) return -1;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    unlink(path.c_str());
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 64) != 0) {
        close(fd);
        return -1;
    }
    pid_t pid = fork();
    if (pid != 0) {
        close(fd);
        return pid;
    }
    const std::string answer = jit::ipc::encode({{"status", "ok"}});
    for (;;) {
        int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        jit::ipc::FrameReader r;
        char buf[4096];
        for (;;) {
            ssize_t n = read(c, buf, sizeof(buf));
            if (n <= 0 || r.feed(std::string_view(buf, std::size_t(n))) != jit::ipc::FrameReader::State::NeedMore) break;
        }
        (void)!write(c, answer.data(), answer.size());
        close(c);
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string socket, confdir, user, jit_svc = "bench-jit", unix_svc = "bench-unix";
    int iterations = 20000, warmup = 500;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", a.c_str()); std::exit(2); }
            return argv[++i];
        };
        if (a == "--confdir") confdir = next();
        else if (a == "--user") user = next();
        else if (a == "--socket") socket = next();
        else if (a == "--jit-service") jit_svc = next();
        else if (a == "--unix-service") unix_svc = next();
        else if (a == "--iterations") iterations = std::atoi(next().c_str());
        else if (a == "--warmup") warmup = std::atoi(next().c_str());
        else { std::fprintf(stderr, "unknown argument %s\n", a.c_str()); return 2; }
    }
    if (confdir.empty() || user.empty() || iterations <= 0) {
        std::fprintf(stderr, "usage: pam_bench --confdir DIR --user USER [--jit-service S] [--unix-service S] "
                             "[--iterations N] [--warmup N] [--socket PATH]\n");
        return 2;
    }
    Series ja{"pam_jit account (acct)", {}, 0}, ua{"pam_unix account (acct)", {}, 0};
    Series jt{"pam_jit account (txn)", {}, 0}, ut{"pam_unix account (txn)", {}, 0};
    Series ping{"jit-helperd op=ping round trip (no PAM)", {}, 0}, check{"jit-helperd op=check round trip (no PAM)", {}, 0};
    Series idle_check{"jit-helperd op=check after 300 µs idle (no PAM)", {}, 0};
    Series floor{"floor: same call to a trivial server process (no PAM)", {}, 0};
    {
        Series w{"warmup", {}, 0};
        for (int i = 0; i < warmup; ++i) {
            time_acct(jit_svc, user, confdir, w);
            time_acct(unix_svc, user, confdir, w);
        }
        if (w.failures) {
            std::fprintf(stderr, "warmup: %d calls failed (is the daemon up, the user granted?)\n", w.failures);
            return 1;
        }
    }
    const std::string floor_path = confdir + "/floor.sock";
    const pid_t floor_server = start_floor_server(floor_path);
    if (floor_server < 0) {
        std::fprintf(stderr, "cannot start the floor server on %s\n", floor_path.c_str());
        return 1;
    }
    const jit::ipc::Message floor_req{{"op", "check"}, {"user", user}, {"service", "bench"}};
    ja.ns.reserve(std::size_t(iterations));
    ua.ns.reserve(std::size_t(iterations));
    for (int i = 0; i < iterations; ++i) {  // interleaved: same noise for all three
        time_acct(jit_svc, user, confdir, ja);
        time_acct(unix_svc, user, confdir, ua);
        time_ipc(floor_path, floor_req, floor);
    }
    kill(floor_server, SIGKILL);
    waitpid(floor_server, nullptr, 0);
    unlink(floor_path.c_str());
    if (!socket.empty()) {
        const jit::ipc::Message ping_req{{"op", "ping"}};
        const jit::ipc::Message check_req{{"op", "check"}, {"user", user}, {"service", "bench"}};
        for (int i = 0; i < iterations; ++i) {
            time_ipc(socket, ping_req, ping);
            time_ipc(socket, check_req, check);
        }
        // As in the interleaved PAM series (and as for a real login), the
        // daemon has been idle before each call: what waking it up costs.
        for (int i = 0; i < iterations; ++i) {
            timespec pause{0, 300000};
            nanosleep(&pause, nullptr);
            time_ipc(socket, check_req, idle_check);
        }
    }
    const int txn_iterations = std::max(1, iterations / 10);
    for (int i = 0; i < txn_iterations; ++i) {
        time_txn(jit_svc, user, confdir, jt);
        time_txn(unix_svc, user, confdir, ut);
    }

    std::printf("| series | n | p50 µs | p90 µs | p99 µs | max µs | failures |\n|---|---|---|---|---|---|---|\n");
    for (const Series* s : {&ja, &ua, &jt, &ut, &floor, &ping, &check, &idle_check}) {
        if (s->ns.empty()) continue;
        std::printf("| %s | %zu | %.1f | %.1f | %.1f | %.1f | %d |\n", s->name.c_str(), s->ns.size(), pct(s->ns, 50),
                    pct(s->ns, 90), pct(s->ns, 99), pct(s->ns, 100), s->failures);
    }
    const double ratio = pct(ua.ns, 99) > 0 ? pct(ja.ns, 99) / pct(ua.ns, 99) : 0;
    std::printf("\np99 ratio pam_jit/pam_unix (acct): %.2f\n", ratio);
    std::printf("p99 ratio floor/pam_unix (acct): %.2f\n", pct(ua.ns, 99) > 0 ? pct(floor.ns, 99) / pct(ua.ns, 99) : 0);
    return (ja.failures || ua.failures || jt.failures || ut.failures || floor.failures || ping.failures || check.failures ||
            idle_check.failures)
               ? 1
               : 0;
}
