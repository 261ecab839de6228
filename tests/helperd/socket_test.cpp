// The socket server on a real sd-event loop in a thread: peer credentials,
// size limits, the connection cap, and a slow client not blocking others;
// exceptions caught at the C boundary; the daemon's operations as forged by
// an unprivileged peer.
#include <jit/durable_file.hpp>
#include <jit/helperd/boundary.hpp>
#include <jit/helperd/daemon.hpp>
#include <jit/helperd/sd_loop.hpp>
#include <jit/helperd/socket_server.hpp>
#include <jit/helperd/state_store.hpp>

#include <json/json.h>

#include <gtest/gtest.h>

#include <atomic>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <optional>
#include <thread>
#include <unistd.h>
#include <grp.h>
#include <sys/wait.h>
#include <csignal>

#include "test_util.hpp"

using namespace jit::helperd;

namespace {

// Runs a SocketServer on its own sd-event loop in a background thread; the
// handler answers with the op and the peer's credentials.
using HandlerFactory = std::function<SocketServer::Handler(sd_event*)>;

SocketServer::Handler echo_handler(sd_event*) {
    return [](const jit::ipc::Message& m, const Peer& p, std::function<void(jit::ipc::Message)> reply) {
        reply({{"status", "ok"},
               {"op", jit::ipc::get(m, "op")},
               {"uid", std::to_string(p.uid)},
               {"pid", std::to_string(p.pid)}});
    };
}

class ServerThread {
public:
    explicit ServerThread(SocketServerOptions opt, HandlerFactory factory = echo_handler) {
        if (pipe2(stop_pipe_, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        std::atomic<int> ready{0};
        thread_ = std::thread([this, opt, factory, &ready] {
            sd_event* ev = nullptr;
            sd_event_new(&ev);
            {
                SocketServer server(ev, opt, factory(ev));
                auto st = server.listen();
                sd_event_source* stop = nullptr;
                sd_event_add_io(ev, &stop, stop_pipe_[0], EPOLLIN,
                                [](sd_event_source* s, int, uint32_t, void*) {
                                    return sd_event_exit(sd_event_source_get_event(s), 0);
                                },
                                nullptr);
                ready = st.ok() ? 1 : -1;
                if (st.ok()) sd_event_loop(ev);
                sd_event_source_disable_unref(stop);
            }
            sd_event_unref(ev);
        });
        while (ready == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        ok_ = ready == 1;
    }
    ~ServerThread() {
        (void)!write(stop_pipe_[1], "x", 1);
        thread_.join();
        close(stop_pipe_[0]);
        close(stop_pipe_[1]);
    }
    bool ok() const { return ok_; }

private:
    int stop_pipe_[2];
    std::thread thread_;
    bool ok_ = false;
};

// Calls reply(answer) from a timer on the server's loop, delay_us from now
// (an answer that comes later, as a request relay's does).
void answer_later(sd_event* ev, std::uint64_t delay_us, std::function<void(jit::ipc::Message)> reply,
                  jit::ipc::Message answer) {
    struct Later {
        std::function<void(jit::ipc::Message)> reply;
        jit::ipc::Message answer;
    };
    auto* later = new Later{std::move(reply), std::move(answer)};
    std::uint64_t now = 0;
    sd_event_now(ev, CLOCK_MONOTONIC, &now);
    sd_event_add_time(ev, nullptr, CLOCK_MONOTONIC, now + delay_us, 0,
                      [](sd_event_source*, uint64_t, void* u) {
                          auto* l = static_cast<Later*>(u);
                          l->reply(std::move(l->answer));
                          delete l;
                          return 0;
                      },
                      later);
}

int raw_connect(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// Reads until EOF (bounded by a generous poll timeout so a bug fails instead of hanging).
std::string read_until_eof(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 30000) <= 0) return out + "<no eof>";
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) return out;
        out.append(buf, std::size_t(n));
    }
}

SocketServerOptions options(const std::string& dir) {
    SocketServerOptions o;
    o.path = dir + "/helperd.sock";
    o.mode = 0666;
    o.io_timeout_ms = 30000;
    o.max_connections = 8;
    return o;
}

}  // namespace

TEST(SocketServer, AnswersWithPeerCredentialsAndMode) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    ServerThread server(opt);
    ASSERT_TRUE(server.ok());
    struct stat st{};
    ASSERT_EQ(stat(opt.path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0666u);
    std::string err;
    auto r = jit::ipc::call(opt.path, {{"op", "status"}}, std::chrono::seconds(10), &err);
    ASSERT_TRUE(r) << err;
    EXPECT_EQ(jit::ipc::get(*r, "op"), "status");
    EXPECT_EQ(jit::ipc::get(*r, "uid"), std::to_string(getuid()));
    EXPECT_EQ(jit::ipc::get(*r, "pid"), std::to_string(getpid()));
}

TEST(SocketServer, OversizedOrMalformedFramesGetAnErrorAndAreClosed) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    ServerThread server(opt);
    ASSERT_TRUE(server.ok());
    int fd = raw_connect(opt.path);
    ASSERT_GE(fd, 0);
    const std::string header = "JIT1 " + std::to_string(jit::ipc::kMaxBody + 1) + "\n";
    ASSERT_EQ(write(fd, header.data(), header.size()), ssize_t(header.size()));
    std::string answer = read_until_eof(fd);
    close(fd);
    EXPECT_NE(answer.find("error=bad_frame"), std::string::npos) << answer;

    fd = raw_connect(opt.path);
    ASSERT_GE(fd, 0);
    const std::string junk = "GET / HTTP/1.0\r\n\r\n";
    ASSERT_EQ(write(fd, junk.data(), junk.size()), ssize_t(junk.size()));
    answer = read_until_eof(fd);
    close(fd);
    EXPECT_NE(answer.find("error=bad_frame"), std::string::npos) << answer;

    fd = raw_connect(opt.path);
    const std::string bad_body = "JIT1 6\nnokey\n";
    ASSERT_EQ(write(fd, bad_body.data(), bad_body.size()), ssize_t(bad_body.size()));
    answer = read_until_eof(fd);
    close(fd);
    EXPECT_NE(answer.find("error=bad_request"), std::string::npos) << answer;
}

TEST(SocketServer, SlowClientDoesNotBlockAnother) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());  // 30 s per-connection deadline: far longer than the call below waits
    ServerThread server(opt);
    ASSERT_TRUE(server.ok());
    int slow = raw_connect(opt.path);
    ASSERT_GE(slow, 0);
    const std::string half = "JIT1 40\nop=sta";
    ASSERT_EQ(write(slow, half.data(), half.size()), ssize_t(half.size()));
    std::string err;
    auto r = jit::ipc::call(opt.path, {{"op", "check"}}, std::chrono::seconds(10), &err);
    ASSERT_TRUE(r) << err;
    EXPECT_EQ(jit::ipc::get(*r, "op"), "check");
    close(slow);
}

TEST(SocketServer, IdleConnectionIsClosedAtItsDeadline) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    opt.io_timeout_ms = 200;
    ServerThread server(opt);
    ASSERT_TRUE(server.ok());
    int fd = raw_connect(opt.path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "JIT1 10\n", 8), 8);
    EXPECT_EQ(read_until_eof(fd), "");  // closed without an answer
    close(fd);
}

// The answer may come later from the loop (request relay): it still reaches
// the client; an answer that never comes ends at the connection's deadline.
TEST(SocketServer, LaterAnswersArriveAndMissingOnesEndAtTheDeadline) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    opt.io_timeout_ms = 300;
    struct Held {
        std::vector<std::function<void(jit::ipc::Message)>> replies;
    };
    auto held = std::make_shared<Held>();
    ServerThread server(opt, [held](sd_event* ev) -> SocketServer::Handler {
        return [ev, held](const jit::ipc::Message& m, const Peer&, std::function<void(jit::ipc::Message)> reply) {
            if (jit::ipc::get(m, "op") == "never") {
                held->replies.push_back(std::move(reply));  // kept, never called before the deadline
                return;
            }
            answer_later(ev, 50000, std::move(reply), {{"status", "ok"}, {"op", "later"}});  // 50 ms on
        };
    });
    ASSERT_TRUE(server.ok());
    std::string err;
    auto r = jit::ipc::call(opt.path, {{"op", "later"}}, std::chrono::seconds(10), &err);
    ASSERT_TRUE(r) << err;
    EXPECT_EQ(jit::ipc::get(*r, "op"), "later");

    int fd = raw_connect(opt.path);
    ASSERT_GE(fd, 0);
    const std::string frame = jit::ipc::encode({{"op", "never"}});
    ASSERT_EQ(write(fd, frame.data(), frame.size()), ssize_t(frame.size()));
    EXPECT_EQ(read_until_eof(fd), "");  // closed at the deadline, without an answer
    close(fd);
}

// Requests that arrive whole are answered without the server registering the
// connection with the loop; many in a row, interleaved with a split one.
TEST(SocketServer, WholeAndSplitRequestsInARow) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    ServerThread server(opt);
    ASSERT_TRUE(server.ok());
    for (int i = 0; i < 200; ++i) {
        std::string err;
        if (i % 50 == 7) {
            int fd = raw_connect(opt.path);
            ASSERT_GE(fd, 0);
            const std::string frame = jit::ipc::encode({{"op", "split"}});
            ASSERT_EQ(write(fd, frame.data(), 5), 5);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            ASSERT_EQ(write(fd, frame.data() + 5, frame.size() - 5), ssize_t(frame.size() - 5));
            EXPECT_NE(read_until_eof(fd).find("op=split\n"), std::string::npos);
            close(fd);
            continue;
        }
        auto r = jit::ipc::call(opt.path, {{"op", "n" + std::to_string(i)}}, std::chrono::seconds(10), &err);
        ASSERT_TRUE(r) << i << ": " << err;
        EXPECT_EQ(jit::ipc::get(*r, "op"), "n" + std::to_string(i));
    }
}

TEST(SocketServer, ConnectionCapAnswersBusy) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    opt.max_connections = 2;
    ServerThread server(opt);
    ASSERT_TRUE(server.ok());
    int a = raw_connect(opt.path), b = raw_connect(opt.path);
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    // Make sure both are accepted: a round trip on a third would race, so
    // send half frames and give the loop a call to process them.
    (void)!write(a, "JIT1 9\n", 7);
    (void)!write(b, "JIT1 9\n", 7);
    std::string err;
    std::optional<jit::ipc::Message> r;
    for (int i = 0; i < 200; ++i) {
        r = jit::ipc::call(opt.path, {{"op", "status"}}, std::chrono::seconds(10), &err);
        if (r && jit::ipc::get(*r, "error") == "busy") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(r) << err;
    EXPECT_EQ(jit::ipc::get(*r, "status"), "error");
    EXPECT_EQ(jit::ipc::get(*r, "error"), "busy");
    close(a);
    close(b);
    // Once they are gone, service resumes.
    for (int i = 0; i < 200; ++i) {
        r = jit::ipc::call(opt.path, {{"op", "status"}}, std::chrono::seconds(10), &err);
        if (r && jit::ipc::get(*r, "status") == "ok") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(r);
    EXPECT_EQ(jit::ipc::get(*r, "status"), "ok");
}

// Connections as another uid, from a forked child: opens `hold` connections
// with half a frame each (so they stay open), then, if `probe`, one more whose
// answer it returns (through a pipe). It keeps them until release() kills it.
class PeerAs {
public:
    PeerAs(uid_t uid, const std::string& path, int hold, bool probe) {
        int res[2];
        if (pipe2(res, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        pid_ = fork();
        if (pid_ == 0) {
            close(res[0]);
            if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(2);
            for (int i = 0; i < hold; ++i) {
                int fd = raw_connect(path);
                if (fd < 0 || write(fd, "JIT1 9\n", 7) != 7) _exit(3);
            }
            std::string answer = "-";
            if (probe) {
                std::string err;
                auto r = jit::ipc::call(path, {{"op", "probe"}}, std::chrono::seconds(10), &err);
                answer = r ? jit::ipc::get(*r, "status") + "|" + jit::ipc::get(*r, "error") + "|" + jit::ipc::get(*r, "message")
                           : "no answer: " + err;
            }
            (void)!write(res[1], answer.data(), answer.size());
            close(res[1]);
            for (;;) pause();
        }
        close(res[1]);
        char buf[512];
        ssize_t n;
        while ((n = read(res[0], buf, sizeof buf)) > 0) answer_.append(buf, std::size_t(n));
        close(res[0]);
    }
    ~PeerAs() { release(); }
    PeerAs(const PeerAs&) = delete;
    PeerAs& operator=(const PeerAs&) = delete;
    const std::string& answer() const { return answer_; }
    void release() {
        if (pid_ <= 0) return;
        kill(pid_, SIGKILL);
        int st = 0;
        waitpid(pid_, &st, 0);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
    std::string answer_;
};

// A local user cannot take every connection: each non-root uid has its own
// cap, and non-root peers together leave a quarter of the slots to root.
TEST(SocketServer, NonRootPeersAreCappedAndRootKeepsItsShare) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (connects as other uids)";
    jit::test::TempDir dir;
    ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
    auto opt = options(dir.path());
    opt.max_connections = 8;  // non-root peers together: 6
    opt.max_connections_per_user = 3;
    ServerThread server(opt);
    ASSERT_TRUE(server.ok());

    PeerAs a(65534, opt.path, 3, true);
    EXPECT_EQ(a.answer(), "error|busy|too many concurrent connections from uid 65534");
    PeerAs b(65533, opt.path, 2, true);  // under its own cap, and 5 < 6 in all
    EXPECT_EQ(b.answer(), "ok||");
    PeerAs c(65532, opt.path, 1, true);  // 6 non-root connections held now
    EXPECT_EQ(c.answer(), "error|busy|too many concurrent connections from non-root clients");
    // Root (pam_jit) still gets through.
    std::string err;
    auto r = jit::ipc::call(opt.path, {{"op", "check"}}, std::chrono::seconds(10), &err);
    ASSERT_TRUE(r) << err;
    EXPECT_EQ(jit::ipc::get(*r, "status"), "ok");
    EXPECT_EQ(jit::ipc::get(*r, "uid"), "0");

    // Once they let go, the same uid is served again.
    a.release();
    b.release();
    c.release();
    std::string again;
    for (int i = 0; i < 200 && again != "ok||"; ++i) {
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        again = PeerAs(65534, opt.path, 0, true).answer();
    }
    EXPECT_EQ(again, "ok||") << "uid 65534 not served after its connections closed";
}

// An answer that comes later (request relay) may take answer_timeout_ms, not
// just io_timeout_ms.
TEST(SocketServer, RelayedAnswersHaveTheLongerDeadline) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    opt.io_timeout_ms = 200;
    opt.answer_timeout_ms = 20000;
    ServerThread server(opt, [](sd_event* ev) -> SocketServer::Handler {
        return [ev](const jit::ipc::Message&, const Peer&, std::function<void(jit::ipc::Message)> reply) {
            answer_later(ev, 800000, std::move(reply), {{"status", "ok"}, {"op", "relayed"}});  // past io_timeout_ms
        };
    });
    ASSERT_TRUE(server.ok());
    std::string err;
    auto r = jit::ipc::call(opt.path, {{"op", "request"}}, std::chrono::seconds(10), &err);
    ASSERT_TRUE(r) << err;
    EXPECT_EQ(jit::ipc::get(*r, "op"), "relayed");
}

TEST(SocketServer, RefusesToReplaceANonSocket) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    { std::ofstream(opt.path) << "precious"; }
    sd_event* ev = nullptr;
    sd_event_new(&ev);
    {
        SocketServer s(ev, opt, [](const jit::ipc::Message&, const Peer&, std::function<void(jit::ipc::Message)>) {});
        auto st = s.listen();
        ASSERT_FALSE(st.ok());
        EXPECT_NE(st.error().message.find("not a socket"), std::string::npos);
    }
    sd_event_unref(ev);
}

// A live socket (another daemon listening) is never taken over; a stale one
// (nobody listening) is replaced.
TEST(SocketServer, RefusesALiveSocketAndReplacesAStaleOne) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    {
        ServerThread first(opt);
        ASSERT_TRUE(first.ok());
        sd_event* ev = nullptr;
        sd_event_new(&ev);
        {
            SocketServer second(ev, opt, echo_handler(ev));
            auto st = second.listen();
            ASSERT_FALSE(st.ok());
            EXPECT_NE(st.error().message.find(opt.path + " is in use: another jit-helperd"), std::string::npos)
                << st.error().message;
        }
        sd_event_unref(ev);
        std::string err;
        auto r = jit::ipc::call(opt.path, {{"op", "still_there"}}, std::chrono::seconds(10), &err);
        ASSERT_TRUE(r) << err;
        EXPECT_EQ(jit::ipc::get(*r, "op"), "still_there");
    }  // the first server is gone; its socket file may remain
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", opt.path.c_str());
    unlink(opt.path.c_str());
    ASSERT_EQ(bind(stale, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    close(stale);  // a socket file nobody listens on
    ServerThread third(opt);
    ASSERT_TRUE(third.ok());
    std::string err;
    auto r = jit::ipc::call(opt.path, {{"op", "third"}}, std::chrono::seconds(10), &err);
    ASSERT_TRUE(r) << err;
    EXPECT_EQ(jit::ipc::get(*r, "op"), "third");
}

namespace {
// What systemd does for a socket unit: a listening socket bound to `path`,
// handed to this process as fd 3 with LISTEN_PID/LISTEN_FDS. The fd that was
// at 3 (if any) is put back at the end.
class PassedSocket {
public:
    explicit PassedSocket(const std::string& path) {
        saved_ = fcntl(3, F_DUPFD_CLOEXEC, 10);
        // systemd's own copy stays open (fd_) whatever the daemon does with fd 3.
        // (above 10, so that it is not fd 3 itself)
        const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        fd_ = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 10) : -1;
        if (fd >= 0) close(fd);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
        ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 16) == 0 &&
              dup2(fd_, 3) == 3;
        setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
        setenv("LISTEN_FDS", "1", 1);
    }
    ~PassedSocket() {
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        // fd 3 is closed only if it is still the passed socket (the daemon
        // closes it when it goes, and the number may be reused since).
        struct stat ours{}, three{};
        const bool still_ours = fd_ >= 0 && fstat(fd_, &ours) == 0 && fstat(3, &three) == 0 && ours.st_ino == three.st_ino &&
                                ours.st_dev == three.st_dev;
        if (fd_ >= 0) close(fd_);
        if (saved_ >= 0) {
            dup2(saved_, 3);
            close(saved_);
        } else if (still_ours) {
            close(3);
        }
    }
    bool ok() const { return ok_; }

private:
    int saved_ = -1;
    int fd_ = -1;
    bool ok_ = false;
};
}  // namespace

// Socket activation (jit-helperd.socket): the daemon takes the socket systemd
// holds instead of binding one, so a client that connected while no daemon
// ran (a restart) is answered by the next one, and the socket file, which is
// systemd's, stays when the daemon goes.
TEST(SocketServer, TakesThePassedSocketAndAnswersWhoConnectedBeforeIt) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    opt.mode = 0660;
    PassedSocket passed(opt.path);
    ASSERT_TRUE(passed.ok());
    // Connected and asked while nothing serves the socket: waits in the backlog.
    std::optional<jit::ipc::Message> early;
    std::string early_err;
    std::thread client([&] { early = jit::ipc::call(opt.path, {{"op", "during_restart"}}, std::chrono::seconds(20), &early_err); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    {
        ServerThread server(opt);
        client.join();
        ASSERT_TRUE(server.ok()) << "the server did not take the socket systemd passed";
        ASSERT_TRUE(early) << early_err;
        EXPECT_EQ(jit::ipc::get(*early, "op"), "during_restart");
        EXPECT_EQ(getenv("LISTEN_FDS"), nullptr) << "the next child must not think it was passed the socket";
        struct stat st{};
        ASSERT_EQ(stat(opt.path.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0660u) << "socket.mode applies to the passed socket too";
    }
    struct stat st{};
    EXPECT_EQ(stat(opt.path.c_str(), &st), 0) << "the daemon removed systemd's socket file";
    int still = raw_connect(opt.path);
    EXPECT_GE(still, 0) << "systemd's socket no longer listens after the daemon went";
    if (still >= 0) close(still);
}

// A socket unit whose ListenStream= is not helperd.conf's socket.path: the
// daemon refuses to start, naming both, rather than serve where nobody asks.
TEST(SocketServer, RefusesAPassedSocketOnAnotherPath) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    PassedSocket passed(dir.path() + "/other.sock");
    ASSERT_TRUE(passed.ok());
    sd_event* ev = nullptr;
    sd_event_new(&ev);
    {
        SocketServer s(ev, opt, echo_handler(ev));
        auto st = s.listen();
        ASSERT_FALSE(st.ok());
        EXPECT_NE(st.error().message.find("ListenStream= and helperd.conf socket.path must be the same"), std::string::npos)
            << st.error().message;
    }
    sd_event_unref(ev);
}

// An exception in a timer callback is caught where sd-event calls into C++:
// one security.alert (callback_failed) names it, and the loop runs on.
TEST(Boundary, ThrowingTimerCallbacksAreReportedAndTheLoopGoesOn) {
    sd_event* ev = nullptr;
    ASSERT_GE(sd_event_new(&ev), 0);
    jit::audit::RecordingSink sink;
    set_boundary_sink(&sink);
    int ran_after = 0;
    {
        SdLoop loop(ev);
        loop.call_after(std::chrono::milliseconds(0), [] { throw std::runtime_error("planted failure"); });
        loop.call_after(std::chrono::milliseconds(0), [] { throw 42; });  // not a std::exception
        loop.call_after(std::chrono::milliseconds(5), [&] {
            ++ran_after;
            sd_event_exit(ev, 0);
        });
        EXPECT_EQ(sd_event_loop(ev), 0);
    }
    set_boundary_sink(nullptr);
    sd_event_unref(ev);
    EXPECT_EQ(ran_after, 1);
    // Both threw; alerts for one callback are limited to one per 10 s.
    ASSERT_EQ(sink.count(jit::audit::EventType::SecurityAlert), 1u);
    const auto* alert = sink.last(jit::audit::EventType::SecurityAlert);
    EXPECT_EQ(alert->field("JIT_ALERT"), "callback_failed");
    EXPECT_EQ(alert->field("JIT_ERROR"), "planted failure");
    EXPECT_EQ(alert->field("JIT_REASON"), "callback timer");
}

// A handler that throws does not take the socket down: its client gets an
// "internal" answer, the next client is served.
TEST(Boundary, ThrowingSocketHandlerLeavesTheServerServing) {
    jit::test::TempDir dir;
    auto opt = options(dir.path());
    jit::audit::RecordingSink sink;
    set_boundary_sink(&sink);
    {
        ServerThread server(opt, [](sd_event*) -> SocketServer::Handler {
            return [](const jit::ipc::Message& m, const Peer&, std::function<void(jit::ipc::Message)> reply) {
                if (jit::ipc::get(m, "op") == "boom") throw std::logic_error("handler bug");
                reply({{"status", "ok"}, {"op", jit::ipc::get(m, "op")}});
            };
        });
        ASSERT_TRUE(server.ok());
        std::string err;
        auto boom = jit::ipc::call(opt.path, {{"op", "boom"}}, std::chrono::seconds(10), &err);
        ASSERT_TRUE(boom) << err;
        EXPECT_EQ(jit::ipc::get(*boom, "error"), "internal");
        auto r = jit::ipc::call(opt.path, {{"op", "after"}}, std::chrono::seconds(10), &err);
        ASSERT_TRUE(r) << err;
        EXPECT_EQ(jit::ipc::get(*r, "op"), "after");
    }
    set_boundary_sink(nullptr);
    ASSERT_EQ(sink.count(jit::audit::EventType::SecurityAlert), 1u);
    EXPECT_EQ(sink.last(jit::audit::EventType::SecurityAlert)->field("JIT_ERROR"), "handler bug");
    EXPECT_EQ(sink.last(jit::audit::EventType::SecurityAlert)->field("JIT_REASON"), "callback socket handler");
}

namespace {

// Runs `body` in a forked child as uid:gid `uid` and returns what it returned.
std::string run_as(uid_t uid, const std::function<std::string()>& body) {
    int res[2];
    if (pipe2(res, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    const pid_t pid = fork();
    if (pid == 0) {
        close(res[0]);
        if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(2);
        const std::string out = body();
        (void)!write(res[1], out.data(), out.size());
        _exit(0);
    }
    close(res[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(res[0], buf, sizeof buf)) > 0) out.append(buf, std::size_t(n));
    close(res[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return out;
}

// jit-helperd's Daemon behind the real socket server on the thread's loop,
// with a stored bundle (alice and carol hold grants) and no authority.
struct DaemonOnLoop {
    DaemonOnLoop(sd_event* ev, jit::helperd::Config config, jit::TrustedKeys keys, jit::audit::Sink& sink)
        : loop(ev), daemon(std::move(config), std::move(keys), Daemon::Deps{loop, authority, sink, lookups}) {
        daemon.set_session_table(sessions);
    }
    SdLoop loop;
    jit::test::FakeTransport transport;
    AuthorityClient authority{transport};
    jit::test::FakeAccounts accounts;
    jit::test::MemorySessions sessions;
    jit::helperd::InlineLookups lookups{accounts};
    Daemon daemon;
};

}  // namespace

// Nothing a local user says is a fact (issue 12): an unprivileged peer's
// forged checks write no audit record, its status shows no other user's
// sessions, and another user's request id is refused. Over the real socket,
// from a process that really runs as carol (uid 70005).
TEST(ForgedPeer, UnprivilegedPeerCannotWriteTheTrailOrSeeOthers) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (connects as another uid)";
    jit::test::TempDir dir;
    ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
    jit::test::Signer signer;
    auto config = jit::test::daemon_config(dir.path());
    config.socket.path = dir.path() + "/helperd.sock";
    const jit::UnixTime now = time(nullptr);
    ASSERT_TRUE(StateStore(config.state_dir).prepare().ok());
    ASSERT_TRUE(StateStore(config.state_dir)
                    .save(StoredState{1, now,
                                      signer.envelope(jit::test::payload_json(
                                          "web-01", 1, now, now + 900,
                                          {jit::test::TestGrant{"g-1", "alice", true, false, now - 60, now + 3600},
                                           jit::test::TestGrant{"g-2", "carol", true, true, now - 60, now + 3600}}))})
                    .ok());
    // alice (uid 1000) relayed request r-alice.
    ASSERT_TRUE(jit::durable::write_file_durably(config.state_dir + "/requests", "jit-requests 1\nr-alice\t1000\t1\n").ok());
    jit::audit::RecordingSink sink;
    SocketServerOptions opt = options(dir.path());
    std::string forged_status, forged_request_status, forged_check;
    {
        ServerThread server(opt, [&](sd_event* ev) -> SocketServer::Handler {
            auto d = std::make_shared<DaemonOnLoop>(ev, config, signer.keys(), sink);
            jit::test::add_daemon_accounts(d->accounts);
            if (!d->daemon.start().ok()) throw std::runtime_error("daemon did not start");
            return [d](const jit::ipc::Message& m, const Peer& p, std::function<void(jit::ipc::Message)> reply) {
                d->daemon.handle(m, p, std::move(reply));
            };
        });
        ASSERT_TRUE(server.ok());
        std::string err;
        auto opened = jit::ipc::call(opt.path, {{"op", "session_open"}, {"user", "alice"}, {"service", "sshd"},
                                                 {"rhost", "alice-laptop"}, {"pid", "5000"}},
                                     std::chrono::seconds(10), &err);
        ASSERT_TRUE(opened) << err;
        ASSERT_EQ(jit::ipc::get(*opened, "decision"), "allow");
        const std::string answers = run_as(70005, [&] {
            std::string out;
            for (int i = 0; i < 200; ++i) {
                std::string e;
                auto r = jit::ipc::call(opt.path,
                                        {{"op", "check"}, {"user", "carol"}, {"service", i % 2 ? "sshd" : "sudo"},
                                         {"rhost", "forged.example"}, {"tty", "pts/7"}, {"command", "/bin/sh"}},
                                        std::chrono::seconds(10), &e);
                if (!r || jit::ipc::get(*r, "decision") != "allow") return "check " + std::to_string(i) + " failed: " + e;
            }
            std::string e;
            auto st = jit::ipc::call(opt.path, {{"op", "status"}}, std::chrono::seconds(10), &e);
            auto rs = jit::ipc::call(opt.path, {{"op", "request_status"}, {"id", "r-alice"}}, std::chrono::seconds(10), &e);
            return std::string("checks ok\x1f") + (st ? jit::ipc::get(*st, "json") : "no answer: " + e) + "\x1f" +
                   (rs ? jit::ipc::get(*rs, "error") : "no answer: " + e);
        });
        const auto a = answers.find('\x1f'), b = answers.rfind('\x1f');
        ASSERT_NE(a, b) << answers;
        forged_check = answers.substr(0, a);
        forged_status = answers.substr(a + 1, b - a - 1);
        forged_request_status = answers.substr(b + 1);
        // The same question from root is the trail.
        ASSERT_TRUE(jit::ipc::call(opt.path, {{"op", "check"}, {"user", "carol"}, {"service", "sshd"}},
                                   std::chrono::seconds(10), &err));
    }
    EXPECT_EQ(forged_check, "checks ok");
    std::size_t decisions = 0;
    for (const auto& e : sink.events)
        if (e.type == jit::audit::EventType::LoginAllowed || e.type == jit::audit::EventType::SudoAllowed ||
            e.type == jit::audit::EventType::LoginDenied || e.type == jit::audit::EventType::SudoDenied)
            ++decisions;
    ASSERT_EQ(decisions, 1u);  // root's check only
    ASSERT_NE(sink.last(jit::audit::EventType::LoginAllowed), nullptr);
    EXPECT_EQ(sink.last(jit::audit::EventType::LoginAllowed)->field("JIT_SERVICE"), "sshd");
    Json::Value st;
    ASSERT_TRUE(Json::Reader().parse(forged_status, st)) << forged_status;
    EXPECT_EQ(st["sessions"].asUInt64(), 0u);
    EXPECT_EQ(forged_status.find("alice"), std::string::npos) << forged_status;
    EXPECT_EQ(forged_request_status, "forbidden");
}
