#include <jit/helperd/accounts.hpp>
#include <jit/helperd/boundary.hpp>
#include <jit/local_account.hpp>

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
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

bool failed(const LocalAccount& a) { return a.lookup_failed; }
bool failed(const std::optional<std::string>&) { return false; }

}  // namespace

CachingAccounts::CachingAccounts(std::int64_t ttl_ms, std::vector<std::string> watched, ClockMs clock)
    : ttl_ms_(ttl_ms), watched_(std::move(watched)), clock_(clock ? std::move(clock) : monotonic_ms) {}

void CachingAccounts::configure(std::int64_t ttl_ms, std::vector<std::string> watched) {
    ttl_ms_ = ttl_ms;
    watched_ = std::move(watched);
    clear();
}

void CachingAccounts::forget() {
    by_name_.clear();
    by_uid_.clear();
    ++generation_;
}

void CachingAccounts::clear() {
    forget();
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
        forget();
        stamp_ = std::move(now);
    }
}

std::uint64_t CachingAccounts::generation() {
    if (ttl_ms_ > 0) revalidate(clock_());
    return generation_;
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

template <class V, class M, class K>
std::optional<V> CachingAccounts::find_fresh(M& map, const K& key) {
    if (ttl_ms_ <= 0) return std::nullopt;
    const std::int64_t now = clock_();
    revalidate(now);
    if (auto it = map.find(key); it != map.end() && fresh(it->second.at, now)) return it->second.value;
    return std::nullopt;
}

template <class M, class K, class V>
void CachingAccounts::store(M& map, const K& key, const V& value, std::uint64_t generation) {
    if (ttl_ms_ <= 0 || failed(value)) return;  // an NSS error is asked again next time
    const std::int64_t now = clock_();
    revalidate(now);
    if (generation != generation_) return;  // asked before everything was forgotten: maybe stale
    make_room(map);
    map[key] = {value, now};
}

std::optional<LocalAccount> CachingAccounts::cached_lookup(const std::string& user) {
    return find_fresh<LocalAccount>(by_name_, user);
}

std::optional<std::optional<std::string>> CachingAccounts::cached_name_of(uid_t uid) {
    return find_fresh<std::optional<std::string>>(by_uid_, uid);
}

void CachingAccounts::remember(const std::string& user, const LocalAccount& account, std::uint64_t generation) {
    store(by_name_, user, account, generation);
}

void CachingAccounts::remember(uid_t uid, const std::optional<std::string>& name, std::uint64_t generation) {
    store(by_uid_, uid, name, generation);
}

const char* to_string(LookupOutcome outcome) {
    switch (outcome) {
    case LookupOutcome::Answered: return "answered";
    case LookupOutcome::TimedOut: return "timed_out";
    case LookupOutcome::Busy: return "busy";
    }
    return "?";
}

// ---- LookupWorker ----

struct LookupWorker::Shared {
    struct Job {
        std::string key;
        bool by_uid = false;
        std::string user;
        uid_t uid = 0;
    };
    Loop* loop = nullptr;
    std::shared_ptr<Accounts> inner;
    std::mutex mu;
    std::condition_variable wake;    // a job was queued, or stopping
    std::condition_variable exited;  // a thread returned
    std::deque<Job> queue;           // under mu
    // lookup_now: answers by key that the loop has not taken yet, and the
    // callers waiting for one (under mu; sync_done tells them).
    struct Slot {
        bool done = false;
        LocalAccount account;
    };
    std::map<std::string, LocalAccount> undelivered;
    std::map<std::string, std::vector<std::shared_ptr<Slot>>> sync_waiters;
    std::condition_variable sync_done;
    bool stopping = false;           // under mu
    std::size_t alive = 0;           // under mu
    LookupWorker* owner = nullptr;   // the loop thread only; null once stopped
};

LookupWorker::LookupWorker(Loop& loop, std::shared_ptr<Accounts> inner, Options options)
    : loop_(loop),
      inner_(std::move(inner)),
      cache_(options.cache_ttl_ms, std::move(options.cache_watched), std::move(options.clock)),
      bound_(options.bound),
      max_jobs_(std::max<std::size_t>(1, options.max_jobs)),
      shared_(std::make_shared<Shared>()) {
    shared_->loop = &loop_;
    shared_->inner = inner_;
    shared_->owner = this;
    try {
        for (std::size_t i = 0; i < std::max<std::size_t>(1, options.threads); ++i) {
            {
                std::lock_guard<std::mutex> lock(shared_->mu);
                ++shared_->alive;
            }
            try {
                threads_.emplace_back(&LookupWorker::run, shared_);
            } catch (...) {
                std::lock_guard<std::mutex> lock(shared_->mu);
                --shared_->alive;
                throw;
            }
        }
    } catch (...) {
        stop();
        throw;
    }
}

LookupWorker::~LookupWorker() { stop(); }

void LookupWorker::run(std::shared_ptr<Shared> s) {
    for (;;) {
        Shared::Job job;
        {
            std::unique_lock<std::mutex> lock(s->mu);
            s->wake.wait(lock, [&] { return s->stopping || !s->queue.empty(); });
            if (s->stopping) break;
            job = std::move(s->queue.front());
            s->queue.pop_front();
        }
        Result r;
        r.by_uid = job.by_uid;
        r.user = job.user;
        r.uid = job.uid;
        try {
            if (job.by_uid) r.name = s->inner->name_of(job.uid);
            else r.account = s->inner->lookup(job.user);
        } catch (...) {
            // std::bad_alloc (all lookup_local_account throws): an error, never "no such user".
            r.account = LocalAccount{};
            r.account.lookup_failed = true;
            r.name.reset();
        }
        std::lock_guard<std::mutex> lock(s->mu);
        if (!job.by_uid) {
            s->undelivered[job.key] = r.account;
            if (auto it = s->sync_waiters.find(job.key); it != s->sync_waiters.end()) {
                for (auto& slot : it->second) {
                    slot->done = true;
                    slot->account = r.account;
                }
                s->sync_waiters.erase(it);
                s->sync_done.notify_all();
            }
        }
        if (s->stopping) break;  // the loop may be gone: never post after stop()
        s->loop->post([s, key = std::move(job.key), r = std::move(r)] {
            if (s->owner) s->owner->finished(key, r);
        });
    }
    {
        std::lock_guard<std::mutex> lock(s->mu);
        --s->alive;
    }
    s->exited.notify_all();
}

void LookupWorker::fail(Waiter& w, LookupOutcome outcome) {
    if (w.on_account) w.on_account(outcome, LocalAccount{});
    else if (w.on_name) w.on_name(outcome, std::nullopt);
}

void LookupWorker::ask(const std::string& key, bool by_uid, const std::string& user, uid_t uid, Waiter waiter) {
    if (!enqueue(key, by_uid, user, uid)) return fail(waiter, LookupOutcome::Busy);
    auto it = pending_.find(key);
    waiter.id = next_waiter_++;
    const std::uint64_t id = waiter.id;
    waiter.timer = loop_.call_after(bound_, [this, key, id] { timed_out(key, id); });
    it->second.waiters.push_back(std::move(waiter));
}

bool LookupWorker::enqueue(const std::string& key, bool by_uid, const std::string& user, uid_t uid) {
    if (stopped_) return false;
    if (pending_.count(key)) return true;  // joined
    if (pending_.size() >= max_jobs_) return false;
    const std::uint64_t generation = cache_.generation();
    {
        std::lock_guard<std::mutex> lock(shared_->mu);
        shared_->queue.push_back(Shared::Job{key, by_uid, user, uid});
    }
    shared_->wake.notify_one();
    pending_.emplace(key, Pending{generation, {}});
    return true;
}

void LookupWorker::finished(const std::string& key, const Result& result) {
    {
        std::lock_guard<std::mutex> lock(shared_->mu);
        shared_->undelivered.erase(key);
    }
    auto it = pending_.find(key);
    if (it == pending_.end()) return;
    Pending done = std::move(it->second);
    pending_.erase(it);
    if (result.by_uid) cache_.remember(result.uid, result.name, done.generation);
    else cache_.remember(result.user, result.account, done.generation);
    for (auto& w : done.waiters) loop_.cancel(w.timer);
    // One caller's fault must not keep the others waiting.
    for (auto& w : done.waiters)
        at_c_boundary("account lookup answer", [&] {
            if (w.on_account) w.on_account(LookupOutcome::Answered, result.account);
            else w.on_name(LookupOutcome::Answered, result.name);
        });
}

void LookupWorker::timed_out(const std::string& key, std::uint64_t waiter_id) {
    auto it = pending_.find(key);
    if (it == pending_.end()) return;
    auto& waiters = it->second.waiters;
    auto w = std::find_if(waiters.begin(), waiters.end(), [&](const Waiter& x) { return x.id == waiter_id; });
    if (w == waiters.end()) return;
    Waiter late = std::move(*w);
    waiters.erase(w);  // the question stays in flight: its answer still fills the cache
    fail(late, LookupOutcome::TimedOut);
}

void LookupWorker::lookup(const std::string& user, AccountDone done) {
    if (auto hit = cache_.cached_lookup(user)) return done(LookupOutcome::Answered, *hit);
    Waiter w;
    w.on_account = std::move(done);
    ask("n:" + user, false, user, 0, std::move(w));
}

void LookupWorker::name_of(uid_t uid, NameDone done) {
    if (auto hit = cache_.cached_name_of(uid)) return done(LookupOutcome::Answered, *hit);
    Waiter w;
    w.on_name = std::move(done);
    ask("u:" + std::to_string(uid), true, "", uid, std::move(w));
}

LocalAccount LookupWorker::lookup_now(const std::string& user) {
    if (auto hit = cache_.cached_lookup(user)) return *hit;
    LocalAccount unknown;
    unknown.lookup_failed = true;
    const std::string key = "n:" + user;
    const bool asked_before = pending_.count(key) > 0;
    if (!enqueue(key, false, user, 0)) return unknown;
    auto slot = std::make_shared<Shared::Slot>();
    std::unique_lock<std::mutex> lock(shared_->mu);
    // Answered already, but its answer has not reached the loop (this thread) yet.
    if (auto it = shared_->undelivered.find(key); it != shared_->undelivered.end()) return it->second;
    // Asked before and still unanswered (a directory that hangs for this
    // name): not waited for again, so that each enforcement listing does not
    // stall the loop once more per such user.
    if (asked_before) return unknown;
    shared_->sync_waiters[key].push_back(slot);
    if (shared_->sync_done.wait_for(lock, bound_, [&] { return slot->done; })) return slot->account;
    auto& still = shared_->sync_waiters[key];
    still.erase(std::remove(still.begin(), still.end(), slot), still.end());
    if (still.empty()) shared_->sync_waiters.erase(key);
    return unknown;  // the lookup goes on: its answer fills the cache
}

void LookupWorker::configure(std::int64_t cache_ttl_ms, std::vector<std::string> watched, std::chrono::milliseconds bound) {
    cache_.configure(cache_ttl_ms, std::move(watched));
    bound_ = bound;
}

std::size_t LookupWorker::threads_alive() const {
    std::lock_guard<std::mutex> lock(shared_->mu);
    return shared_->alive;
}

std::size_t LookupWorker::stop() {
    if (stopped_) return 0;
    stopped_ = true;
    {
        std::lock_guard<std::mutex> lock(shared_->mu);
        shared_->stopping = true;
        shared_->queue.clear();
    }
    shared_->wake.notify_all();
    shared_->owner = nullptr;  // answers already posted to the loop find no one
    for (auto& [key, p] : pending_)
        for (auto& w : p.waiters) loop_.cancel(w.timer);
    pending_.clear();
    std::size_t left = 0;
    {
        std::unique_lock<std::mutex> lock(shared_->mu);
        shared_->exited.wait_for(lock, bound_, [&] { return shared_->alive == 0; });
        left = shared_->alive;
    }
    for (auto& t : threads_) {
        if (left == 0) t.join();
        else t.detach();
    }
    threads_.clear();
    if (left > 0)
        std::fprintf(stderr,
                     "jit-helperd: %zu account lookup thread(s) still inside NSS at stop; they end with the process\n",
                     left);
    return left;
}

}  // namespace jit::helperd
