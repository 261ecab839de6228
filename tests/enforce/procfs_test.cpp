// Fallback discovery against a real process tree spawned here, and the
// FallbackTerminator really signalling it. As root the session's processes run
// under an unused uid (never root's processes); without root, under our own uid
// (the orphan case, which needs a parent of another uid, is then skipped).
#include "helpers.hpp"

#include <jit/enforce/procfs.hpp>
#include <jit/enforce/terminator.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace jit::enforce {
namespace {

TEST(ProcStat, ParsesFieldsAfterTheLastParenthesis) {
    const std::string text =
        "4242 (evil) name (x)) S 1 4242 4242 34816 4242 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 "
        "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    auto p = parse_proc_stat(text);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->pid, 4242);
    EXPECT_EQ(p->ppid, 1);
    EXPECT_EQ(p->pgid, 4242);
    EXPECT_EQ(p->sid, 4242);
    EXPECT_EQ(p->tty_nr, 34816);
    EXPECT_EQ(p->start, 987654u);
    EXPECT_EQ(p->state, 'S');
    EXPECT_FALSE(p->kernel_thread);
    EXPECT_FALSE(parse_proc_stat("12 (short) S 1 2").has_value());
    EXPECT_FALSE(parse_proc_stat("garbage").has_value());
}

TEST(ProcStat, StartTimeOfThisProcess) {
    auto a = process_start_time(::getpid());
    ASSERT_TRUE(a.has_value());
    EXPECT_GT(*a, 0u);
    EXPECT_FALSE(process_start_time(-1).has_value());
}

TEST(ProcStat, TerminalsFromTtyNr) {
    // pts major 136, minor 5 -> /dev/pts/5; tty major 4 minor 2 -> /dev/tty2.
    ProcInfo leader{};
    leader.pid = 10;
    leader.ppid = 1;
    leader.start = 100;
    leader.ruid = leader.euid = leader.suid = leader.fsuid = 2000;
    ProcInfo shell = leader;
    shell.pid = 11;
    shell.ppid = 10;
    shell.start = 101;
    shell.tty_nr = (136 << 8) | 5;
    ProcInfo other = shell;
    other.pid = 12;
    other.tty_nr = (4 << 8) | 2;
    auto snap = ProcTable::from({leader, shell, other}, "/nonexistent");
    Session s;
    s.key = "k";
    s.uid = 2000;
    s.pid = 10;
    s.pid_start = 100;
    EXPECT_EQ(session_terminals(snap, s), (std::vector<std::string>{"/dev/pts/5", "/dev/tty2"}));
    s.pid_start = 99;  // the pid was reused: nothing is the session's
    EXPECT_TRUE(session_terminals(snap, s).empty());
}

// ---- a real process tree -----------------------------------------------------

enum Role : int { Leader = 1, Shell, Job, SidChild, SetsidEnv, SetsidNoEnv, Before, Leader2, Shell2, Orphan2 };

struct Report {
    int role;
    pid_t pid;
};

class ProcessTree : public ::testing::Test {
protected:
    int fds[2] = {-1, -1};
    uid_t uid = 0;
    bool root = ::geteuid() == 0;
    std::map<int, pid_t> pids;

    void SetUp() override {
        ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
        // Orphans come back to us (and we reap them): deterministic reparenting.
        ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        uid = root ? static_cast<uid_t>(2'100'000'000u + static_cast<unsigned>(::getpid()) % 1'000'000u) : ::getuid();
    }
    void TearDown() override {
        for (auto& [role, pid] : pids) ::kill(pid, SIGKILL);
        reap_all();
        ::prctl(PR_SET_CHILD_SUBREAPER, 0);
        ::close(fds[0]);
        ::close(fds[1]);
    }
    void reap_all() {
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
    }
    // Reap until none of `which` is still running (bounded).
    void wait_gone(const std::vector<pid_t>& which) {
        for (int i = 0; i < 500; ++i) {
            reap_all();
            bool any = false;
            for (pid_t p : which) {
                auto snap = ProcTable::read();
                any = any || snap.find(p) != nullptr;
            }
            if (!any) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    // In children only: tell the parent test who we are.
    void report(int role) {
        Report r{role, ::getpid()};
        if (::write(fds[1], &r, sizeof r) != sizeof r) _exit(3);
    }
    static pid_t spawn(const std::function<void()>& body) {
        pid_t p = ::fork();
        if (p == 0) {
            body();
            _exit(0);
        }
        return p;
    }
    [[noreturn]] static void hang() {
        for (;;) ::pause();
    }
    // /proc/PID/environ shows the environment a program was exec'd with (as
    // sshd execs the shell), so the processes that carry it exec sleep.
    [[noreturn]] static void exec_sleep(const std::string& env = {}) {
        char a0[] = "sleep", a1[] = "1000";
        char* argv[] = {a0, a1, nullptr};
        std::string e = env;
        char* envp[] = {e.empty() ? nullptr : e.data(), nullptr};
        ::execve("/bin/sleep", argv, envp);
        _exit(127);
    }
    [[noreturn]] static void exec_sleep_without_env() { exec_sleep(); }
    void become_user() {
        if (root && (::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0)) _exit(4);
    }
    void collect(std::size_t n) {
        while (pids.size() < n) {
            Report r{};
            ASSERT_EQ(::read(fds[0], &r, sizeof r), static_cast<ssize_t>(sizeof r));
            pids[r.role] = r.pid;
        }
    }
    void wait_exec(pid_t pid) {
        for (int i = 0; i < 500; ++i) {
            char buf[64] = {};
            int fd = ::open(("/proc/" + std::to_string(pid) + "/comm").c_str(), O_RDONLY | O_CLOEXEC);
            ssize_t n = fd >= 0 ? ::read(fd, buf, sizeof buf - 1) : -1;
            if (fd >= 0) ::close(fd);
            if (n > 0 && std::string(buf).rfind("sleep", 0) == 0) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    static void tick() { std::this_thread::sleep_for(std::chrono::milliseconds(30)); }  // > 1 clock tick

    // A leader (like sshd's [priv] process: root when we are root, its own
    // session) whose shell (the user, setsid, SSH_CONNECTION=conn) runs `shell_body`.
    pid_t start_session(int leader_role, int shell_role, const std::string& conn,
                        const std::function<void()>& shell_body) {
        return spawn([=, this] {
            ::setsid();
            report(leader_role);
            spawn([=, this] {
                become_user();
                ::setsid();
                ::setenv("SSH_CONNECTION", conn.c_str(), 1);
                report(shell_role);
                shell_body();
                hang();
            });
            hang();
        });
    }

    Session session_of(pid_t leader, const std::string& key) {
        Session s;
        s.key = key;
        s.user = "jit-test";
        s.uid = uid;
        s.pid = leader;
        s.pid_start = process_start_time(leader).value_or(0);
        return s;
    }
    DiscoveryOptions options() const {
        DiscoveryOptions o;
        o.min_uid = std::min<uid_t>(1000, uid);
        return o;
    }
};

class RecordingSignaller final : public Signaller {
public:
    PidfdSignaller real;
    std::vector<std::pair<pid_t, int>> sent;
    Status send(pid_t pid, std::uint64_t start, int sig) override {
        sent.emplace_back(pid, sig);
        return real.send(pid, start, sig);
    }
};

TEST_F(ProcessTree, FindsTheSessionsProcessesAndKillsOnlyThose) {
    const std::string conn = "203.0.113.7 " + std::to_string(40000 + ::getpid() % 20000) + " 203.0.113.8 22";
    std::size_t expected = 0;

    // A process of the same user that predates the session: not the session's.
    spawn([this] {
        become_user();
        ::setsid();
        report(Before);
        exec_sleep_without_env();
    });
    ++expected;
    collect(expected);
    tick();

    start_session(Leader, Shell, conn, [this, conn] {
        spawn([this, conn] {  // a plain child, exec'd with the session's environment
            report(Job);
            exec_sleep("SSH_CONNECTION=" + conn);
        });
        // nohup-style: double fork, keeps the session id, reparented to the subreaper.
        pid_t x = spawn([this] {
            spawn([this] { report(SidChild); hang(); });
        });
        ::waitpid(x, nullptr, 0);
        // setsid-style with the environment inherited.
        pid_t y = spawn([this, conn] {
            spawn([this, conn] {
                ::setsid();
                report(SetsidEnv);
                exec_sleep("SSH_CONNECTION=" + conn);
            });
        });
        ::waitpid(y, nullptr, 0);
        if (root) {
            // setsid + empty environment: only the orphan rule can find it.
            pid_t z = spawn([this] {
                spawn([this] {
                    ::setsid();
                    report(SetsidNoEnv);
                    exec_sleep_without_env();
                });
            });
            ::waitpid(z, nullptr, 0);
        }
    });
    expected += root ? 6 : 5;
    collect(expected);
    for (int r : {SetsidNoEnv, Before, Job, SetsidEnv})
        if (pids.count(r)) wait_exec(pids[r]);
    tick();

    // Another session of the same user that stays (e.g. under another grant),
    // with its own env-less orphan started after both sessions.
    const std::string conn2 = "203.0.113.9 " + std::to_string(20000 + ::getpid() % 20000) + " 203.0.113.8 22";
    start_session(Leader2, Shell2, conn2, [this] {
        if (!root) return;
        tick();
        pid_t z = spawn([this] {
            spawn([this] {
                ::setsid();
                report(Orphan2);
                exec_sleep_without_env();
            });
        });
        ::waitpid(z, nullptr, 0);
    });
    expected += root ? 3 : 2;
    collect(expected);
    if (root) wait_exec(pids[Orphan2]);
    reap_all();

    Session target = session_of(pids[Leader], "target");
    Session staying = session_of(pids[Leader2], "staying");
    ASSERT_NE(target.pid_start, 0u);

    auto found = discover_session_processes(ProcTable::read(), target, {staying}, options());
    std::map<pid_t, FoundBy> by;
    for (const auto& f : found) by[f.pid] = f.by;
    EXPECT_EQ(by[pids[Leader]], FoundBy::Leader);
    EXPECT_EQ(by[pids[Shell]], FoundBy::Tree);
    EXPECT_EQ(by[pids[Job]], FoundBy::Tree);
    ASSERT_TRUE(by.count(pids[SidChild]));
    EXPECT_EQ(by[pids[SidChild]], FoundBy::SessionOrGroup);
    ASSERT_TRUE(by.count(pids[SetsidEnv]));
    EXPECT_EQ(by[pids[SetsidEnv]], FoundBy::Environment);
    if (root) {
        ASSERT_TRUE(by.count(pids[SetsidNoEnv]));
        EXPECT_EQ(by[pids[SetsidNoEnv]], FoundBy::Orphan);
    }
    for (int spared : {Before, Leader2, Shell2, Orphan2})
        if (pids.count(spared)) {
            EXPECT_FALSE(by.count(pids[spared])) << "role " << spared;
        }
    EXPECT_FALSE(by.count(::getpid()));
    EXPECT_EQ(found.size(), root ? 6u : 5u);

    // Now really end it: SIGTERM, grace, then whatever is left gets SIGKILL.
    RecordingSignaller sig;
    FallbackTerminator term(sig, options());
    auto how = test::step(term, &Terminator::terminate, target, {staying});
    ASSERT_TRUE(how.ok()) << how.error().message;
    EXPECT_EQ(how.value(), "fallback-kill");
    std::vector<pid_t> victims;
    for (int r : {Leader, Shell, Job, SidChild, SetsidEnv, SetsidNoEnv})
        if (pids.count(r)) victims.push_back(pids[r]);
    wait_gone(victims);
    EXPECT_FALSE(term.alive_now(target, {staying}, false));
    ASSERT_TRUE(test::step(term, &Terminator::kill, target, {staying}).ok());
    for (const auto& [pid, s] : sig.sent) EXPECT_NE(std::find(victims.begin(), victims.end(), pid), victims.end()) << pid;

    auto after = ProcTable::read();
    for (pid_t v : victims) EXPECT_EQ(after.find(v), nullptr) << "still running: " << v;
    for (int survivor : {Before, Leader2, Shell2, Orphan2})
        if (pids.count(survivor)) {
            EXPECT_NE(after.find(pids[survivor]), nullptr) << "role " << survivor << " was killed";
        }
}

TEST_F(ProcessTree, HardStepFindsWhatTheSessionForkedAfterItsLeaderDied) {
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    // The leader dies on SIGTERM; its child ignores SIGTERM and, only after the
    // polite step, forks a grandchild: the hard step must still find and kill both.
    pid_t leader = spawn([&, this] {
        ::setsid();
        report(Leader);
        spawn([&, this] {
            become_user();
            ::signal(SIGTERM, SIG_IGN);
            report(Shell);
            char c;
            if (::read(go[0], &c, 1) == 1) spawn([this] { report(Job); hang(); });
            hang();
        });
        hang();
    });
    collect(2);
    Session target = session_of(leader, "late");
    RecordingSignaller sig;
    FallbackTerminator term(sig, options());
    ASSERT_TRUE(test::step(term, &Terminator::terminate, target, {}).ok());
    wait_gone({leader});
    ASSERT_EQ(::write(go[1], "x", 1), 1);
    collect(3);
    EXPECT_TRUE(term.alive_now(target, {}, false));
    ASSERT_TRUE(test::step(term, &Terminator::kill, target, {}).ok());
    wait_gone({pids[Shell], pids[Job]});
    auto after = ProcTable::read();
    EXPECT_EQ(after.find(pids[Shell]), nullptr);
    EXPECT_EQ(after.find(pids[Job]), nullptr) << "forked after the polite step and missed";
    ::close(go[0]);
    ::close(go[1]);
}

TEST_F(ProcessTree, RecycledLeaderPidIsNotTheSession) {
    pid_t leader = spawn([] { hang(); });
    Session s = session_of(leader, "k");
    s.pid_start += 1;  // as if the pid now belonged to another process
    EXPECT_TRUE(discover_session_processes(ProcTable::read(), s, {}, options()).empty());
    RecordingSignaller sig;
    EXPECT_TRUE(sig.real.send(leader, s.pid_start, SIGKILL).ok());  // refused silently: not the same process
    EXPECT_NE(ProcTable::read().find(leader), nullptr);
    pids[0] = leader;
}

// sshd's session_close comes from the leader itself, after SIGTERM: a session
// of which only that leader still runs is over (no wait for the grace).
TEST_F(ProcessTree, ClosingLeaderAloneDoesNotKeepTheSessionAlive) {
    pid_t leader = spawn([] { hang(); });
    pids[0] = leader;
    Session s = session_of(leader, "k");
    RecordingSignaller sig;
    FallbackTerminator term(sig, options());
    EXPECT_TRUE(term.alive_now(s, {}, /*leader_closing=*/false));
    EXPECT_FALSE(term.alive_now(s, {}, /*leader_closing=*/true));
}

TEST_F(ProcessTree, ClosingLeaderWithAChildLeftIsStillAlive) {
    pid_t leader = spawn([this] {
        report(Leader);
        spawn([this] {
            become_user();
            report(Shell);
            hang();
        });
        hang();
    });
    collect(2);
    Session s = session_of(leader, "k");
    RecordingSignaller sig;
    FallbackTerminator term(sig, options());
    EXPECT_TRUE(term.alive_now(s, {}, /*leader_closing=*/true));
}

// The daemon's loop, for the tests below: callbacks posted from any thread,
// run one at a time by the test's thread.
class PostedQueue {
public:
    void post(std::function<void()> cb) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            q_.push_back(std::move(cb));
        }
        cv_.notify_all();
    }
    FallbackTerminator::Poster poster() {
        return [this](std::function<void()> cb) { post(std::move(cb)); };
    }
    // Waits for a callback and runs it.
    void run_one() {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !q_.empty(); });
        auto cb = std::move(q_.front());
        q_.pop_front();
        lock.unlock();
        cb();
    }
    // Runs what is there, without waiting.
    std::size_t run_ready() {
        std::size_t n = 0;
        for (;;) {
            std::unique_lock<std::mutex> lock(mu_);
            if (q_.empty()) return n;
            auto cb = std::move(q_.front());
            q_.pop_front();
            lock.unlock();
            cb();
            ++n;
        }
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> q_;
};

// A signaller as slow as a host full of processes: send() holds until the
// test opens the gate (except on `loop_thread`, where holding would stall the
// test itself: it notes where it ran and goes on).
class GateSignaller final : public Signaller {
public:
    explicit GateSignaller(std::thread::id loop_thread) : loop_thread_(loop_thread) {}
    Status send(pid_t pid, std::uint64_t start, int sig) override {
        std::unique_lock<std::mutex> lock(mu_);
        ran_on_ = std::this_thread::get_id();
        entered_ = true;
        cv_.notify_all();
        if (ran_on_ != loop_thread_) cv_.wait(lock, [this] { return open_; });
        lock.unlock();
        return real_.send(pid, start, sig);
    }
    // Waits until a send() has begun; answers the thread it runs on.
    std::thread::id wait_entered() {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return entered_; });
        return ran_on_;
    }
    void open() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            open_ = true;
        }
        cv_.notify_all();
    }

private:
    PidfdSignaller real_;
    const std::thread::id loop_thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool entered_ = false, open_ = false;
    std::thread::id ran_on_;
};

// Issue 18: with thousands of processes the fallback's /proc scan and signals
// take seconds; the loop must keep serving meanwhile, and the answer comes
// back on the loop.
TEST_F(ProcessTree, SlowFallbackScanRunsOffTheLoop) {
    pid_t leader = spawn([] { hang(); });
    pids[0] = leader;
    Session s = session_of(leader, "slow");
    const auto loop_thread = std::this_thread::get_id();
    PostedQueue loop;
    GateSignaller sig(loop_thread);
    FallbackTerminator term(sig, options(), "/proc", loop.poster());
    struct Open {
        GateSignaller& g;
        ~Open() { g.open(); }  // whatever fails below, the worker is let go before the join
    } open_at_exit{sig};

    std::optional<Result<std::string>> how;
    std::thread::id answered_on;
    term.terminate(s, {}, [&](Result<std::string> r) {
        how = std::move(r);
        answered_on = std::this_thread::get_id();
    });
    ASSERT_NE(sig.wait_entered(), loop_thread) << "the processes were signalled on the loop thread";
    EXPECT_FALSE(how.has_value());
    // The signalling holds; the loop still runs other work (a login check).
    bool served = false;
    loop.post([&] { served = true; });
    loop.run_one();
    EXPECT_TRUE(served);
    EXPECT_FALSE(how.has_value());

    sig.open();
    loop.run_one();  // the answer
    ASSERT_TRUE(how.has_value());
    ASSERT_TRUE(how->ok()) << how->error().message;
    EXPECT_EQ(how->value(), "fallback-kill");
    EXPECT_EQ(answered_on, loop_thread);
    ASSERT_EQ(term.last_signalled().size(), 1u);
    EXPECT_EQ(term.last_signalled()[0].pid, leader);
    wait_gone({leader});

    std::optional<bool> alive;
    term.alive(s, {}, false, [&](bool a) {
        alive = a;
        answered_on = std::this_thread::get_id();
    });
    loop.run_one();
    ASSERT_TRUE(alive.has_value());
    EXPECT_FALSE(*alive);
    EXPECT_EQ(answered_on, loop_thread);
}

// Stopping the daemon while a scan runs: the worker is joined, and an answer
// it had posted never runs on a terminator that is gone.
TEST_F(ProcessTree, FallbackDestroyedMidScanNeverAnswers) {
    pid_t leader = spawn([] { hang(); });
    pids[0] = leader;
    Session s = session_of(leader, "gone");
    const auto loop_thread = std::this_thread::get_id();
    PostedQueue loop;
    GateSignaller sig(loop_thread);
    auto term = std::make_unique<FallbackTerminator>(sig, options(), "/proc", loop.poster());
    bool answered = false;
    term->kill(s, {}, [&](Result<std::string>) { answered = true; });
    term->alive(s, {}, false, [&](bool) { answered = true; });  // still queued at the stop
    ASSERT_NE(sig.wait_entered(), loop_thread);
    sig.open();
    term.reset();  // joins the worker
    loop.run_ready();
    EXPECT_FALSE(answered);
}

// Issue 18: sshd sends a session_close for each session it was told to end,
// one by one, each asking whether anything of its session still runs. The
// checks that wait in the worker's queue together share one /proc read.
TEST_F(ProcessTree, QueuedLivenessChecksShareOneScan) {
    pid_t leader = spawn([] { hang(); });
    pids[0] = leader;
    const auto loop_thread = std::this_thread::get_id();
    PostedQueue loop;
    GateSignaller sig(loop_thread);
    std::atomic<int> scans{0};
    FallbackTerminator term(sig, options(), "/proc", loop.poster(), [&scans](const std::string& proc_root) {
        ++scans;
        return ProcTable::read(proc_root);
    });
    struct Open {
        GateSignaller& g;
        ~Open() { g.open(); }
    } open_at_exit{sig};

    bool terminated = false;
    term.terminate(session_of(leader, "ending"), {}, [&](Result<std::string>) { terminated = true; });
    ASSERT_NE(sig.wait_entered(), loop_thread);  // the worker holds inside the SIGTERM step
    constexpr int kChecks = 20;
    int answered = 0;
    for (int i = 0; i < kChecks; ++i)
        term.alive(session_of(leader, "closing-" + std::to_string(i)), {}, /*leader_closing=*/true,
                   [&answered](bool) { ++answered; });
    sig.open();
    for (int i = 0; i < 1 + kChecks; ++i) loop.run_one();
    EXPECT_TRUE(terminated);
    EXPECT_EQ(answered, kChecks);
    EXPECT_EQ(scans.load(), 2) << "one scan for the SIGTERM step, one for the " << kChecks << " checks queued behind it";
}

TEST_F(ProcessTree, NothingBelowMinUidIsEverTaken) {
    pid_t leader = spawn([] { hang(); });
    pids[0] = leader;
    Session s = session_of(leader, "k");
    DiscoveryOptions o;
    o.min_uid = uid + 1;
    EXPECT_TRUE(discover_session_processes(ProcTable::read(), s, {}, o).empty());
}

}  // namespace
}  // namespace jit::enforce
