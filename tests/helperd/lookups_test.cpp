// NSS off the loop (LookupWorker, Daemon's socket operations): a lookup that
// hangs (a directory that does not answer) holds up neither root's questions
// nor other users'; the hung question is answered with an error when its
// bound passes; a full queue answers at once; stopping does not wait for NSS.
// Accounts here block on a gate the test opens, and the ManualLoop delivers
// the workers' answers only inside run_posted(): no timing in the assertions.
#include "test_util.hpp"

#include <jit/helperd/accounts.hpp>
#include <jit/helperd/daemon.hpp>

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace {

using jit::LocalAccount;
using jit::helperd::AccountLookups;
using jit::helperd::Daemon;
using jit::helperd::LookupOutcome;
using jit::helperd::LookupWorker;
using jit::helperd::ManualLoop;
using jit::helperd::Peer;

// Answers from `users`; a name in `hang` (or a uid in `hang_uids`) waits until
// open() first. Thread-safe: the worker threads call it.
class GatedAccounts final : public jit::helperd::Accounts {
public:
    LocalAccount lookup(const std::string& user) override {
        std::unique_lock<std::mutex> lock(mu_);
        ++calls_[user];
        if (hang_.count(user)) wait_open(lock);
        return answers_.lookup(user);
    }
    std::optional<std::string> name_of(uid_t uid) override {
        std::unique_lock<std::mutex> lock(mu_);
        if (hang_uids_.count(uid)) wait_open(lock);
        return answers_.name_of(uid);
    }
    void add(const std::string& user, LocalAccount a) {
        std::lock_guard<std::mutex> lock(mu_);
        answers_.users[user] = std::move(a);
    }
    void hang(const std::string& user) {
        std::lock_guard<std::mutex> lock(mu_);
        hang_.insert(user);
    }
    void hang_uid(uid_t uid) {
        std::lock_guard<std::mutex> lock(mu_);
        hang_uids_.insert(uid);
    }
    // Until `n` lookups are held at the gate.
    void wait_held(int n) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return held_ >= n; });
    }
    void open() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            open_ = true;
        }
        cv_.notify_all();
    }
    int calls(const std::string& user) {
        std::lock_guard<std::mutex> lock(mu_);
        return calls_[user];
    }

private:
    void wait_open(std::unique_lock<std::mutex>& lock) {
        ++held_;
        cv_.notify_all();
        cv_.wait(lock, [&] { return open_; });
        --held_;
    }
    std::mutex mu_;
    std::condition_variable cv_;
    jit::test::FakeAccounts answers_;  // under mu_
    std::set<std::string> hang_;
    std::set<uid_t> hang_uids_;
    std::map<std::string, int> calls_;
    int held_ = 0;
    bool open_ = false;
};

constexpr std::chrono::milliseconds kBound{1000};

LookupWorker::Options options(std::size_t threads = 2, std::size_t max_jobs = 8) {
    LookupWorker::Options o;
    o.threads = threads;
    o.max_jobs = max_jobs;
    o.bound = kBound;
    o.cache_ttl_ms = 5000;
    return o;
}

struct Answer {
    bool called = false;
    LookupOutcome outcome = LookupOutcome::Busy;
    LocalAccount account;
};

AccountLookups::AccountDone into(Answer& a) {
    return [&a](LookupOutcome o, const LocalAccount& acct) {
        EXPECT_FALSE(a.called) << "answered twice";
        a.called = true;
        a.outcome = o;
        a.account = acct;
    };
}

// Lets a thread that is leaving (stop() left it behind) finish.
void wait_threads_gone(const LookupWorker& w) {
    while (w.threads_alive() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

TEST(LookupWorker, OtherQuestionsAreAnsweredWhileOneHangsAndTheHungOneTimesOut) {
    ManualLoop loop;
    auto accounts = std::make_shared<GatedAccounts>();
    accounts->add("dave", LocalAccount{1001, {"dave"}});
    accounts->add("ldapuser", LocalAccount{1500, {"staff"}});
    accounts->hang("ldapuser");
    LookupWorker worker(loop, accounts, options());

    Answer hung, other;
    worker.lookup("ldapuser", into(hung));
    accounts->wait_held(1);
    worker.lookup("dave", into(other));
    while (!other.called) loop.run_posted(true);
    EXPECT_EQ(other.outcome, LookupOutcome::Answered);
    EXPECT_EQ(other.account.uid, std::optional<uid_t>(1001));
    EXPECT_FALSE(hung.called);

    // The bound passes: the hung question gets TimedOut (and nothing else).
    loop.advance(kBound);
    ASSERT_TRUE(hung.called);
    EXPECT_EQ(hung.outcome, LookupOutcome::TimedOut);
    EXPECT_EQ(worker.in_flight(), 1u);  // still asked: its answer will fill the cache

    // A second question about the same user joins it rather than asking NSS again.
    Answer joined;
    worker.lookup("ldapuser", into(joined));
    accounts->open();
    while (!joined.called) loop.run_posted(true);
    EXPECT_EQ(joined.outcome, LookupOutcome::Answered);
    EXPECT_EQ(joined.account.uid, std::optional<uid_t>(1500));
    EXPECT_EQ(accounts->calls("ldapuser"), 1);
    EXPECT_EQ(worker.in_flight(), 0u);

    // Cached now: answered at once, on the calling thread.
    Answer cached;
    worker.lookup("ldapuser", into(cached));
    EXPECT_TRUE(cached.called);
    EXPECT_EQ(cached.account.uid, std::optional<uid_t>(1500));
    EXPECT_EQ(accounts->calls("ldapuser"), 1);
    EXPECT_EQ(worker.stop(), 0u);  // nothing hangs: every thread joined
    EXPECT_EQ(worker.threads_alive(), 0u);
}

TEST(LookupWorker, AFullQueueAnswersBusyAtOnceAndAFailedLookupIsNotRemembered) {
    ManualLoop loop;
    auto accounts = std::make_shared<GatedAccounts>();
    accounts->hang("a");
    accounts->hang("b");
    accounts->add("flaky", LocalAccount{std::nullopt, {}, true});
    LookupWorker worker(loop, accounts, options(/*threads=*/1, /*max_jobs=*/2));
    Answer a, b, c;
    worker.lookup("a", into(a));  // the one thread, held
    worker.lookup("b", into(b));  // queued
    accounts->wait_held(1);
    worker.lookup("c", into(c));  // no room
    ASSERT_TRUE(c.called);
    EXPECT_EQ(c.outcome, LookupOutcome::Busy);
    EXPECT_EQ(accounts->calls("c"), 0);
    accounts->open();
    while (!a.called || !b.called) loop.run_posted(true);
    EXPECT_EQ(a.outcome, LookupOutcome::Answered);
    EXPECT_EQ(b.outcome, LookupOutcome::Answered);

    // An NSS error is answered as one (lookup_failed) and asked again next time.
    for (int i = 1; i <= 2; ++i) {
        Answer f;
        worker.lookup("flaky", into(f));
        while (!f.called) loop.run_posted(true);
        EXPECT_EQ(f.outcome, LookupOutcome::Answered);
        EXPECT_TRUE(f.account.lookup_failed);
        EXPECT_EQ(accounts->calls("flaky"), i);
    }
}

// Stopping while a lookup hangs: stop() returns (after waiting the bound for
// the threads), drops the waiting callback without calling it, and the thread
// left inside NSS ends when NSS returns, touching nothing but its shared state.
TEST(LookupWorker, StopDoesNotWaitForAHungLookup) {
    ManualLoop loop;
    auto accounts = std::make_shared<GatedAccounts>();
    accounts->hang("ldapuser");
    auto options = ::options(2);
    options.bound = std::chrono::milliseconds(20);  // stop()'s real wait for the threads
    auto worker = std::make_unique<LookupWorker>(loop, accounts, options);
    Answer hung;
    worker->lookup("ldapuser", into(hung));
    accounts->wait_held(1);
    EXPECT_EQ(worker->stop(), 1u);  // one thread left behind in NSS
    EXPECT_EQ(worker->threads_alive(), 1u);
    Answer after;
    worker->lookup("dave", into(after));  // stopped: no thread to ask
    EXPECT_TRUE(after.called);
    EXPECT_EQ(after.outcome, LookupOutcome::Busy);
    accounts->open();
    wait_threads_gone(*worker);
    worker.reset();
    EXPECT_EQ(loop.run_posted(false), 0u);  // the late answer was never posted
    EXPECT_FALSE(hung.called);
    EXPECT_EQ(loop.pending(), 0u);  // its bound timer went with it
}

// Enforcement's synchronous question (Daemon::is_managed -> lookup_now): the
// worker's answer, or after the bound "unknown" (lookup_failed), never a hang.
TEST(LookupWorker, TheSynchronousLookupWaitsAtMostTheBound) {
    ManualLoop loop;
    auto accounts = std::make_shared<GatedAccounts>();
    accounts->add("dave", LocalAccount{1001, {"dave"}});
    accounts->hang("ldapuser");
    {
        auto o = options();
        o.bound = std::chrono::minutes(10);  // the answer comes long before
        LookupWorker worker(loop, accounts, o);
        const LocalAccount dave = worker.lookup_now("dave");
        EXPECT_EQ(dave.uid, std::optional<uid_t>(1001));
        EXPECT_FALSE(dave.lookup_failed);
        loop.run_posted(false);  // the answer reaches the loop (if not yet): remembered
        while (worker.in_flight() > 0) loop.run_posted(true);
        EXPECT_EQ(worker.lookup_now("dave").uid, std::optional<uid_t>(1001));
        EXPECT_EQ(accounts->calls("dave"), 1);
    }
    auto o = options();
    o.bound = std::chrono::milliseconds(20);
    LookupWorker worker(loop, accounts, o);
    const LocalAccount hung = worker.lookup_now("ldapuser");
    EXPECT_TRUE(hung.lookup_failed);
    EXPECT_FALSE(hung.uid);
    // Still unanswered: not waited for again (with this bound the test would hang).
    worker.configure(5000, {}, std::chrono::minutes(10));
    EXPECT_TRUE(worker.lookup_now("ldapuser").lookup_failed);
    accounts->open();
    while (worker.in_flight() > 0) loop.run_posted(true);
}

// The daemon over a LookupWorker whose NSS hangs for one user.
struct HungDaemon {
    jit::test::TempDir dir;
    jit::test::Signer signer;
    ManualLoop loop;
    jit::test::FakeTransport transport;
    jit::helperd::AuthorityClient authority{transport};
    jit::audit::RecordingSink sink;
    std::shared_ptr<GatedAccounts> accounts = std::make_shared<GatedAccounts>();
    LookupWorker lookups{loop, accounts, options()};
    jit::test::MemorySessions sessions;  // the Enforcer's table in jit-helperd
    std::unique_ptr<Daemon> daemon;

    HungDaemon() {
        accounts->add("dave", LocalAccount{1001, {"dave"}});
        accounts->add("carol", LocalAccount{70005, {"carol"}});  // in the managed range
        accounts->add("ldapuser", LocalAccount{1500, {"staff"}});
        accounts->hang("ldapuser");
        daemon = std::make_unique<Daemon>(jit::test::daemon_config(dir.path()), signer.keys(),
                                          Daemon::Deps{loop, authority, sink, lookups});
        daemon->set_session_table(sessions);
        EXPECT_TRUE(daemon->start().ok());
    }
    ~HungDaemon() {
        accounts->open();  // a test that failed half-way: let the threads go
        if (daemon) daemon->stop();
    }
    // Asks; the answer (if any yet) lands in `out`.
    void ask(jit::ipc::Message m, Peer peer, std::optional<jit::ipc::Message>& out) {
        daemon->handle(m, peer, [&out](jit::ipc::Message r) {
            EXPECT_FALSE(out.has_value()) << "answered twice";
            out = std::move(r);
        });
    }
    void wait(std::optional<jit::ipc::Message>& out) {
        while (!out) loop.run_posted(true);
    }
};

const Peer kRoot{0, 0, 4242};

TEST(HungNss, RootAndOtherUsersAreAnsweredWhileOneLookupHangs) {
    HungDaemon h;
    std::optional<jit::ipc::Message> hung, ping, status, dave, carol, dave_status, hung_session;
    h.ask({{"op", "check"}, {"user", "ldapuser"}, {"service", "sshd"}}, kRoot, hung);
    h.accounts->wait_held(1);
    EXPECT_FALSE(hung.has_value());

    // Root's status and ping need no lookup: answered at once.
    h.ask({{"op", "ping"}}, kRoot, ping);
    ASSERT_TRUE(ping.has_value());
    EXPECT_EQ(jit::ipc::get(*ping, "status"), "ok");
    h.ask({{"op", "status"}}, kRoot, status);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(jit::ipc::get(*status, "status"), "ok");

    // Other users' checks go past the hung one.
    h.ask({{"op", "check"}, {"user", "dave"}, {"service", "sshd"}}, kRoot, dave);
    h.wait(dave);
    EXPECT_EQ(jit::ipc::get(*dave, "decision"), "ignore");
    h.ask({{"op", "check"}, {"user", "carol"}, {"service", "sshd"}}, kRoot, carol);
    h.wait(carol);
    EXPECT_EQ(jit::ipc::get(*carol, "decision"), "deny");  // managed, no bundle
    // A user's own status (peer uid -> name on the worker).
    h.ask({{"op", "status"}}, Peer{1001, 1001, 777}, dave_status);
    h.wait(dave_status);
    EXPECT_EQ(jit::ipc::get(*dave_status, "status"), "ok");
    h.ask({{"op", "session_open"}, {"user", "ldapuser"}, {"service", "sshd"}, {"pid", "99"}}, kRoot, hung_session);
    EXPECT_FALSE(hung.has_value());
    EXPECT_FALSE(hung_session.has_value());

    // The bound passes: an error answer, which pam_jit.so turns into its
    // local-facts decision (a JIT user refused, anyone else left alone).
    h.loop.advance(kBound);
    ASSERT_TRUE(hung.has_value());
    EXPECT_EQ(jit::ipc::get(*hung, "status"), "error");
    EXPECT_EQ(jit::ipc::get(*hung, "error"), "nss_timeout");
    ASSERT_TRUE(hung_session.has_value());
    EXPECT_EQ(jit::ipc::get(*hung_session, "error"), "nss_timeout");
    EXPECT_TRUE(h.sessions.opened.empty());
    // No audit decision was recorded for the unanswered check.
    EXPECT_EQ(h.sink.count(jit::audit::EventType::LoginDenied), 1u);  // carol's
    for (const auto& e : h.sink.events) EXPECT_EQ(e.message.find("ldapuser"), std::string::npos) << e.message;

    // NSS answers at last: the next check is decided (and comes from the cache).
    h.accounts->open();
    while (h.lookups.in_flight() > 0) h.loop.run_posted(true);
    std::optional<jit::ipc::Message> again;
    h.ask({{"op", "check"}, {"user", "ldapuser"}, {"service", "sshd"}}, kRoot, again);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(jit::ipc::get(*again, "decision"), "ignore");  // uid 1500: outside the managed range
    EXPECT_EQ(h.accounts->calls("ldapuser"), 1);
}

TEST(HungNss, EnforcementTreatsAHungLookupAsUnknown) {
    HungDaemon h;
    bool unknown = true;
    h.lookups.configure(5000, {}, std::chrono::minutes(10));  // NSS answers long before
    EXPECT_TRUE(h.daemon->is_managed("carol", nullptr, &unknown));
    EXPECT_FALSE(unknown);
    // is_managed blocks its caller up to the bound: a short one here.
    h.lookups.configure(5000, {}, std::chrono::milliseconds(20));
    EXPECT_FALSE(h.daemon->is_managed("ldapuser", nullptr, &unknown));
    EXPECT_TRUE(unknown);  // neither adopted nor ended
}

TEST(HungNss, AHungPeerNameIsAnErrorNotAnotherUsersAnswer) {
    HungDaemon h;
    h.accounts->hang_uid(1001);
    std::optional<jit::ipc::Message> check, grants;
    h.ask({{"op", "check"}, {"user", "dave"}, {"service", "sshd"}}, Peer{1001, 1001, 777}, check);
    h.ask({{"op", "grants"}}, Peer{1001, 1001, 777}, grants);
    h.accounts->wait_held(1);
    EXPECT_FALSE(check.has_value());
    EXPECT_FALSE(grants.has_value());
    h.loop.advance(kBound);
    ASSERT_TRUE(check.has_value());
    EXPECT_EQ(jit::ipc::get(*check, "error"), "nss_timeout");
    ASSERT_TRUE(grants.has_value());
    EXPECT_EQ(jit::ipc::get(*grants, "error"), "nss_timeout");
}

// A daemon destroyed while a lookup hangs: the late answer finds no one.
TEST(HungNss, TheDaemonGoesAwayWhileALookupHangs) {
    HungDaemon h;
    std::optional<jit::ipc::Message> hung;
    h.ask({{"op", "check"}, {"user", "ldapuser"}, {"service", "sshd"}}, kRoot, hung);
    h.accounts->wait_held(1);
    h.daemon->stop();
    h.daemon.reset();
    h.accounts->open();
    while (h.lookups.in_flight() > 0) h.loop.run_posted(true);
    EXPECT_FALSE(hung.has_value());
    h.loop.advance(kBound);
    EXPECT_FALSE(hung.has_value());
}

}  // namespace
