// Warning a session's terminals that access is about to end.
#pragma once

#include <jit/enforce/procfs.hpp>
#include <jit/enforce/session.hpp>
#include <jit/result.hpp>

#include <optional>
#include <string>
#include <vector>

namespace jit::enforce {

struct WarnOutcome {
    std::vector<std::string> written;  // terminals that got the line
    std::vector<std::string> failed;   // "path: why" for each terminal that did not
};

class Warner {
public:
    virtual ~Warner() = default;
    // Writes `line` (no newline) once to each terminal of the session. A
    // session without a terminal gets nothing (the audit event still records
    // the warning).
    virtual WarnOutcome warn(const Session& s, const std::string& line) = 0;
    // One evaluation's warnings come between begin_batch() and end_batch():
    // work they share may be done once (TtyWarner reads /proc once for all
    // the sessions without a PAM tty; 1,000 sessions warned at once were
    // 1,000 reads of /proc on the loop, and the watchdog killed the daemon).
    virtual void begin_batch() {}
    virtual void end_batch() {}
};

// "/dev/pts/N" or "/dev/ttyN" for PAM_TTY values "pts/N", "/dev/pts/N",
// "ttyN", "/dev/ttyN"; "" for anything else ("ssh", "", ":0", paths elsewhere).
// begin_batch() now, end_batch() when it goes out of scope (also on a throw).
class WarnBatch {
public:
    explicit WarnBatch(Warner& w) : w_(w) { w_.begin_batch(); }
    ~WarnBatch() { w_.end_batch(); }
    WarnBatch(const WarnBatch&) = delete;
    WarnBatch& operator=(const WarnBatch&) = delete;

private:
    Warner& w_;
};

std::string terminal_path(const std::string& pam_tty);

// Writes to a terminal without ever blocking or following a link:
// open(O_WRONLY|O_NOCTTY|O_NONBLOCK|O_NOFOLLOW), then fstat must show a
// character device of a terminal major (pts 136-143, tty 4) owned by `uid`;
// one write(2); a full buffer (EAGAIN) or a short write is an error, never retried.
// Error code "enforce.tty" (names the path and why).
Status write_terminal_line(const std::string& path, uid_t uid, const std::string& line);

// The terminals: the session's PAM_TTY when it names one, else the
// controlling terminals of the session's processes (/proc).
class TtyWarner final : public Warner {
public:
    explicit TtyWarner(std::string proc_root = "/proc") : proc_root_(std::move(proc_root)) {}
    WarnOutcome warn(const Session& s, const std::string& line) override;
    void begin_batch() override;
    void end_batch() override;

private:
    const ProcTable& table();  // read once per batch (every call outside one)
    std::string proc_root_;
    bool batch_ = false;
    std::optional<ProcTable> table_;
};

}  // namespace jit::enforce
