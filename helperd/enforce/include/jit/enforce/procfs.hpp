// A reading of /proc (ProcTable) and the fallback discovery of a session's
// processes (used where systemd-logind is not running). The exact rules and their
// limits are in docs/enforcement.md, "Ending sessions without logind".
#pragma once

#include <jit/enforce/session.hpp>

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace jit::enforce {

struct ProcInfo {
    pid_t pid = 0;
    pid_t ppid = 0;
    pid_t pgid = 0;
    pid_t sid = 0;
    int tty_nr = 0;            // field 7: controlling terminal (0: none)
    std::uint64_t start = 0;   // field 22
    // Real, effective, saved and filesystem uid (/proc/PID/status "Uid:").
    uid_t ruid = 0, euid = 0, suid = 0, fsuid = 0;
    bool kernel_thread = false;
    char state = '?';          // field 3: 'Z' zombie (already dead, nothing to signal)
    // A process belongs to uid U when all four uids are U (a setuid program the
    // user started, e.g. sudo, is not the user's).
    bool owned_by(uid_t u) const { return ruid == u && euid == u && suid == u && fsuid == u; }
};

// Parses the text of /proc/PID/stat (comm may hold spaces and ')').
std::optional<ProcInfo> parse_proc_stat(std::string_view text);

class ProcTable {
public:
    // Reads every numeric entry of `proc_root` (processes that vanish meanwhile are skipped).
    static ProcTable read(const std::string& proc_root = "/proc");
    // For tests: a table built from given entries.
    static ProcTable from(std::vector<ProcInfo> procs, std::string proc_root = "/proc");

    const ProcInfo* find(pid_t pid) const;
    const std::vector<ProcInfo>& all() const { return procs_; }
    std::vector<const ProcInfo*> children(pid_t pid) const;
    // NAME=value from /proc/PID/environ (nullopt: unreadable or absent).
    std::optional<std::string> environ_value(pid_t pid, std::string_view name) const;
    const std::string& proc_root() const { return root_; }

private:
    std::string root_;
    std::vector<ProcInfo> procs_;
};

// Why a process was attributed to a session (for logs and tests).
enum class FoundBy { Leader, Tree, SessionOrGroup, Environment, Orphan };
const char* to_string(FoundBy by);

struct FoundProcess {
    pid_t pid;
    std::uint64_t start;
    FoundBy by;
};

struct DiscoveryOptions {
    // Processes of uids below this are never attributed (except the session's
    // registered leader, which may be root's sshd [priv] process).
    uid_t min_uid = 1000;
    // Pids never to signal (the daemon itself and its ancestors are added by the terminator).
    std::set<pid_t> protected_pids;
};

// The processes of `target` that may be signalled: see docs/enforcement.md.
// `staying` are the other live sessions that are not being ended: processes
// attributed to one of them are spared, and an unattributed orphan is taken
// only when no staying session of the same user started before it.
// `seeds` (optional): processes already attributed to the session (those
// signalled in the polite step); those still running with the same start time
// seed rules 2-4 when the registered leader is already gone.
std::vector<FoundProcess> discover_session_processes(const ProcTable& procs, const Session& target,
                                                     const std::vector<Session>& staying,
                                                     const DiscoveryOptions& opts = {},
                                                     const std::vector<FoundProcess>& seeds = {});

// The terminals (/dev/pts/N, /dev/ttyN) that the session's processes have as
// controlling terminal, from their tty_nr.
std::vector<std::string> session_terminals(const ProcTable& procs, const Session& target);

}  // namespace jit::enforce
