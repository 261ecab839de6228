// Latency of user/group lookups (p50/p99/mean per call, over samples of 10 calls):
//   through glibc (getpwnam_r, getpwuid_r, getgrouplist -> initgroups_dyn), with
//   whatever /etc/nsswitch.conf says (run-bench.sh sets it up in a private
//   mount namespace), or straight into the module's entry points (--dlopen).
//
//   jit_nss_bench --label L [--dlopen MODULE] [--iterations N] NAME...
// For each NAME: getpwnam, then getpwuid (of the uid getpwnam found, or of an
// unknown uid for a miss) and getgrouplist. One output line per measurement:
//   <label> <op> <name> <result> p50_ns=.. p99_ns=.. mean_ns=..
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <string>
#include <time.h>
#include <vector>

namespace {

using getpwnam_fn = enum nss_status (*)(const char*, struct passwd*, char*, size_t, int*);
using getpwuid_fn = enum nss_status (*)(uid_t, struct passwd*, char*, size_t, int*);
using initgroups_fn = enum nss_status (*)(const char*, gid_t, long*, long*, gid_t**, long, int*);

std::uint64_t now_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

template <class Fn>
void measure(const std::string& label, const char* op, const std::string& name, const char* result, int iterations,
             Fn fn) {
    for (int i = 0; i < iterations / 10 + 10; i++) fn();  // warm up: mapping, caches
    // Samples of kBatch calls each, so that the clock read (~0.2 us on some
    // VMs) does not dominate: the figures are per call, p50/p99 over samples.
    constexpr int kBatch = 10;
    std::vector<std::uint64_t> t(static_cast<std::size_t>(std::max(iterations / kBatch, 10)));
    for (auto& v : t) {
        const auto a = now_ns();
        for (int i = 0; i < kBatch; i++) fn();
        v = (now_ns() - a) / kBatch;
    }
    std::sort(t.begin(), t.end());
    double mean = 0;
    for (auto v : t) mean += static_cast<double>(v);
    mean /= static_cast<double>(t.size());
    std::printf("%s %s %s %s p50_ns=%llu p99_ns=%llu mean_ns=%.0f\n", label.c_str(), op, name.c_str(), result,
                static_cast<unsigned long long>(t[t.size() / 2]),
                static_cast<unsigned long long>(t[t.size() * 99 / 100]), mean);
}

}  // namespace

int main(int argc, char** argv) {
    std::string label = "run", module;
    int iterations = 20000;
    std::vector<std::string> names;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--label" && i + 1 < argc) label = argv[++i];
        else if (a == "--dlopen" && i + 1 < argc) module = argv[++i];
        else if (a == "--iterations" && i + 1 < argc) iterations = std::atoi(argv[++i]);
        else names.push_back(a);
    }
    if (names.empty() || iterations < 100) {
        std::fprintf(stderr, "usage: jit_nss_bench --label L [--dlopen SO] [--iterations N] NAME...\n");
        return 2;
    }
    static char buf[16384];
    struct passwd pw;
    struct passwd* res = nullptr;

    if (!module.empty()) {
        void* h = dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (h == nullptr) {
            std::fprintf(stderr, "dlopen: %s\n", dlerror());
            return 1;
        }
        auto getpwnam = reinterpret_cast<getpwnam_fn>(dlsym(h, "_nss_jit_getpwnam_r"));
        auto getpwuid = reinterpret_cast<getpwuid_fn>(dlsym(h, "_nss_jit_getpwuid_r"));
        auto initgroups = reinterpret_cast<initgroups_fn>(dlsym(h, "_nss_jit_initgroups_dyn"));
        if (!getpwnam || !getpwuid || !initgroups) return 1;
        for (const auto& name : names) {
            int err = 0;
            const bool found = getpwnam(name.c_str(), &pw, buf, sizeof buf, &err) == NSS_STATUS_SUCCESS;
            const uid_t uid = found ? pw.pw_uid : 79999999;
            const char* r = found ? "hit" : "miss";
            measure(label, "getpwnam", name, r, iterations, [&] { getpwnam(name.c_str(), &pw, buf, sizeof buf, &err); });
            measure(label, "getpwuid", name, r, iterations, [&] { getpwuid(uid, &pw, buf, sizeof buf, &err); });
            std::vector<gid_t> groups(64);
            measure(label, "initgroups", name, r, iterations, [&] {
                long start = 1, size = 64;
                gid_t* g = groups.data();
                initgroups(name.c_str(), uid, &start, &size, &g, 64, &err);
            });
        }
        return 0;
    }

    for (const auto& name : names) {
        const bool found = getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &res) == 0 && res != nullptr;
        const uid_t uid = found ? pw.pw_uid : 79999999;
        const gid_t gid = found ? pw.pw_gid : 79999999;
        const char* r = found ? "hit" : "miss";
        measure(label, "getpwnam", name, r, iterations, [&] { getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &res); });
        measure(label, "getpwuid", name, r, iterations, [&] { getpwuid_r(uid, &pw, buf, sizeof buf, &res); });
        std::vector<gid_t> groups(256);
        measure(label, "initgroups", name, r, iterations, [&] {
            int n = static_cast<int>(groups.size());
            getgrouplist(name.c_str(), gid, groups.data(), &n);
        });
    }
    return 0;
}
