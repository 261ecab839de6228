#include <jit/ipc.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <vector>
#include <unistd.h>

using jit::ipc::FrameReader;
using jit::ipc::Message;

namespace {

Message roundtrip(const Message& m) {
    std::string frame = jit::ipc::encode(m);
    EXPECT_FALSE(frame.empty());
    FrameReader r;
    EXPECT_EQ(r.feed(frame), FrameReader::State::Complete);
    std::string err;
    auto out = jit::ipc::decode_body(r.body(), &err);
    EXPECT_TRUE(out) << err;
    return out ? *out : Message{};
}

}  // namespace

TEST(Ipc, RoundTripsValuesWithNewlinesAndBackslashes) {
    Message m{{"op", "check"}, {"user", "alice"}, {"message", "line1\nline2 \\ end"}, {"empty", ""}};
    EXPECT_EQ(roundtrip(m), m);
}

TEST(Ipc, RejectsInvalidKeysWhenEncoding) {
    EXPECT_EQ(jit::ipc::encode({{"Op", "x"}}), "");
    EXPECT_EQ(jit::ipc::encode({{"", "x"}}), "");
    EXPECT_EQ(jit::ipc::encode({{"a=b", "x"}}), "");
}

TEST(Ipc, RejectsOversizedBody) {
    EXPECT_EQ(jit::ipc::encode({{"big", std::string(jit::ipc::kMaxBody + 1, 'x')}}), "");
    FrameReader r;
    EXPECT_EQ(r.feed("JIT1 999999999\n"), FrameReader::State::Invalid);
    EXPECT_NE(r.error().find("larger than"), std::string::npos);
}

TEST(Ipc, FrameReaderAcceptsByteByByte) {
    std::string frame = jit::ipc::encode({{"op", "status"}});
    FrameReader r;
    for (std::size_t i = 0; i + 1 < frame.size(); ++i)
        ASSERT_EQ(r.feed(frame.substr(i, 1)), FrameReader::State::NeedMore);
    EXPECT_EQ(r.feed(frame.substr(frame.size() - 1)), FrameReader::State::Complete);
}

TEST(Ipc, FrameReaderRejectsGarbage) {
    for (const std::string& bad : std::vector<std::string>{"HTTP/1.1 200\n", "JIT1 12x\n", "JIT1\n", "JIT2 3\n", std::string(40, 'A')}) {
        FrameReader r;
        EXPECT_EQ(r.feed(bad), FrameReader::State::Invalid) << bad;
    }
    FrameReader r;
    EXPECT_EQ(r.feed("JIT1 2\nok\nextra"), FrameReader::State::Invalid);
}

TEST(Ipc, DecodeNamesTheBadLine) {
    std::string err;
    EXPECT_FALSE(jit::ipc::decode_body("op=check\nnoequals\n", &err));
    EXPECT_NE(err.find("line 2"), std::string::npos);
    EXPECT_FALSE(jit::ipc::decode_body("a=1\na=2\n", &err));
    EXPECT_NE(err.find("duplicate"), std::string::npos);
    EXPECT_FALSE(jit::ipc::decode_body("a=bad\\escape\n", &err));
    EXPECT_FALSE(jit::ipc::decode_body("a=1", &err));
}

TEST(Ipc, CallReportsMissingDaemon) {
    std::string err;
    auto r = jit::ipc::call("/nonexistent/jit.sock", {{"op", "status"}}, std::chrono::milliseconds(100), &err);
    EXPECT_FALSE(r);
    EXPECT_NE(err.find("/nonexistent/jit.sock"), std::string::npos);
}

namespace {

// A listening unix socket in a fresh temp dir, removed at the end.
struct Listener {
    char dir[32] = "/tmp/jit-ipc-XXXXXX";
    std::string path;
    int fd = -1;
    Listener() {
        if (!mkdtemp(dir)) return;
        path = std::string(dir) + "/s";
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
        if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 4) != 0) {
            close(fd);
            fd = -1;
        }
    }
    ~Listener() {
        if (fd >= 0) close(fd);
        unlink(path.c_str());
        rmdir(dir);
    }
    // Accepts one connection, reads the request, waits `delay`, then answers
    // with echo=<the request's user> in the given number of writes.
    std::thread answer_once(std::chrono::milliseconds delay = std::chrono::milliseconds(0), int pieces = 1) const {
        return std::thread([srv = fd, delay, pieces] {
            int c = accept(srv, nullptr, nullptr);
            FrameReader r;
            char buf[256];
            while (r.feed(std::string_view(buf, std::size_t(read(c, buf, sizeof buf)))) == FrameReader::State::NeedMore) {}
            auto req = jit::ipc::decode_body(r.body(), nullptr);
            std::string out = jit::ipc::encode({{"status", "ok"}, {"echo", req ? jit::ipc::get(*req, "user") : "?"}});
            std::this_thread::sleep_for(delay);
            const std::size_t step = out.size() / std::size_t(pieces) + 1;
            for (std::size_t off = 0; off < out.size(); off += step) {
                ssize_t n = write(c, out.data() + off, std::min(step, out.size() - off));
                (void)n;
                std::this_thread::sleep_for(delay);
            }
            close(c);
        });
    }
};

}  // namespace

TEST(Ipc, CallTimesOutOnSilentServer) {
    Listener l;
    ASSERT_GE(l.fd, 0);
    std::string err;
    auto r = jit::ipc::call(l.path, {{"op", "status"}}, std::chrono::milliseconds(150), &err);
    EXPECT_FALSE(r);
    EXPECT_NE(err.find("no answer within 150 ms"), std::string::npos) << err;
}

// Issue 18 (bench/load): a burst of clients fills the daemon's listen
// backlog; connect() then fails with EAGAIN and, on a unix socket, nothing is
// under way. The call connects again until its deadline instead of reporting
// the daemon unreachable.
TEST(Ipc, CallConnectsAgainWhenTheListenQueueIsFull) {
    Listener l;
    ASSERT_GE(l.fd, 0);
    std::vector<int> fillers;
    for (int i = 0; i < 64; ++i) {
        int f = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", l.path.c_str());
        if (connect(f, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
            ASSERT_EQ(errno, EAGAIN);
            close(f);
            break;
        }
        fillers.push_back(f);
    }
    ASSERT_FALSE(fillers.empty());
    ASSERT_LT(fillers.size(), 64u) << "the listen queue never filled";
    // The server wakes up 100 ms later, drops the queued connections, answers the next.
    std::thread server([&l, n = fillers.size()] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        for (std::size_t i = 0; i < n; ++i) close(accept(l.fd, nullptr, nullptr));
        l.answer_once().join();
    });
    std::string err;
    auto r = jit::ipc::call(l.path, {{"op", "check"}, {"user", "alice"}}, std::chrono::milliseconds(3000), &err);
    int unblock = -1;
    if (!r) {  // the call never got through: let the server's last accept() return
        unblock = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", l.path.c_str());
        (void)connect(unblock, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        const std::string frame = jit::ipc::encode({{"op", "unblock"}});
        (void)!write(unblock, frame.data(), frame.size());
    }
    server.join();
    if (unblock >= 0) close(unblock);
    for (int f : fillers) close(f);
    ASSERT_TRUE(r) << err;
    EXPECT_EQ(jit::ipc::get(*r, "echo"), "alice");
}

// An answer at once, a late one, and one in pieces.
TEST(Ipc, CallGetsAnAnswer) {
    Listener l;
    ASSERT_GE(l.fd, 0);
    struct Case {
        int delay_ms, pieces;
    };
    for (Case c : {Case{0, 1}, Case{20, 1}, Case{20, 3}}) {
        std::thread server = l.answer_once(std::chrono::milliseconds(c.delay_ms), c.pieces);
        std::string err;
        auto r = jit::ipc::call(l.path, {{"op", "check"}, {"user", "alice"}}, std::chrono::milliseconds(2000), &err);
        server.join();
        ASSERT_TRUE(r) << c.delay_ms << "/" << c.pieces << ": " << err;
        EXPECT_EQ(jit::ipc::get(*r, "echo"), "alice");
    }
}
