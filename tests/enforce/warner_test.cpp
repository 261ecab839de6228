// TTY warnings against real ptys: delivered once, never blocking on a stuck
// terminal, never written to something that is not the user's terminal.
#include "helpers.hpp"

#include <jit/enforce/enforcer.hpp>
#include <jit/enforce/warner.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <fstream>
#include <map>
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

// One evaluation's warnings read /proc once (begin_batch .. end_batch): with
// 1,000 sessions without a PAM tty, 1,000 reads of /proc held the loop past
// the watchdog (nspawn.host.many_sessions at 1,000). A fake /proc with the
// session's leader on a real pty: inside a batch the second warning still
// finds the terminal after the process left the fake /proc (the table read
// for the first serves it); outside a batch each warning reads anew.
TEST(TtyWarner, ABatchOfWarningsReadsProcOnce) {
    Pty pty;
    ASSERT_FALSE(pty.path.empty());
    struct stat st {};
    ASSERT_EQ(::stat(pty.path.c_str(), &st), 0);
    const unsigned maj = major(st.st_rdev), min = minor(st.st_rdev);
    const unsigned tty_nr = ((maj & 0xfff) << 8) | (min & 0xff) | ((min & 0xfff00) << 12);
    test::TempDir proc;
    const std::string pid_dir = proc.path() + "/4242";
    auto plant = [&] {
        ::mkdir(pid_dir.c_str(), 0755);
        std::ofstream(pid_dir + "/stat") << "4242 (bash) S 1 4242 4242 " << tty_nr
                                         << " 4242 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n";
        const unsigned uid = ::getuid();
        std::ofstream(pid_dir + "/status") << "Name:\tbash\nUid:\t" << uid << "\t" << uid << "\t" << uid << "\t" << uid
                                           << "\nGid:\t0\t0\t0\t0\n";
    };
    auto remove = [&] {
        ::unlink((pid_dir + "/stat").c_str());
        ::unlink((pid_dir + "/status").c_str());
        ::rmdir(pid_dir.c_str());
    };
    Session s = session_on("ssh");  // no terminal name from PAM: found through /proc
    s.pid = 4242;
    s.pid_start = 777;  // the fake stat's starttime
    TtyWarner w(proc.path());

    plant();
    w.begin_batch();
    EXPECT_EQ(w.warn(s, "one").written, std::vector<std::string>{pty.path});
    remove();
    EXPECT_EQ(w.warn(s, "two").written, std::vector<std::string>{pty.path});  // the batch's reading
    w.end_batch();
    EXPECT_TRUE(w.warn(s, "three").written.empty());  // read anew: the process is gone
    plant();
    EXPECT_EQ(w.warn(s, "four").written, std::vector<std::string>{pty.path});
    remove();
    EXPECT_TRUE(w.warn(s, "five").written.empty());
}

// docs/audit.md: session.warned's JIT_TERMINALS lists the terminals the
// warning was written to ("none" when none), through the Enforcer with the
// real TtyWarner on real ptys.
class StillClock final : public Clock {
public:
    UnixTime wall = test::T0;
    UnixTime now() override { return wall; }
    std::int64_t monotonic_ms() override { return 1'000'000 + (wall - test::T0) * 1000; }
};

class NoTerminator final : public Terminator {
public:
    const char* name() const override { return "fallback"; }
    void terminate(const Session&, const std::vector<Session>&, Done done) override { done(std::string("none")); }
    void alive(const Session&, const std::vector<Session>&, bool, AliveDone done) override { done(false); }
    void kill(const Session&, const std::vector<Session>&, Done done) override { done(std::string("none")); }
};

TEST(TtyWarnerAudit, SessionWarnedNamesTheTerminalsWrittenTo) {
    Pty mine, other;
    ASSERT_FALSE(mine.path.empty());
    ASSERT_FALSE(other.path.empty());
    test::TempDir dir;
    StillClock clock;
    NoTerminator term;
    TtyWarner warner("/nonexistent-proc");  // no /proc: a session without a terminal name has none
    audit::RecordingSink sink;
    EnforcerOptions o;
    o.state_path = dir.path() + "/enforce.json";
    o.host_name = "web-01";
    o.warn_offsets = {600};
    Enforcer enf(o, Enforcer::Deps{clock, term, warner, sink, nullptr});
    ASSERT_TRUE(enf.start([](const std::string&) { return true; }).ok());
    GrantsUpdate u;
    u.have_bundle = true;
    u.revision = 1;
    u.grants = {test::grant("g-7f3a", "me", test::T0, test::T0 + 3600)};
    enf.update_grants(u);
    auto open = [&](const std::string& tty, std::uint32_t uid) {
        SessionOpen s;
        s.user = "me";
        s.uid = uid;
        s.service = "sshd";
        s.tty = tty;
        s.pid = ::getpid();
        return enf.session_opened(s);
    };
    open(mine.path, ::getuid());            // the user's own pty: written
    open("ssh", ::getuid());                // no terminal at all: none
    open(other.path, ::getuid() + 1);       // a pty the session's user does not own: refused
    clock.wall = test::T0 + 3000;           // 600 s before not_after
    enf.evaluate();

    std::map<std::string, const audit::Event*> by_tty;
    for (const auto& e : sink.events)
        if (e.type == audit::EventType::SessionWarned) by_tty[std::string(e.field("JIT_TTY").value_or(""))] = &e;
    ASSERT_EQ(by_tty.size(), 3u);
    const audit::Event* written = by_tty.at(mine.path);
    EXPECT_EQ(written->field("JIT_TERMINALS"), mine.path);
    EXPECT_FALSE(written->field("JIT_ERROR").has_value());
    EXPECT_EQ(written->field("JIT_SECONDS_LEFT"), "600");
    EXPECT_EQ(written->field("JIT_NOT_AFTER"), std::to_string(test::T0 + 3600));
    EXPECT_EQ(written->field("JIT_GRANT_ID"), "g-7f3a");
    const std::string got = mine.drain();
    EXPECT_NE(got.find("jitlogin: access to web-01 ends at "), std::string::npos) << got;
    EXPECT_NE(got.find("grant g-7f3a"), std::string::npos) << got;

    EXPECT_EQ(by_tty.at("ssh")->field("JIT_TERMINALS"), "none");
    EXPECT_FALSE(by_tty.at("ssh")->field("JIT_ERROR").has_value());

    const audit::Event* refused = by_tty.at(other.path);
    EXPECT_EQ(refused->field("JIT_TERMINALS"), "none");
    ASSERT_TRUE(refused->field("JIT_ERROR").has_value());
    EXPECT_NE(refused->field("JIT_ERROR")->find("owned by uid"), std::string::npos) << *refused->field("JIT_ERROR");
    EXPECT_TRUE(other.drain().empty());
}

}  // namespace
}  // namespace jit::enforce
