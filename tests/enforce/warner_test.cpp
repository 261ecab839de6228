// TTY warnings against real ptys: delivered once, never blocking on a stuck
// terminal, never written to something that is not the user's terminal.
#include "helpers.hpp"

#include <jit/enforce/warner.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <fstream>
#include <thread>

namespace jit::enforce {
namespace {

struct Pty {
    int master = -1, slave = -1;
    std::string path;
    Pty() {
        char name[256] = {};
        if (::openpty(&master, &slave, name, nullptr, nullptr) == 0) path = name;
    }
    ~Pty() {
        if (master >= 0) ::close(master);
        if (slave >= 0) ::close(slave);
    }
    std::string drain() {
        std::string out;
        char buf[4096];
        ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
        for (;;) {
            pollfd p{master, POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0) break;
            ssize_t n = ::read(master, buf, sizeof buf);
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
        return out;
    }
};

Session session_on(const std::string& tty) {
    Session s;
    s.key = "k";
    s.user = "me";
    s.uid = ::getuid();
    s.tty = tty;
    return s;
}

TEST(TerminalPath, AcceptsOnlyTerminalNames) {
    EXPECT_EQ(terminal_path("pts/3"), "/dev/pts/3");
    EXPECT_EQ(terminal_path("/dev/pts/12"), "/dev/pts/12");
    EXPECT_EQ(terminal_path("tty2"), "/dev/tty2");
    EXPECT_EQ(terminal_path("ssh"), "");
    EXPECT_EQ(terminal_path(""), "");
    EXPECT_EQ(terminal_path("pts/../../etc/passwd"), "");
    EXPECT_EQ(terminal_path("/tmp/pts/1"), "");
    EXPECT_EQ(terminal_path(":0"), "");
    EXPECT_EQ(terminal_path("pts/"), "");
}

TEST(TtyWarner, WritesTheLineOnceToTheSessionsPty) {
    Pty pty;
    ASSERT_FALSE(pty.path.empty());
    TtyWarner w;
    auto out = w.warn(session_on(pty.path), "jitlogin: access to web-01 ends at 15:30 (in 10 min), grant g-7f3a");
    ASSERT_EQ(out.written, std::vector<std::string>{pty.path});
    EXPECT_TRUE(out.failed.empty());
    const std::string got = pty.drain();
    EXPECT_NE(got.find("jitlogin: access to web-01 ends at 15:30 (in 10 min), grant g-7f3a"), std::string::npos) << got;
    EXPECT_EQ(got.find("jitlogin", got.find("jitlogin") + 1), std::string::npos);  // once
}

TEST(TtyWarner, StuckTerminalDoesNotBlock) {
    Pty pty;
    ASSERT_FALSE(pty.path.empty());
    // Nobody reads the master: fill the pty until the kernel refuses more.
    int fd = ::open(pty.path.c_str(), O_WRONLY | O_NOCTTY | O_NONBLOCK);
    ASSERT_GE(fd, 0);
    // The kernel moves data from the slave's buffer to the master's in the
    // background, so a first EAGAIN can be followed by a little room: fill
    // until the pty stays full (setup only; nothing here is a timed assertion).
    std::string chunk(4096, 'x');
    for (int settle = 0; settle < 200; ++settle) {
        for (int rounds = 0; rounds < 100000; ++rounds) {
            ssize_t n = ::write(fd, chunk.data(), rounds == 0 ? 1 : chunk.size());
            if (n < 0 && errno == EAGAIN) break;
            ASSERT_GE(n, 0) << std::strerror(errno);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (::write(fd, "x", 1) < 0 && errno == EAGAIN) break;
    }
    ::close(fd);
    TtyWarner w;
    auto out = w.warn(session_on(pty.path), "jitlogin: access ends soon");  // must return, not hang
    EXPECT_TRUE(out.written.empty());
    ASSERT_EQ(out.failed.size(), 1u);
    EXPECT_NE(out.failed[0].find("would block"), std::string::npos) << out.failed[0];
}

TEST(TtyWarner, RefusesATerminalOfAnotherUser) {
    Pty pty;
    ASSERT_FALSE(pty.path.empty());
    Session s = session_on(pty.path);
    s.uid = ::getuid() + 1;
    auto r = write_terminal_line(pty.path, s.uid, "x");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "enforce.tty");
    EXPECT_NE(r.error().message.find("owned by uid"), std::string::npos);
    EXPECT_TRUE(pty.drain().empty());
}

TEST(TtyWarner, RefusesLinksAndFiles) {
    test::TempDir dir;
    const std::string file = dir.path() + "/file";
    std::ofstream(file) << "";
    auto r = write_terminal_line(file, ::getuid(), "x");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not a terminal"), std::string::npos);
    Pty pty;
    const std::string link = dir.path() + "/link";
    ASSERT_EQ(::symlink(pty.path.c_str(), link.c_str()), 0);
    EXPECT_FALSE(write_terminal_line(link, ::getuid(), "x").ok());
    EXPECT_TRUE(pty.drain().empty());
}

TEST(TtyWarner, SessionWithoutTerminalGetsNothing) {
    TtyWarner w("/nonexistent-proc");
    Session s = session_on("ssh");
    s.pid = ::getpid();
    auto out = w.warn(s, "x");
    EXPECT_TRUE(out.written.empty());
    EXPECT_TRUE(out.failed.empty());
}

}  // namespace
}  // namespace jit::enforce
