// Ending sessions: through systemd-logind over D-Bus, or, without logind, by
// signalling the session's processes (procfs.hpp). The Enforcer drives the two
// steps and the grace between them with its own timer; nothing here sleeps.
#pragma once

#include <jit/enforce/procfs.hpp>
#include <jit/enforce/session.hpp>
#include <jit/result.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

typedef struct sd_bus sd_bus;

namespace jit::enforce {

class Terminator {
public:
    virtual ~Terminator() = default;
    // "logind" or "fallback" (for logs and status).
    virtual const char* name() const = 0;
    // Step 1, polite: TerminateSession / SIGTERM. `staying` are the live sessions
    // that must not be touched. Returns the JIT_HOW value for the audit trail.
    virtual Result<std::string> terminate(const Session& s, const std::vector<Session>& staying) = 0;
    // Whether anything of the session is still running.
    virtual bool alive(const Session& s, const std::vector<Session>& staying) = 0;
    // Step 2, after the grace: KillSession(all, SIGKILL) / SIGKILL. Returns JIT_HOW.
    virtual Result<std::string> kill(const Session& s, const std::vector<Session>& staying) = 0;
};

// Sends a signal to a process only if it is still the same process (pidfd_open,
// then its start time is checked, then pidfd_send_signal): a recycled pid is
// never hit. Tests replace it to observe without killing.
class Signaller {
public:
    virtual ~Signaller() = default;
    // Error code "enforce.signal" (names the pid).
    virtual Status send(pid_t pid, std::uint64_t start, int sig) = 0;
};

class PidfdSignaller final : public Signaller {
public:
    explicit PidfdSignaller(std::string proc_root = "/proc") : proc_root_(std::move(proc_root)) {}
    Status send(pid_t pid, std::uint64_t start, int sig) override;

private:
    std::string proc_root_;
};

// Without logind: discover_session_processes() at each step, SIGTERM then
// SIGKILL. Never signals the daemon, its ancestors, PID 1, processes of other
// users (the registered leader excepted), or processes of staying sessions.
class FallbackTerminator final : public Terminator {
public:
    FallbackTerminator(Signaller& signaller, DiscoveryOptions opts = {}, std::string proc_root = "/proc");
    const char* name() const override { return "fallback"; }
    Result<std::string> terminate(const Session& s, const std::vector<Session>& staying) override;
    bool alive(const Session& s, const std::vector<Session>& staying) override;
    Result<std::string> kill(const Session& s, const std::vector<Session>& staying) override;

    // The processes the last terminate()/kill() signalled (tests, logs).
    const std::vector<FoundProcess>& last_signalled() const { return last_; }

private:
    Result<std::string> signal_all(const Session& s, const std::vector<Session>& staying, int sig);
    std::vector<FoundProcess> find(const Session& s, const std::vector<Session>& staying);

    Signaller& signaller_;
    DiscoveryOptions opts_;
    std::string proc_root_;
    std::vector<FoundProcess> last_;
    // Processes signalled in step 1, per session key: step 2 also hits those
    // still alive even if they left the session's tree meanwhile.
    std::map<std::string, std::vector<FoundProcess>> signalled_;
};

// With logind: org.freedesktop.login1.Manager.TerminateSession(s) and
// KillSession(s, "all", SIGKILL); GetSession(s) to test liveness. Sessions
// without a logind id go to `fallback`. Each call has a bounded timeout.
class LogindTerminator final : public Terminator {
public:
    // Takes a reference on `bus` (the system bus).
    LogindTerminator(sd_bus* bus, Terminator& fallback, std::uint64_t call_timeout_usec = 2'000'000);
    ~LogindTerminator() override;
    const char* name() const override { return "logind"; }
    Result<std::string> terminate(const Session& s, const std::vector<Session>& staying) override;
    bool alive(const Session& s, const std::vector<Session>& staying) override;
    Result<std::string> kill(const Session& s, const std::vector<Session>& staying) override;

private:
    sd_bus* bus_;
    Terminator& fallback_;
    std::uint64_t timeout_;
};

// Whether logind can be used: the system bus is connected and the name
// org.freedesktop.login1 has an owner, or the host was booted with systemd
// (sd_booted) and /run/systemd/seats exists (logind is bus-activated).
bool logind_available(sd_bus* bus, const std::string& seats_dir = "/run/systemd/seats");

// A live logind session (ListSessions + properties).
struct LogindSession {
    std::string id;
    std::uint32_t uid = 0;
    std::string user;
    std::uint32_t leader = 0;
    std::string tty;
    std::string remote_host;
    std::string service;
    std::uint64_t timestamp_usec = 0;  // realtime
};
// Error code "enforce.logind".
Result<std::vector<LogindSession>> logind_list_sessions(sd_bus* bus, std::uint64_t timeout_usec = 2'000'000);

}  // namespace jit::enforce
