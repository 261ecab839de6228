// What the plain bench drivers (bench/pam, bench/ssh) share: a monotonic clock
// in nanoseconds and a named series of timings with its percentiles.
#pragma once

#include <algorithm>
#include <ctime>
#include <string>
#include <vector>

namespace jit::bench {

inline long long now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct Series {
    std::string name;
    std::vector<long long> ns;
    int failures = 0;
};

// The p-th percentile (0-100, nearest rank) of `v` in microseconds.
inline double pct(std::vector<long long> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    std::size_t i = std::size_t(p / 100.0 * double(v.size() - 1) + 0.5);
    return double(v[std::min(i, v.size() - 1)]) / 1000.0;
}

}  // namespace jit::bench
