// Session termination: logind over sd-bus, and the /proc fallback.
#include <jit/enforce/terminator.hpp>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace jit::enforce {
namespace {

constexpr const char* kLogind = "org.freedesktop.login1";
constexpr const char* kLogindPath = "/org/freedesktop/login1";
constexpr const char* kManager = "org.freedesktop.login1.Manager";
constexpr const char* kSessionIface = "org.freedesktop.login1.Session";

std::string bus_error(const sd_bus_error& e, int r) {
    if (e.name) return std::string(e.name) + (e.message ? std::string(": ") + e.message : std::string());
    return std::strerror(r < 0 ? -r : r);
}

// Calls a Manager method taking the session id (and optional extra args).
int call_manager(sd_bus* bus, const char* method, std::uint64_t timeout, sd_bus_error* err, sd_bus_message** reply,
                 const std::string& id, const char* who = nullptr, int sig = 0) {
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_call(bus, &m, kLogind, kLogindPath, kManager, method);
    if (r < 0) return r;
    r = who ? sd_bus_message_append(m, "ssi", id.c_str(), who, sig) : sd_bus_message_append(m, "s", id.c_str());
    if (r >= 0) r = sd_bus_call(bus, m, timeout, err, reply);
    sd_bus_message_unref(m);
    return r;
}

int get_property(sd_bus* bus, const char* path, const char* name, std::uint64_t timeout, sd_bus_message** reply) {
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_call(bus, &m, kLogind, path, "org.freedesktop.DBus.Properties", "Get");
    if (r < 0) return r;
    r = sd_bus_message_append(m, "ss", kSessionIface, name);
    sd_bus_error err = SD_BUS_ERROR_NULL;
    if (r >= 0) r = sd_bus_call(bus, m, timeout, &err, reply);
    sd_bus_error_free(&err);
    sd_bus_message_unref(m);
    return r;
}

// glibc 2.36's <sys/pidfd.h> lacks extern "C"; the raw syscalls work everywhere.
int pidfd_open_(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send_signal_(int fd, int sig) { return static_cast<int>(::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0)); }

std::optional<ProcInfo> read_stat(const std::string& proc_root, pid_t pid) {
    FILE* f = std::fopen((proc_root + "/" + std::to_string(pid) + "/stat").c_str(), "re");
    if (!f) return std::nullopt;
    char buf[4096];
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    return parse_proc_stat(std::string_view(buf, n));
}

// Still running (not a zombie) and still the same process.
bool same_process_running(const std::string& proc_root, pid_t pid, std::uint64_t start) {
    auto p = read_stat(proc_root, pid);
    return p && p->start == start && p->state != 'Z' && p->state != 'X';
}

std::set<pid_t> self_and_ancestors(const std::string& proc_root) {
    std::set<pid_t> out;
    pid_t p = ::getpid();
    out.insert(1);
    for (int depth = 0; p > 1 && depth < 64; ++depth) {
        out.insert(p);
        auto snap_entry = read_stat(proc_root, p);
        if (!snap_entry) break;
        p = snap_entry->ppid;
    }
    return out;
}

}  // namespace

Status PidfdSignaller::send(pid_t pid, std::uint64_t start, int sig) {
    if (pid <= 1) return make_error("enforce.signal", "refusing to signal pid " + std::to_string(pid));
    int fd = pidfd_open_(pid);
    if (fd < 0) {
        if (errno == ESRCH) return Ok{};  // already gone
        return make_error("enforce.signal", "pidfd_open(" + std::to_string(pid) + "): " + std::strerror(errno));
    }
    // The pidfd pins the process: if its start time still matches, it is the one we found.
    auto now_start = process_start_time(pid, proc_root_);
    if (!now_start || *now_start != start) {
        ::close(fd);
        return Ok{};  // exited and the pid was reused: nothing of ours to signal
    }
    int r = pidfd_send_signal_(fd, sig);
    int e = errno;
    ::close(fd);
    if (r != 0 && e != ESRCH)
        return make_error("enforce.signal", "signal " + std::to_string(sig) + " to pid " + std::to_string(pid) + ": " +
                                                std::strerror(e));
    return Ok{};
}

FallbackTerminator::FallbackTerminator(Signaller& signaller, DiscoveryOptions opts, std::string proc_root)
    : signaller_(signaller), opts_(std::move(opts)), proc_root_(std::move(proc_root)) {
    for (pid_t p : self_and_ancestors(proc_root_)) opts_.protected_pids.insert(p);
}

std::vector<FoundProcess> FallbackTerminator::find(const Session& s, const std::vector<Session>& staying) {
    auto it = signalled_.find(s.key);
    static const std::vector<FoundProcess> kNone;
    return discover_session_processes(ProcSnapshot::read(proc_root_), s, staying, opts_,
                                      it != signalled_.end() ? it->second : kNone);
}

Result<std::string> FallbackTerminator::signal_all(const Session& s, const std::vector<Session>& staying, int sig) {
    std::vector<FoundProcess> procs = find(s, staying);
    if (sig == SIGKILL) {
        // Also those signalled in step 1 that are still the same processes.
        for (const FoundProcess& f : signalled_[s.key]) {
            bool listed = false;
            for (const FoundProcess& p : procs) listed = listed || p.pid == f.pid;
            if (!listed && same_process_running(proc_root_, f.pid, f.start) && !opts_.protected_pids.count(f.pid))
                procs.push_back(f);
        }
    }
    std::string errors;
    for (const FoundProcess& f : procs) {
        auto r = signaller_.send(f.pid, f.start, sig);
        if (!r) errors += (errors.empty() ? "" : "; ") + r.error().message;
    }
    last_ = procs;
    if (sig == SIGKILL)
        signalled_.erase(s.key);
    else
        signalled_[s.key] = procs;
    if (!errors.empty()) return make_error("enforce.signal", errors);
    return std::string("fallback-kill");
}

Result<std::string> FallbackTerminator::terminate(const Session& s, const std::vector<Session>& staying) {
    return signal_all(s, staying, SIGTERM);
}

bool FallbackTerminator::alive(const Session& s, const std::vector<Session>& staying) {
    if (!find(s, staying).empty()) return true;
    auto it = signalled_.find(s.key);
    if (it == signalled_.end()) return false;
    for (const FoundProcess& f : it->second)
        if (same_process_running(proc_root_, f.pid, f.start)) return true;
    return false;
}

Result<std::string> FallbackTerminator::kill(const Session& s, const std::vector<Session>& staying) {
    return signal_all(s, staying, SIGKILL);
}

LogindTerminator::LogindTerminator(sd_bus* bus, Terminator& fallback, std::uint64_t call_timeout_usec)
    : bus_(sd_bus_ref(bus)), fallback_(fallback), timeout_(call_timeout_usec) {}

LogindTerminator::~LogindTerminator() { sd_bus_unref(bus_); }

Result<std::string> LogindTerminator::terminate(const Session& s, const std::vector<Session>& staying) {
    if (s.logind_id.empty()) return fallback_.terminate(s, staying);
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    int r = call_manager(bus_, "TerminateSession", timeout_, &err, &reply, s.logind_id);
    std::string what = r < 0 ? bus_error(err, r) : "";
    const bool gone = r < 0 && err.name && std::strcmp(err.name, "org.freedesktop.login1.NoSuchSession") == 0;
    sd_bus_error_free(&err);
    sd_bus_message_unref(reply);
    if (r < 0 && !gone)
        return make_error("enforce.logind", "TerminateSession(" + s.logind_id + "): " + what);
    return std::string("terminate-session");
}

bool LogindTerminator::alive(const Session& s, const std::vector<Session>& staying) {
    if (s.logind_id.empty()) return fallback_.alive(s, staying);
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    int r = call_manager(bus_, "GetSession", timeout_, &err, &reply, s.logind_id);
    const bool gone = r < 0 && err.name && std::strcmp(err.name, "org.freedesktop.login1.NoSuchSession") == 0;
    sd_bus_error_free(&err);
    sd_bus_message_unref(reply);
    return !gone;  // any other failure: assume alive, so the hard step still runs
}

Result<std::string> LogindTerminator::kill(const Session& s, const std::vector<Session>& staying) {
    if (s.logind_id.empty()) return fallback_.kill(s, staying);
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    int r = call_manager(bus_, "KillSession", timeout_, &err, &reply, s.logind_id, "all", SIGKILL);
    std::string what = r < 0 ? bus_error(err, r) : "";
    const bool gone = r < 0 && err.name && std::strcmp(err.name, "org.freedesktop.login1.NoSuchSession") == 0;
    sd_bus_error_free(&err);
    sd_bus_message_unref(reply);
    if (r < 0 && !gone) return make_error("enforce.logind", "KillSession(" + s.logind_id + "): " + what);
    return std::string("kill-session");
}

bool logind_available(sd_bus* bus, const std::string& seats_dir) {
    // logind is reached over the system bus: no bus, no logind.
    if (!bus) return false;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "NameHasOwner");
    if (r >= 0) r = sd_bus_message_append(m, "s", kLogind);
    if (r >= 0) r = sd_bus_call(bus, m, 1'000'000, &err, &reply);
    int has = 0;
    if (r >= 0) r = sd_bus_message_read(reply, "b", &has);
    sd_bus_error_free(&err);
    sd_bus_message_unref(reply);
    sd_bus_message_unref(m);
    if (r >= 0 && has) return true;
    // Not started yet but it will be (bus activation) on a host booted with
    // systemd that has logind's runtime directory. The directory alone (left
    // by the package on a host whose PID 1 is not systemd) is not enough.
    struct stat st {};
    return sd_booted() > 0 && ::stat(seats_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<LogindSession>> logind_list_sessions(sd_bus* bus, std::uint64_t timeout_usec) {
    std::vector<LogindSession> out;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_call(bus, &m, kLogind, kLogindPath, kManager, "ListSessions");
    if (r >= 0) r = sd_bus_call(bus, m, timeout_usec, &err, &reply);
    sd_bus_message_unref(m);
    if (r < 0) {
        std::string what = bus_error(err, r);
        sd_bus_error_free(&err);
        return make_error("enforce.logind", "ListSessions: " + what);
    }
    std::vector<std::pair<LogindSession, std::string>> found;
    r = sd_bus_message_enter_container(reply, 'a', "(susso)");
    while (r >= 0) {
        const char *id = nullptr, *user = nullptr, *seat = nullptr, *path = nullptr;
        std::uint32_t uid = 0;
        r = sd_bus_message_read(reply, "(susso)", &id, &uid, &user, &seat, &path);
        if (r <= 0) break;
        LogindSession s;
        s.id = id;
        s.uid = uid;
        s.user = user;
        found.emplace_back(std::move(s), path);
    }
    sd_bus_message_unref(reply);
    if (r < 0) return make_error("enforce.logind", std::string("ListSessions reply: ") + std::strerror(-r));
    for (auto& [s, path] : found) {
        auto str = [&](const char* name, std::string& dst) {
            sd_bus_message* rep = nullptr;
            const char* v = nullptr;
            if (get_property(bus, path.c_str(), name, timeout_usec, &rep) >= 0 &&
                sd_bus_message_read(rep, "v", "s", &v) >= 0 && v)
                dst = v;
            sd_bus_message_unref(rep);
        };
        sd_bus_message* rep = nullptr;
        if (get_property(bus, path.c_str(), "Leader", timeout_usec, &rep) >= 0)
            (void)sd_bus_message_read(rep, "v", "u", &s.leader);
        sd_bus_message_unref(rep);
        rep = nullptr;
        if (get_property(bus, path.c_str(), "Timestamp", timeout_usec, &rep) >= 0)
            (void)sd_bus_message_read(rep, "v", "t", &s.timestamp_usec);
        sd_bus_message_unref(rep);
        str("TTY", s.tty);
        str("RemoteHost", s.remote_host);
        str("Service", s.service);
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace jit::enforce
