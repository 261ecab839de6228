// pam_load: N threads each running pam_acct_mgmt through a PAM service (pam_jit.so
// + jit-helperd) as fast as they can for a while, each call for a user whose
// answer is known; counts wrong answers and reports latency percentiles.
// Issue 18's load case: run it idle, then while jit-helperd accepts bundles of
// 10,000 grants (bench/load/run-pam-load.sh); results in docs/performance.md.
//
//   pam_load --confdir DIR --service S --threads N --seconds S USER=EXPECT...
// EXPECT: allow (PAM_SUCCESS) or deny (anything else). Prints one line:
//   calls=C wrong=W p50_us=.. p99_us=.. p999_us=.. max_us=.. by_expect=allow:A,deny:D
// Exit 0 when no answer was wrong, 1 otherwise, 2 on usage.
#include "bench_stats.hpp"

#include <security/pam_appl.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using jit::bench::now_ns;
using jit::bench::pct;

int quiet_conv(int n, const pam_message**, pam_response** resp, void*) {
    *resp = static_cast<pam_response*>(calloc(std::size_t(n), sizeof(pam_response)));
    return *resp ? PAM_SUCCESS : PAM_BUF_ERR;
}

struct Case {
    std::string user;
    bool allow;
};

struct Result {
    std::vector<long long> ns;
    long wrong = 0, allow = 0, deny = 0;
    std::string first_wrong;
};

int usage(const char* why) {
    std::fprintf(stderr, "pam_load: %s\nusage: pam_load --confdir DIR --service S --threads N --seconds S USER=allow|deny...\n", why);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string confdir, service;
    int threads = 200;
    double seconds = 10;
    std::vector<Case> cases;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        if (a == "--confdir") {
            const char* v = value();
            if (!v) return usage("--confdir needs a value");
            confdir = v;
        } else if (a == "--service") {
            const char* v = value();
            if (!v) return usage("--service needs a value");
            service = v;
        } else if (a == "--threads") {
            const char* v = value();
            if (!v || (threads = std::atoi(v)) < 1) return usage("--threads needs a positive number");
        } else if (a == "--seconds") {
            const char* v = value();
            if (!v || (seconds = std::atof(v)) <= 0) return usage("--seconds needs a positive number");
        } else {
            auto eq = a.find('=');
            if (eq == std::string::npos || eq == 0) return usage(("not USER=EXPECT: " + a).c_str());
            const std::string e = a.substr(eq + 1);
            if (e != "allow" && e != "deny") return usage(("EXPECT must be allow or deny: " + a).c_str());
            cases.push_back({a.substr(0, eq), e == "allow"});
        }
    }
    if (confdir.empty() || service.empty() || cases.empty()) return usage("--confdir, --service and at least one USER=EXPECT");

    std::vector<Result> results(static_cast<std::size_t>(threads));
    std::atomic<bool> go{false};
    const long long duration = (long long)(seconds * 1e9);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            Result& r = results[std::size_t(t)];
            while (!go.load()) std::this_thread::yield();
            const long long end = now_ns() + duration;
            const pam_conv conv{quiet_conv, nullptr};
            for (std::size_t k = std::size_t(t); now_ns() < end; ++k) {
                const Case& c = cases[k % cases.size()];
                pam_handle_t* h = nullptr;
                if (pam_start_confdir(service.c_str(), c.user.c_str(), &conv, confdir.c_str(), &h) != PAM_SUCCESS) {
                    ++r.wrong;
                    if (r.first_wrong.empty()) r.first_wrong = "pam_start failed for " + c.user;
                    continue;
                }
                const long long t0 = now_ns();
                const int rc = pam_acct_mgmt(h, PAM_SILENT);
                r.ns.push_back(now_ns() - t0);
                pam_end(h, rc);
                const bool allowed = rc == PAM_SUCCESS;
                (allowed ? r.allow : r.deny)++;
                if (allowed != c.allow) {
                    ++r.wrong;
                    if (r.first_wrong.empty())
                        r.first_wrong = c.user + ": " + pam_strerror(nullptr, rc) + " (expected " + (c.allow ? "allow" : "deny") + ")";
                }
            }
        });
    }
    go = true;
    for (auto& th : pool) th.join();

    std::vector<long long> all;
    long wrong = 0, allow = 0, deny = 0;
    std::string first;
    for (auto& r : results) {
        all.insert(all.end(), r.ns.begin(), r.ns.end());
        wrong += r.wrong;
        allow += r.allow;
        deny += r.deny;
        if (first.empty()) first = r.first_wrong;
    }
    long long max = 0;
    for (long long v : all) max = std::max(max, v);
    std::printf("calls=%zu wrong=%ld p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f by_answer=allow:%ld,deny:%ld\n",
                all.size(), wrong, pct(all, 50), pct(all, 99), pct(all, 99.9), double(max) / 1000.0, allow, deny);
    if (wrong) std::fprintf(stderr, "pam_load: first wrong answer: %s\n", first.c_str());
    return wrong ? 1 : 0;
}
