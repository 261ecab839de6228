// TTY warnings (docs/enforcement.md, "Warnings").
#include <jit/enforce/warner.hpp>

#include <jit/enforce/procfs.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace jit::enforce {
namespace {

bool all_digits(std::string_view s) {
    if (s.empty() || s.size() > 6) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

Error tty_error(const std::string& path, const std::string& why) { return make_error("enforce.tty", path + ": " + why); }

}  // namespace

std::string terminal_path(const std::string& pam_tty) {
    std::string_view t(pam_tty);
    if (t.rfind("/dev/", 0) == 0) t.remove_prefix(5);
    if (t.rfind("pts/", 0) == 0 && all_digits(t.substr(4))) return "/dev/" + std::string(t);
    if (t.rfind("tty", 0) == 0 && all_digits(t.substr(3))) return "/dev/" + std::string(t);
    return {};
}

Status write_terminal_line(const std::string& path, uid_t uid, const std::string& line) {
    int fd = ::open(path.c_str(), O_WRONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return tty_error(path, std::string("open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        return tty_error(path, std::string("fstat: ") + std::strerror(e));
    }
    const unsigned maj = major(st.st_rdev);
    const bool tty_major = (maj >= 136 && maj <= 143) || maj == 4;
    if (!S_ISCHR(st.st_mode) || !tty_major) {
        ::close(fd);
        return tty_error(path, "not a terminal device");
    }
    if (st.st_uid != uid) {
        ::close(fd);
        return tty_error(path, "owned by uid " + std::to_string(st.st_uid) + ", not the session's uid " +
                                   std::to_string(uid));
    }
    // \r\n on both sides: the line stands alone whatever the terminal's mode and cursor.
    const std::string text = "\r\n" + line + "\r\n";
    ssize_t n;
    do {
        n = ::write(fd, text.data(), text.size());
    } while (n < 0 && errno == EINTR);
    int e = errno;
    ::close(fd);
    if (n < 0) return tty_error(path, e == EAGAIN ? "terminal is not draining (would block)" : std::strerror(e));
    if (static_cast<std::size_t>(n) != text.size())
        return tty_error(path, "short write (" + std::to_string(n) + " of " + std::to_string(text.size()) + " bytes)");
    return Ok{};
}

WarnOutcome TtyWarner::warn(const Session& s, const std::string& line) {
    WarnOutcome out;
    std::set<std::string> terminals;
    if (auto p = terminal_path(s.tty); !p.empty()) terminals.insert(p);
    if (terminals.empty())
        for (const std::string& t : session_terminals(table(), s)) terminals.insert(t);
    for (const std::string& t : terminals) {
        auto r = write_terminal_line(t, s.uid, line);
        if (r)
            out.written.push_back(t);
        else
            out.failed.push_back(r.error().message);
    }
    if (!batch_) table_.reset();
    return out;
}

void TtyWarner::begin_batch() {
    batch_ = true;
    table_.reset();
}

void TtyWarner::end_batch() {
    batch_ = false;
    table_.reset();
}

const ProcTable& TtyWarner::table() {
    if (!table_) table_ = ProcTable::read(proc_root_);
    return *table_;
}

}  // namespace jit::enforce
