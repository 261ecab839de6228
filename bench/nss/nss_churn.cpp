// NSS lookups while the snapshot is republished (issue 18): READERS threads
// call getpwnam_r, getpwuid_r, getgrnam_r and getgrouplist through glibc (so
// through libnss_jit.so.2 as /etc/nsswitch.conf says: run inside
// tests/nss/nss-namespace.sh) while one thread republishes /var/lib/jit/nss.db
// with the real nss::UserDb every INTERVAL ms, each generation with other content.
//
//   jit_nss_churn --state-dir DIR [--lookups N=1000000] [--threads N=8] [--users N=200]
//                 [--interval-ms N=100] [--in-place] [--min-generations N=0]
// (--interval-ms 0: never republished, the baseline beside the figures;
// --min-generations: the readers go on past --lookups until N generations
// were published, so that a short run on a fast machine still sees changes)
//
// Generation G (G = 1, 2, ...) publishes users jc<i> (i < USERS) with uid =
// gid = 3100000 + i, present unless (i + G) % 5 == 0, gecos "jc gen <G> user
// <i>", and supplementary groups adm,cdrom (G even) or audio,video (G odd).
// Every answer is checked against the generations that may be visible during
// the call: at least the last one whose publish() returned before the call
// began (the publisher marks the replaced file superseded), at most the last
// one whose publish() began before the call ended:
//   torn   a record inconsistent in itself (name, uid, gid, home, shell, the
//          gecos' user, the groups of the gecos' generation)
//   wrong  a consistent record or a not-found that no visible generation gives
//          (stale: a generation older than the last one published), or an error
// --in-place: the checker's own check: the new snapshot is copied over the live
// file in place (what an atomic rename prevents); torn or wrong answers expected.
// Prints one summary (lookups, wrong, torn, latency p50/p99/p999/max per
// operation, publish times) and exits 1 when any answer was wrong or torn
// (with --in-place: 0 when some were, 1 when none was).
#include <jit/grant.hpp>
#include <jit/nss_user_db.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <grp.h>
#include <iterator>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>
#include <string>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <vector>

namespace {

constexpr std::uint32_t kBase = 3100000;
constexpr const char* kDb = "/var/lib/jit/nss.db";
constexpr const char* kHome = "/home/jitchurn";
const char* const kGroupsEven[] = {"adm", "cdrom"};
const char* const kGroupsOdd[] = {"audio", "video"};

std::vector<gid_t> gids_even, gids_odd;  // sorted

bool present(std::uint32_t i, std::uint64_t g) { return (i + g) % 5 != 0; }
const std::vector<gid_t>& groups_of(std::uint64_t g) { return g % 2 == 0 ? gids_even : gids_odd; }

std::atomic<std::uint64_t> started{0}, committed{0};  // generations whose publish began / returned
std::atomic<bool> done{false}, publisher_stopped{false};

std::uint64_t now_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

enum Op { kGetpwnam, kGetpwuid, kGetgrnam, kGrouplist, kOps };
const char* const kOpNames[] = {"getpwnam", "getpwuid", "getgrnam", "initgroups"};

struct Result {
    std::uint64_t lookups = 0, found = 0, wrong = 0, torn = 0, stale = 0;
    std::vector<std::uint32_t> lat[kOps];  // ns per call
    std::string first_problem;
};

struct Window {
    std::uint64_t lo, hi;
};

bool absent_in_window(std::uint32_t i, Window w) {
    for (std::uint64_t g = w.lo; g <= w.hi; g++)
        if (!present(i, g)) return true;
    return false;
}

void problem(Result& r, std::uint64_t& counter, const std::string& what) {
    counter++;
    if (r.first_problem.empty()) r.first_problem = what;
}

// A found passwd entry for user i: consistent in itself and from a visible generation.
void check_passwd(Result& r, std::uint32_t i, const struct passwd& pw, Window w, const char* op) {
    const std::string name = "jc" + std::to_string(i);
    const std::string where = std::string(op) + " " + name + ": ";
    unsigned long long gen = 0, user = 0;
    int used = 0;
    const bool parsed = std::sscanf(pw.pw_gecos, "jc gen %llu user %llu%n", &gen, &user, &used) == 2 &&
                        pw.pw_gecos[used] == '\0';
    if (name != pw.pw_name || pw.pw_uid != kBase + i || pw.pw_gid != kBase + i || !parsed || user != i ||
        std::string(kHome) + "/" + name != pw.pw_dir || std::strcmp(pw.pw_shell, "/bin/bash") != 0)
        return problem(r, r.torn,
                       where + "torn record " + pw.pw_name + ":" + std::to_string(pw.pw_uid) + ":" +
                           std::to_string(pw.pw_gid) + ":" + pw.pw_gecos + ":" + pw.pw_dir + ":" + pw.pw_shell);
    if (gen < w.lo) {
        r.stale++;
        return problem(r, r.wrong, where + "generation " + std::to_string(gen) + " after " + std::to_string(w.lo) +
                                       " was published");
    }
    if (gen > w.hi || !present(i, gen))
        return problem(r, r.wrong, where + "generation " + std::to_string(gen) + " cannot be (window " +
                                       std::to_string(w.lo) + "-" + std::to_string(w.hi) + ")");
}

std::uint64_t min_generations = 0;  // readers go on (past their count) until this many were published

void reader(int index, std::uint64_t n, std::uint32_t users, Result& r) {
    std::uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(index + 1);
    std::vector<char> buf(16384);
    for (auto& l : r.lat) l.reserve(static_cast<std::size_t>(n / kOps + 1));
    for (std::uint64_t k = 0; k < n || (committed.load() < min_generations && !publisher_stopped.load()); k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const auto i = static_cast<std::uint32_t>(x % users);
        const std::string name = "jc" + std::to_string(i);
        const Op op = static_cast<Op>(k % kOps);
        Window w{committed.load(std::memory_order_acquire), 0};
        const std::uint64_t t0 = now_ns();
        int rc = 0;
        struct passwd pw, *pwr = nullptr;
        struct group gr, *grr = nullptr;
        gid_t list[64];
        int nlist = 64;
        switch (op) {
        case kGetpwnam: rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &pwr); break;
        case kGetpwuid: rc = getpwuid_r(kBase + i, &pw, buf.data(), buf.size(), &pwr); break;
        case kGetgrnam: rc = getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &grr); break;
        default: rc = getgrouplist(name.c_str(), kBase + i, list, &nlist) < 0 ? ERANGE : 0; break;
        }
        const std::uint64_t t1 = now_ns();
        w.hi = started.load(std::memory_order_acquire);
        r.lat[op].push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(t1 - t0, UINT32_MAX)));
        r.lookups++;
        const std::string where = std::string(kOpNames[op]) + " " + name + ": ";
        if (rc != 0) {
            problem(r, r.wrong, where + "error " + std::strerror(rc));
            continue;
        }
        bool found = false;
        if (op == kGetpwnam || op == kGetpwuid) {
            found = pwr != nullptr;
            if (found) check_passwd(r, i, pw, w, kOpNames[op]);
        } else if (op == kGetgrnam) {
            found = grr != nullptr;
            if (found) {
                if (name != gr.gr_name || gr.gr_gid != kBase + i || gr.gr_mem[0] != nullptr)
                    problem(r, r.torn, where + "torn group " + gr.gr_name + ":" + std::to_string(gr.gr_gid));
                else {
                    bool ok = false;
                    for (std::uint64_t g = w.lo; g <= w.hi && !ok; g++) ok = present(i, g);
                    if (!ok) problem(r, r.wrong, where + "found, but absent from every visible generation");
                }
            }
        } else {
            // getgrouplist: the primary gid, then the module's groups (none when absent).
            std::vector<gid_t> sup;
            for (int j = 0; j < nlist; j++)
                if (list[j] != kBase + i) sup.push_back(list[j]);
            std::sort(sup.begin(), sup.end());
            found = !sup.empty();
            if (found) {
                bool ok = false;
                for (std::uint64_t g = w.lo; g <= w.hi && !ok; g++) ok = present(i, g) && groups_of(g) == sup;
                if (!ok) {
                    std::string s;
                    for (gid_t gid : sup) s += std::to_string(gid) + ",";
                    problem(r, r.wrong, where + "groups " + s + " of no visible generation (window " +
                                            std::to_string(w.lo) + "-" + std::to_string(w.hi) + ")");
                }
            }
        }
        if (found)
            r.found++;
        else if (!absent_in_window(i, w))
            problem(r, r.wrong, where + "not found, but present in every visible generation (" +
                                    std::to_string(w.lo) + "-" + std::to_string(w.hi) + ")");
    }
}

std::vector<jit::Grant> generation(std::uint64_t g, std::uint32_t users, jit::UnixTime now) {
    std::vector<jit::Grant> out;
    for (std::uint32_t i = 0; i < users; i++) {
        if (!present(i, g)) continue;
        jit::Grant gr;
        gr.id = "g" + std::to_string(i);
        gr.user = "jc" + std::to_string(i);
        gr.uid = kBase + i;
        gr.login = true;
        char gecos[64];
        std::snprintf(gecos, sizeof gecos, "jc gen %08llu user %u", static_cast<unsigned long long>(g), i);
        gr.display_name = gecos;
        const auto& names = g % 2 == 0 ? kGroupsEven : kGroupsOdd;
        gr.groups.assign(std::begin(names), std::end(names));
        gr.not_before = now - 60;
        gr.not_after = now + 3600;
        out.push_back(std::move(gr));
    }
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// --in-place: the bytes written over the live file, 512 bytes at a time.
bool overwrite_in_place(const std::string& bytes) {
    const int fd = ::open(kDb, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    for (std::size_t off = 0; off < bytes.size(); off += 512) {
        const std::size_t len = std::min<std::size_t>(512, bytes.size() - off);
        if (::pwrite(fd, bytes.data() + off, len, static_cast<off_t>(off)) != static_cast<ssize_t>(len)) break;
        sched_yield();
    }
    ::close(fd);
    return true;
}

std::uint32_t pct(std::vector<std::uint32_t>& v, double p) {
    if (v.empty()) return 0;
    const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

gid_t local_gid(const char* name) {
    struct group* g = getgrnam(name);
    if (!g) {
        std::fprintf(stderr, "jit_nss_churn: group %s is not in /etc/group\n", name);
        std::exit(2);
    }
    return g->gr_gid;
}

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t lookups = 1000000;
    int threads = 8, interval_ms = 100;
    std::uint32_t users = 200;
    bool in_place = false;
    std::string state_dir;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--lookups") lookups = std::strtoull(next(), nullptr, 10);
        else if (a == "--threads") threads = std::atoi(next());
        else if (a == "--users") users = static_cast<std::uint32_t>(std::atoi(next()));
        else if (a == "--interval-ms") interval_ms = std::atoi(next());
        else if (a == "--state-dir") state_dir = next();
        else if (a == "--in-place") in_place = true;
        else if (a == "--min-generations") min_generations = std::strtoull(next(), nullptr, 10);
        else {
            std::fprintf(stderr, "jit_nss_churn: unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (state_dir.empty() || threads < 1 || users < 5 || users > 10000 || interval_ms < 0 || lookups < 1) {
        std::fprintf(stderr, "usage: jit_nss_churn --state-dir DIR [--lookups N] [--threads N] [--users N] "
                             "[--interval-ms N] [--in-place] [--min-generations N]\n");
        return 2;
    }
    for (const char* g : kGroupsEven) gids_even.push_back(local_gid(g));
    for (const char* g : kGroupsOdd) gids_odd.push_back(local_gid(g));
    std::sort(gids_even.begin(), gids_even.end());
    std::sort(gids_odd.begin(), gids_odd.end());

    jit::nss::NssPolicy policy;
    policy.db_path = in_place ? state_dir + "/side/nss.db" : kDb;
    policy.state_dir = state_dir;
    policy.uid_min = kBase;
    policy.uid_max = kBase + 9999;
    policy.home_base = kHome;
    policy.uid_quarantine_seconds = 0;
    auto pub = jit::nss::UserDb::open(policy);
    if (!pub) {
        std::fprintf(stderr, "jit_nss_churn: open: %s\n", pub.error().message.c_str());
        return 2;
    }
    std::vector<double> publish_ms;
    auto publish = [&](std::uint64_t g) -> bool {
        started.store(g, std::memory_order_release);
        const std::uint64_t t0 = now_ns();
        const jit::UnixTime now = ::time(nullptr);
        auto st = pub->publish(generation(g, users, now), now);
        if (st && in_place && g > 1 && !overwrite_in_place(slurp(policy.db_path))) st = jit::make_error("churn", "in place");
        if (!st) {
            std::fprintf(stderr, "jit_nss_churn: publish %llu: %s\n", static_cast<unsigned long long>(g),
                         st.error().message.c_str());
            return false;
        }
        publish_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
        committed.store(g, std::memory_order_release);
        return true;
    };
    if (in_place) {  // the live file starts as a copy of generation 1
        if (!publish(1)) return 2;
        std::ofstream(kDb, std::ios::binary) << slurp(policy.db_path);
        ::chmod(kDb, 0644);
    } else if (!publish(1)) {
        return 2;
    }

    std::vector<Result> results(static_cast<std::size_t>(threads));
    std::vector<std::thread> pool;
    const std::uint64_t t_start = now_ns();
    for (int t = 0; t < threads; t++)
        pool.emplace_back(reader, t, lookups / static_cast<std::uint64_t>(threads) +
                                         (static_cast<std::uint64_t>(t) < lookups % static_cast<std::uint64_t>(threads)),
                          users, std::ref(results[static_cast<std::size_t>(t)]));
    bool publish_failed = false;  // written by the publisher thread, read after it is joined
    std::thread publisher([&] {
        if (interval_ms == 0) return publisher_stopped.store(true);
        auto next = std::chrono::steady_clock::now();
        for (std::uint64_t g = 2; !done.load(); g++) {
            next += std::chrono::milliseconds(interval_ms);
            while (!done.load() && std::chrono::steady_clock::now() < next)
                std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                    next - std::chrono::steady_clock::now(), std::chrono::milliseconds(10)));
            if (done.load()) break;
            if (!publish(g)) {
                publish_failed = true;
                break;
            }
        }
        publisher_stopped.store(true);
    });
    for (auto& t : pool) t.join();
    const double secs = static_cast<double>(now_ns() - t_start) / 1e9;
    done.store(true);
    publisher.join();

    Result all;
    for (auto& r : results) {
        all.lookups += r.lookups, all.found += r.found, all.wrong += r.wrong, all.torn += r.torn, all.stale += r.stale;
        for (int op = 0; op < kOps; op++) all.lat[op].insert(all.lat[op].end(), r.lat[op].begin(), r.lat[op].end());
        if (all.first_problem.empty()) all.first_problem = r.first_problem;
    }
    std::vector<std::uint32_t> every;
    for (auto& l : all.lat) every.insert(every.end(), l.begin(), l.end());
    std::sort(publish_ms.begin(), publish_ms.end());
    std::printf("nss-churn%s: %llu lookups in %.2f s (%.0f/s) by %d threads, %u users, %zu generations published "
                "every %d ms (publish p50 %.1f ms, max %.1f ms)\n",
                in_place ? " (in-place writer)" : "", static_cast<unsigned long long>(all.lookups), secs,
                static_cast<double>(all.lookups) / secs, threads, users, publish_ms.size(), interval_ms,
                publish_ms[publish_ms.size() / 2], publish_ms.back());
    std::printf("answers: found %llu, not found %llu; wrong %llu (of which stale %llu), torn %llu\n",
                static_cast<unsigned long long>(all.found), static_cast<unsigned long long>(all.lookups - all.found),
                static_cast<unsigned long long>(all.wrong), static_cast<unsigned long long>(all.stale),
                static_cast<unsigned long long>(all.torn));
    for (int op = 0; op < kOps; op++)
        std::printf("latency %-10s n=%zu p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f\n", kOpNames[op],
                    all.lat[op].size(), pct(all.lat[op], 0.5) / 1e3, pct(all.lat[op], 0.99) / 1e3,
                    pct(all.lat[op], 0.999) / 1e3, pct(all.lat[op], 1.0) / 1e3);
    std::printf("latency %-10s n=%zu p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f\n", "all", every.size(),
                pct(every, 0.5) / 1e3, pct(every, 0.99) / 1e3, pct(every, 0.999) / 1e3, pct(every, 1.0) / 1e3);
    const bool bad = all.wrong + all.torn > 0;
    if (bad) std::printf("first problem: %s\n", all.first_problem.c_str());
    // No verdict without the churn: a publisher that failed, or fewer
    // generations than asked, would make a clean run say nothing.
    if (publish_failed || committed.load() < min_generations) {
        std::printf("jit_nss_churn: only %llu generations published (%s; asked for at least %llu): no verdict\n",
                    static_cast<unsigned long long>(committed.load()), publish_failed ? "a publish failed" : "readers done",
                    static_cast<unsigned long long>(min_generations));
        return 2;
    }
    return in_place ? (bad ? 0 : 1) : (bad ? 1 : 0);
}
