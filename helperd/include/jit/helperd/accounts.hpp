// Local account lookups (passwd/group through NSS) for jit-helperd.
//
// NSS may block for as long as a directory (SSSD, LDAP) takes to give up, so
// the daemon's loop never calls it for a socket operation: the operation asks
// an AccountLookups, whose LookupWorker runs the lookup on a small pool of
// threads and hands the answer back to the loop (Loop::post), or says
// "timed out" when the bound passes first, or "busy" when its bounded queue is
// full. Root, break-glass users and names no grant can carry need no lookup.
#pragma once

#include <jit/decision.hpp>
#include <jit/helperd/loop.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace jit::helperd {

// Local account lookups (passwd/group), injected so tests need no real users.
// An implementation may be called from a LookupWorker's threads: it must be
// thread-safe (SystemAccounts is: getpwnam_r and friends).
class Accounts {
public:
    virtual ~Accounts() = default;
    virtual LocalAccount lookup(const std::string& user) = 0;          // uid + group names
    virtual std::optional<std::string> name_of(uid_t uid) = 0;         // getpwuid_r
};
class SystemAccounts final : public Accounts {
public:
    LocalAccount lookup(const std::string& user) override;
    std::optional<std::string> name_of(uid_t uid) override;
};

// Remembers account answers for `ttl_ms` so that a PAM check does not pay
// for a passwd + group walk through every NSS module (nss-systemd probes five
// userdb directories per call). Any change to one of the watched files (size,
// mtime, inode: /etc/passwd, /etc/group, the NSS snapshot, nsswitch.conf)
// forgets everything at once; other NSS sources (LDAP, sssd) are seen within
// ttl_ms. The files are looked at (stat) at most every kRecheckMs, so an edit
// counts within that. ttl_ms 0: nothing is remembered. A failed lookup
// (lookup_failed) is never remembered. The loop's only: LookupWorker asks it
// before handing a question to its threads and fills it with their answers.
class CachingAccounts final {
public:
    using ClockMs = std::function<std::int64_t()>;  // monotonic milliseconds
    CachingAccounts(std::int64_t ttl_ms, std::vector<std::string> watched, ClockMs clock = {});
    // Only what is remembered and fresh (nullopt: ask the inner Accounts).
    std::optional<LocalAccount> cached_lookup(const std::string& user);
    std::optional<std::optional<std::string>> cached_name_of(uid_t uid);
    // Remembers an answer (from a worker thread), unless it failed or
    // everything was forgotten since `generation` (generation()) was read when
    // the question was asked.
    void remember(const std::string& user, const LocalAccount& account, std::uint64_t generation);
    void remember(uid_t uid, const std::optional<std::string>& name, std::uint64_t generation);
    // Moves on whenever everything is forgotten (a watched file changed, clear, configure).
    std::uint64_t generation();
    // New settings (SIGHUP); forgets everything.
    void configure(std::int64_t ttl_ms, std::vector<std::string> watched);
    void clear();
    static constexpr std::size_t kMaxEntries = 4096;  // per map; the oldest half goes when full
    static constexpr std::int64_t kRecheckMs = 100;    // how often the watched files are stat'ed

private:
    template <class V>
    struct Entry {
        V value;
        std::int64_t at = 0;
    };
    bool fresh(std::int64_t at, std::int64_t now) const { return now - at < ttl_ms_; }
    void revalidate(std::int64_t now);  // forgets everything when a watched file changed
    void forget();
    template <class M>
    static void make_room(M& map);
    template <class V, class M, class K>
    std::optional<V> find_fresh(M& map, const K& key);
    template <class M, class K, class V>
    void store(M& map, const K& key, const V& value, std::uint64_t generation);

    std::int64_t ttl_ms_;
    std::vector<std::string> watched_;
    ClockMs clock_;
    std::vector<std::string> stamp_;   // per watched file: "dev:ino:size:mtime_ns" or "-"
    std::optional<std::int64_t> stamped_at_;  // when stamp_ was taken
    std::uint64_t generation_ = 0;
    std::map<std::string, Entry<LocalAccount>> by_name_;
    std::map<uid_t, Entry<std::optional<std::string>>> by_uid_;
};

// How a lookup asked from the loop ended.
enum class LookupOutcome {
    Answered,  // NSS answered (which may be lookup_failed: an error it reported)
    TimedOut,  // no answer within the bound: the lookup may still be running
    Busy,      // every lookup slot is taken: not asked
};
const char* to_string(LookupOutcome outcome);

// What the daemon's loop asks. `done` runs exactly once, on the loop: at once
// (a remembered answer, or the implementation does not block), or later, when
// the lookup returns, its bound passes, or there is no room to ask.
class AccountLookups {
public:
    using AccountDone = std::function<void(LookupOutcome, const LocalAccount&)>;
    using NameDone = std::function<void(LookupOutcome, const std::optional<std::string>&)>;
    virtual ~AccountLookups() = default;
    virtual void lookup(const std::string& user, AccountDone done) = 0;
    virtual void name_of(uid_t uid, NameDone done) = 0;
    // Synchronous: for enforcement's adoption of live sessions
    // (Daemon::is_managed), which needs a yes/no at once. LookupWorker waits
    // for it at most its bound; no answer by then is lookup_failed (unknown:
    // enforcement neither adopts nor ends a session on it).
    virtual LocalAccount lookup_now(const std::string& user) = 0;
};

// An Accounts that never blocks (tests, the fuzzer), asked directly on the loop.
class InlineLookups final : public AccountLookups {
public:
    explicit InlineLookups(Accounts& accounts) : accounts_(accounts) {}
    void lookup(const std::string& user, AccountDone done) override { done(LookupOutcome::Answered, accounts_.lookup(user)); }
    void name_of(uid_t uid, NameDone done) override { done(LookupOutcome::Answered, accounts_.name_of(uid)); }
    LocalAccount lookup_now(const std::string& user) override { return accounts_.lookup(user); }

private:
    Accounts& accounts_;
};

// NSS off the loop: a CachingAccounts (on the loop) in front of `inner`, which
// runs on `threads` worker threads. A question already being asked is joined,
// not asked twice; at most `max_jobs` distinct questions are queued or running
// at once (more: Busy at once). Each caller waits at most `bound` (TimedOut);
// a lookup that returns later still fills the cache.
//
// Stopping (destructor) drops the callbacks still waiting without calling them
// (their owner is going away), waits up to `bound` for the threads, and leaves
// a thread that is still inside NSS to end with the process: it holds only the
// shared state and `inner` (shared_ptr), and never touches the loop again.
class LookupWorker final : public AccountLookups {
public:
    struct Options {
        std::size_t threads = 4;
        std::size_t max_jobs = 64;
        std::chrono::milliseconds bound{1000};
        std::int64_t cache_ttl_ms = 5000;
        std::vector<std::string> cache_watched;
        CachingAccounts::ClockMs clock;  // monotonic ms for the cache; default: CLOCK_MONOTONIC
    };
    LookupWorker(Loop& loop, std::shared_ptr<Accounts> inner, Options options);
    ~LookupWorker() override;
    LookupWorker(const LookupWorker&) = delete;
    LookupWorker& operator=(const LookupWorker&) = delete;

    void lookup(const std::string& user, AccountDone done) override;
    void name_of(uid_t uid, NameDone done) override;
    // A remembered answer, else the worker's within the bound (the calling
    // loop waits that long at most), else lookup_failed. A question still
    // unanswered from before (it timed out) is not waited for again: lookup_failed at once.
    LocalAccount lookup_now(const std::string& user) override;

    // New cache settings and bound (SIGHUP); the cache is forgotten.
    void configure(std::int64_t cache_ttl_ms, std::vector<std::string> watched, std::chrono::milliseconds bound);
    // The destructor's work (see above); later questions are answered Busy.
    // Returns how many threads were still inside NSS and were left behind.
    std::size_t stop();
    // Questions queued or running (joined ones count once).
    std::size_t in_flight() const { return pending_.size(); }
    // Worker threads that have not returned yet (also after stop()).
    std::size_t threads_alive() const;

    struct Shared;  // between the loop and the threads (accounts.cpp)

private:
    struct Waiter {
        std::uint64_t id = 0;
        Loop::TimerId timer = 0;
        AccountDone on_account;
        NameDone on_name;
    };
    struct Pending {
        std::uint64_t generation = 0;
        std::vector<Waiter> waiters;
    };
    struct Result {
        bool by_uid = false;
        std::string user;
        uid_t uid = 0;
        LocalAccount account;
        std::optional<std::string> name;
    };
    void ask(const std::string& key, bool by_uid, const std::string& user, uid_t uid, Waiter waiter);
    bool enqueue(const std::string& key, bool by_uid, const std::string& user, uid_t uid);  // false: no room
    void finished(const std::string& key, const Result& result);
    void timed_out(const std::string& key, std::uint64_t waiter_id);
    static void fail(Waiter& w, LookupOutcome outcome);
    static void run(std::shared_ptr<Shared> shared);

    Loop& loop_;
    std::shared_ptr<Accounts> inner_;
    CachingAccounts cache_;
    std::chrono::milliseconds bound_;
    std::size_t max_jobs_;
    std::shared_ptr<Shared> shared_;
    std::vector<std::thread> threads_;
    std::map<std::string, Pending> pending_;  // "n:<user>" / "u:<uid>"
    std::uint64_t next_waiter_ = 1;
    bool stopped_ = false;
};

}  // namespace jit::helperd
