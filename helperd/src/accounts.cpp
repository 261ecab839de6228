#include <jit/helperd/daemon.hpp>
#include <jit/local_account.hpp>

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace jit::helperd {

LocalAccount SystemAccounts::lookup(const std::string& user) { return lookup_local_account(user); }

std::optional<std::string> SystemAccounts::name_of(uid_t uid) { return user_name_of(uid); }

namespace {

std::int64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string file_stamp(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return "-";
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
           std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

CachingAccounts::CachingAccounts(Accounts& inner, std::int64_t ttl_ms, std::vector<std::string> watched, ClockMs clock)
    : inner_(inner), ttl_ms_(ttl_ms), watched_(std::move(watched)), clock_(clock ? std::move(clock) : monotonic_ms) {}

void CachingAccounts::configure(std::int64_t ttl_ms, std::vector<std::string> watched) {
    ttl_ms_ = ttl_ms;
    watched_ = std::move(watched);
    clear();
}

void CachingAccounts::clear() {
    by_name_.clear();
    by_uid_.clear();
    stamp_.clear();
    stamped_at_.reset();
}

void CachingAccounts::revalidate(std::int64_t at) {
    if (stamped_at_ && at - *stamped_at_ < kRecheckMs && at >= *stamped_at_) return;
    stamped_at_ = at;
    std::vector<std::string> now;
    now.reserve(watched_.size());
    for (const auto& path : watched_) now.push_back(file_stamp(path));
    if (now != stamp_) {
        by_name_.clear();
        by_uid_.clear();
        stamp_ = std::move(now);
    }
}

template <class M>
void CachingAccounts::make_room(M& map) {
    if (map.size() < kMaxEntries) return;
    // Drop the older half: a flood of distinct names must not grow the daemon.
    std::vector<std::int64_t> ages;
    ages.reserve(map.size());
    for (const auto& [key, e] : map) ages.push_back(e.at);
    std::nth_element(ages.begin(), ages.begin() + std::ptrdiff_t(ages.size() / 2), ages.end());
    const std::int64_t cut = ages[ages.size() / 2];
    for (auto it = map.begin(); it != map.end();) it = it->second.at <= cut ? map.erase(it) : std::next(it);
}

namespace {
bool failed(const LocalAccount& a) { return a.lookup_failed; }
bool failed(const std::optional<std::string>&) { return false; }
}  // namespace

template <class M, class K, class Fetch>
auto CachingAccounts::cached(M& map, const K& key, Fetch fetch) {
    if (ttl_ms_ <= 0) return fetch();
    const std::int64_t now = clock_();
    revalidate(now);
    if (auto it = map.find(key); it != map.end() && fresh(it->second.at, now)) return it->second.value;
    auto value = fetch();
    if (failed(value)) return value;  // an NSS error is asked again next time
    make_room(map);
    map[key] = {value, now};
    return value;
}

LocalAccount CachingAccounts::lookup(const std::string& user) {
    return cached(by_name_, user, [&] { return inner_.lookup(user); });
}

std::optional<std::string> CachingAccounts::name_of(uid_t uid) {
    return cached(by_uid_, uid, [&] { return inner_.name_of(uid); });
}

}  // namespace jit::helperd
