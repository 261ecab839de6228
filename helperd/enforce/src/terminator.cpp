// Session termination: logind over sd-bus, and the /proc fallback.
#include <jit/enforce/terminator.hpp>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace jit::enforce {
namespace {

constexpr const char* kLogind = "org.freedesktop.login1";
constexpr const char* kLogindPath = "/org/freedesktop/login1";
constexpr const char* kManager = "org.freedesktop.login1.Manager";
constexpr const char* kSessionIface = "org.freedesktop.login1.Session";

bool is_no_such_session(const std::string& error_name) {
    return error_name == "org.freedesktop.login1.NoSuchSession";
}

// A Manager method call taking the session id (and optional extra args); nullptr on failure.
sd_bus_message* manager_call(sd_bus* bus, const char* method, const std::string& id, const char* who = nullptr,
                             int sig = 0) {
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_call(bus, &m, kLogind, kLogindPath, kManager, method);
    if (r >= 0)
        r = who ? sd_bus_message_append(m, "ssi", id.c_str(), who, sig) : sd_bus_message_append(m, "s", id.c_str());
    if (r < 0) {
        sd_bus_message_unref(m);
        return nullptr;
    }
    return m;
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

namespace {

// The fallback's work, on whichever thread runs it: it touches no
// FallbackTerminator state (`opts` and `proc_root` never change after
// construction; `before` is a copy of the step-1 list).
std::vector<FoundProcess> find_processes(const std::string& proc_root, const DiscoveryOptions& opts, const Session& s,
                                         const std::vector<Session>& staying, const std::vector<FoundProcess>& before) {
    return discover_session_processes(ProcTable::read(proc_root), s, staying, opts, before);
}

// Signals the session's processes with `sig`; on SIGKILL also those of
// `before` still running. Stops early (what was found but not yet signalled
// is left) once `stop` is set.
std::pair<std::vector<FoundProcess>, std::string> signal_processes(Signaller& signaller, const std::string& proc_root,
                                                                   const DiscoveryOptions& opts, const Session& s,
                                                                   const std::vector<Session>& staying,
                                                                   const std::vector<FoundProcess>& before, int sig,
                                                                   const std::atomic<bool>* stop) {
    std::vector<FoundProcess> procs = find_processes(proc_root, opts, s, staying, before);
    if (sig == SIGKILL) {
        // Also those signalled in step 1 that are still the same processes.
        for (const FoundProcess& f : before) {
            bool listed = false;
            for (const FoundProcess& p : procs) listed = listed || p.pid == f.pid;
            if (!listed && same_process_running(proc_root, f.pid, f.start) && !opts.protected_pids.count(f.pid))
                procs.push_back(f);
        }
    }
    std::string errors;
    for (const FoundProcess& f : procs) {
        if (stop && stop->load()) break;
        auto r = signaller.send(f.pid, f.start, sig);
        if (!r) errors += (errors.empty() ? "" : "; ") + r.error().message;
    }
    return {std::move(procs), std::move(errors)};
}

bool session_alive(const std::string& proc_root, const DiscoveryOptions& opts, const Session& s,
                   const std::vector<Session>& staying, const std::vector<FoundProcess>& before, bool leader_closing) {
    // The leader reporting the close is on its way out: only the rest counts.
    auto counts = [&](pid_t pid) { return !(leader_closing && pid == s.pid); };
    for (const FoundProcess& f : find_processes(proc_root, opts, s, staying, before))
        if (counts(f.pid)) return true;
    for (const FoundProcess& f : before)
        if (counts(f.pid) && same_process_running(proc_root, f.pid, f.start)) return true;
    return false;
}

}  // namespace

// One thread, fed by a queue, running the fallback's /proc work in order.
struct FallbackTerminator::Worker {
    using Job = std::function<void(Worker&)>;
    explicit Worker(Poster p) : post(std::move(p)), thread([this] { run(); }) {}
    ~Worker() {
        {
            std::lock_guard<std::mutex> lock(mu);
            stop = true;
        }
        cv.notify_one();
        thread.join();
    }
    void submit(Job job) {
        {
            std::lock_guard<std::mutex> lock(mu);
            jobs.push_back(std::move(job));
        }
        cv.notify_one();
    }
    void run() {
        for (;;) {
            Job job;
            {
                std::unique_lock<std::mutex> lock(mu);
                cv.wait(lock, [this] { return stop.load() || !jobs.empty(); });
                if (stop) return;
                job = std::move(jobs.front());
                jobs.pop_front();
            }
            job(*this);
        }
    }

    const Poster post;
    // Whether the FallbackTerminator still exists: read and cleared only on
    // the loop thread (posted answers check it before touching anything).
    const std::shared_ptr<bool> live = std::make_shared<bool>(true);
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Job> jobs;
    std::thread thread;  // last: starts once the rest is built
};

FallbackTerminator::FallbackTerminator(Signaller& signaller, DiscoveryOptions opts, std::string proc_root, Poster post)
    : signaller_(signaller), opts_(std::move(opts)), proc_root_(std::move(proc_root)) {
    for (pid_t p : self_and_ancestors(proc_root_)) opts_.protected_pids.insert(p);
    if (post) worker_ = std::make_unique<Worker>(std::move(post));
}

FallbackTerminator::~FallbackTerminator() {
    if (!worker_) return;
    *worker_->live = false;
    worker_.reset();  // joins: a scan under way stops at its next process
}

void FallbackTerminator::finish_signal(const std::string& key, int sig, Signalled out, const Done& done) {
    last_ = out.procs;
    if (sig == SIGKILL)
        signalled_.erase(key);
    else
        signalled_[key] = std::move(out.procs);
    if (!out.errors.empty()) return done(make_error("enforce.signal", out.errors));
    done(std::string("fallback-kill"));
}

std::vector<FoundProcess> FallbackTerminator::signalled_before(const std::string& key) const {
    auto it = signalled_.find(key);
    return it != signalled_.end() ? it->second : std::vector<FoundProcess>{};
}

void FallbackTerminator::run_step(std::function<Answer(const std::atomic<bool>* stop)> step) {
    if (!worker_) return step(nullptr)();
    worker_->submit([step = std::move(step)](Worker& w) {
        Answer answer = step(&w.stop);
        if (w.stop) return;  // abandoned: the answer would never run
        w.post([live = w.live, answer = std::move(answer)] {
            if (*live) answer();
        });
    });
}

void FallbackTerminator::signal_step(const Session& s, const std::vector<Session>& staying, int sig, Done done) {
    run_step([this, s, staying, before = signalled_before(s.key), sig,
              done = std::move(done)](const std::atomic<bool>* stop) -> Answer {
        Signalled out;
        try {
            auto [procs, errors] = signal_processes(signaller_, proc_root_, opts_, s, staying, before, sig, stop);
            out = Signalled{std::move(procs), std::move(errors)};
        } catch (const std::exception& e) {
            out.errors = std::string("signalling the session's processes failed: ") + e.what();
        }
        return [this, key = s.key, sig, out = std::move(out), done]() mutable { finish_signal(key, sig, std::move(out), done); };
    });
}

void FallbackTerminator::terminate(const Session& s, const std::vector<Session>& staying, Done done) {
    signal_step(s, staying, SIGTERM, std::move(done));
}

void FallbackTerminator::kill(const Session& s, const std::vector<Session>& staying, Done done) {
    signal_step(s, staying, SIGKILL, std::move(done));
}

bool FallbackTerminator::alive_now(const Session& s, const std::vector<Session>& staying, bool leader_closing) {
    return session_alive(proc_root_, opts_, s, staying, signalled_before(s.key), leader_closing);
}

void FallbackTerminator::alive(const Session& s, const std::vector<Session>& staying, bool leader_closing,
                               AliveDone done) {
    run_step([this, s, staying, before = signalled_before(s.key), leader_closing,
              done = std::move(done)](const std::atomic<bool>*) -> Answer {
        bool alive = true;  // cannot tell: the hard step still comes
        try {
            alive = session_alive(proc_root_, opts_, s, staying, before, leader_closing);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "jit-helperd: checking session %s's processes failed: %s\n", s.key.c_str(), e.what());
        }
        return [alive, done] { done(alive); };
    });
}

// ---- asynchronous D-Bus calls ------------------------------------------------

struct AsyncBus::Pending {
    AsyncBus* owner;
    std::uint64_t id;
    sd_bus_slot* slot = nullptr;
    Reply done;
};

AsyncBus::AsyncBus(sd_bus* bus, std::size_t max_in_flight)
    : bus_(sd_bus_ref(bus)), event_(sd_event_ref(sd_bus_get_event(bus))), max_in_flight_(std::max<std::size_t>(1, max_in_flight)) {}

AsyncBus::~AsyncBus() {
    for (auto& [id, p] : pending_) {
        sd_bus_slot_unref(p->slot);  // cancels the call: its callback never runs
        delete p;
    }
    for (auto& w : waiting_) sd_bus_message_unref(w.m);
    sd_bus_unref(bus_);
    sd_event_unref(event_);
}

bool AsyncBus::reopen() {
    const char* address = nullptr;
    if (sd_bus_get_address(bus_, &address) < 0 || !address) return false;
    sd_bus* fresh = nullptr;
    int r = sd_bus_new(&fresh);
    if (r >= 0) r = sd_bus_set_address(fresh, address);
    if (r >= 0) r = sd_bus_set_bus_client(fresh, 1);
    if (r >= 0) r = sd_bus_start(fresh);
    // (The old connection left the loop when it closed: the loop it was on.)
    if (r >= 0 && event_) r = sd_bus_attach_event(fresh, event_, SD_EVENT_PRIORITY_NORMAL);
    if (r < 0) {
        sd_bus_flush_close_unref(fresh);
        return false;
    }
    // Calls pending on the old connection were already answered (sd-bus fails
    // them with NoReply when it notices the close).
    sd_bus_detach_event(bus_);
    sd_bus_unref(bus_);
    bus_ = fresh;
    if (on_reopen) on_reopen(bus_);
    return true;
}

sd_bus* AsyncBus::connection() {
    if (sd_bus_is_open(bus_) <= 0) reopen();
    return bus_;
}

void AsyncBus::call(sd_bus_message* m, std::uint64_t timeout_usec, Reply done) {
    if (!m) {
        done(nullptr, "",
             sd_bus_is_open(bus_) > 0 ? "cannot build the D-Bus message"
                                      : "no connection to the system bus (it cannot be reached)");
        return;
    }
    if (pending_.size() >= max_in_flight_ || !waiting_.empty()) {
        waiting_.push_back(Waiting{m, timeout_usec, std::move(done)});
        return;
    }
    send(m, timeout_usec, std::move(done));
}

void AsyncBus::send_waiting() {
    while (pending_.size() < max_in_flight_ && !waiting_.empty()) {
        Waiting w = std::move(waiting_.front());
        waiting_.pop_front();
        try {
            send(w.m, w.timeout_usec, std::move(w.done));  // a refused send answers at once
        } catch (const std::exception& e) {
            std::fprintf(stderr, "jit-helperd: D-Bus reply handler failed: %s\n", e.what());
        } catch (...) {
            std::fprintf(stderr, "jit-helperd: D-Bus reply handler failed\n");
        }
    }
}

void AsyncBus::send(sd_bus_message* m, std::uint64_t timeout_usec, Reply done) {
    auto* p = new Pending{this, next_id_++, nullptr, std::move(done)};
    int r = sd_bus_call_async(bus_, &p->slot, m, &AsyncBus::on_reply, p, timeout_usec);
    sd_bus_message_unref(m);
    if (r < 0) {
        Reply d = std::move(p->done);
        delete p;
        d(nullptr, "", std::string("cannot send: ") + std::strerror(-r));
        return;
    }
    pending_[p->id] = p;
}

int AsyncBus::on_reply(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* p = static_cast<Pending*>(userdata);
    AsyncBus* owner = p->owner;
    Reply done = std::move(p->done);
    owner->pending_.erase(p->id);
    sd_bus_slot_unref(p->slot);  // sd-bus holds its own reference while dispatching
    delete p;
    try {
        // The next call in line takes the room, before this answer's handler
        // runs (it may add calls, which queue behind, or destroy `owner`).
        owner->send_waiting();
        if (const sd_bus_error* e = sd_bus_message_get_error(m)) {
            const std::string name = e->name ? e->name : "";
            done(nullptr, name, name + (e->message ? std::string(": ") + e->message : std::string()));
        } else {
            done(m, "", "");
        }
    } catch (const std::exception& ex) {
        std::fprintf(stderr, "jit-helperd: D-Bus reply handler failed: %s\n", ex.what());
    } catch (...) {
        std::fprintf(stderr, "jit-helperd: D-Bus reply handler failed\n");
    }
    return 0;
}

// ---- logind --------------------------------------------------------------------

LogindTerminator::LogindTerminator(sd_bus* bus, Terminator& fallback, std::uint64_t call_timeout_usec)
    : calls_(bus), fallback_(fallback), timeout_(call_timeout_usec) {
    add_removed_match(bus);
    calls_.on_reopen = [this](sd_bus* fresh) { add_removed_match(fresh); };
}

LogindTerminator::~LogindTerminator() { sd_bus_slot_unref(removed_match_); }

void LogindTerminator::add_removed_match(sd_bus* bus) {
    sd_bus_slot_unref(removed_match_);
    removed_match_ = nullptr;
    // Without the match the grace deadline still confirms every end.
    if (sd_bus_match_signal_async(bus, &removed_match_, kLogind, kLogindPath, kManager, "SessionRemoved",
                                  &LogindTerminator::on_session_removed_signal, nullptr, this) < 0)
        removed_match_ = nullptr;
}

void LogindTerminator::fall_back(const char* step, const Session& s, const std::vector<Session>& staying,
                                 const std::string& error, Done done) {
    if (on_unreachable)
        on_unreachable(std::string(step) + "(" + s.logind_id + "): " + error +
                       "; the session's processes are signalled instead");
    if (std::string(step) == "KillSession")
        fallback_.kill(s, staying, std::move(done));
    else
        fallback_.terminate(s, staying, std::move(done));
}

int LogindTerminator::on_session_removed_signal(sd_bus_message* m, void* userdata, sd_bus_error*) {
    try {
        auto* self = static_cast<LogindTerminator*>(userdata);
        const char* id = nullptr;
        const char* path = nullptr;
        if (sd_bus_message_read(m, "so", &id, &path) >= 0 && id && self->on_session_removed)
            self->on_session_removed(id);
    } catch (const std::exception& ex) {
        std::fprintf(stderr, "jit-helperd: SessionRemoved handler failed: %s\n", ex.what());
    } catch (...) {
        std::fprintf(stderr, "jit-helperd: SessionRemoved handler failed\n");
    }
    return 0;
}

// A step logind did not carry out (the bus gone, logind not answering or
// refusing) is done by the fallback: the window's end never depends on the
// bus being up. NoSuchSession means the session is already gone.
void LogindTerminator::terminate(const Session& s, const std::vector<Session>& staying, Done done) {
    if (s.logind_id.empty()) return fallback_.terminate(s, staying, std::move(done));
    calls_.call(manager_call(calls_.connection(), "TerminateSession", s.logind_id), timeout_,
                [this, s, staying, done = std::move(done)](sd_bus_message*, const std::string& name,
                                                           const std::string& error) {
                    if (!error.empty() && !is_no_such_session(name))
                        fall_back("TerminateSession", s, staying, error, done);
                    else
                        done(std::string("terminate-session"));
                });
}

void LogindTerminator::alive(const Session& s, const std::vector<Session>& staying, bool leader_closing,
                             AliveDone done) {
    if (s.logind_id.empty()) return fallback_.alive(s, staying, leader_closing, std::move(done));
    calls_.call(manager_call(calls_.connection(), "GetSession", s.logind_id), timeout_,
                [this, s, staying, leader_closing, done = std::move(done)](sd_bus_message*, const std::string& name,
                                                                           const std::string& error) {
                    if (error.empty() || is_no_such_session(name)) return done(error.empty());
                    // logind cannot tell: the processes can.
                    fallback_.alive(s, staying, leader_closing, done);
                });
}

void LogindTerminator::kill(const Session& s, const std::vector<Session>& staying, Done done) {
    if (s.logind_id.empty()) return fallback_.kill(s, staying, std::move(done));
    calls_.call(manager_call(calls_.connection(), "KillSession", s.logind_id, "all", SIGKILL), timeout_,
                [this, s, staying, done = std::move(done)](sd_bus_message*, const std::string& name,
                                                           const std::string& error) {
                    if (!error.empty() && !is_no_such_session(name))
                        fall_back("KillSession", s, staying, error, done);
                    else
                        done(std::string("kill-session"));
                });
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

namespace {

// Reads one property of a GetAll reply (a{sv}) into the session.
int read_session_property(sd_bus_message* m, LogindSession& s) {
    const char* name = nullptr;
    int r = sd_bus_message_read(m, "s", &name);
    if (r < 0) return r;
    const std::string n = name;
    auto str = [&](std::string& dst) {
        const char* v = nullptr;
        int rr = sd_bus_message_read(m, "v", "s", &v);
        if (rr >= 0 && v) dst = v;
        return rr;
    };
    if (n == "Leader") return sd_bus_message_read(m, "v", "u", &s.leader);
    if (n == "Timestamp") return sd_bus_message_read(m, "v", "t", &s.timestamp_usec);
    if (n == "TTY") return str(s.tty);
    if (n == "RemoteHost") return str(s.remote_host);
    if (n == "Service") return str(s.service);
    return sd_bus_message_skip(m, "v");
}

struct Listing {
    std::vector<LogindSession> sessions;
    std::size_t waiting = 0;
    std::function<void(Result<std::vector<LogindSession>>)> done;
};

}  // namespace

void logind_list_sessions(AsyncBus& calls, std::function<void(Result<std::vector<LogindSession>>)> done,
                          std::uint64_t timeout_usec) {
    sd_bus_message* m = nullptr;
    if (sd_bus_message_new_method_call(calls.connection(), &m, kLogind, kLogindPath, kManager, "ListSessions") < 0) m = nullptr;
    AsyncBus* bus = &calls;
    calls.call(m, timeout_usec, [bus, timeout_usec, done = std::move(done)](sd_bus_message* reply,
                                                                            const std::string&, const std::string& error) {
        if (!reply) return done(make_error("enforce.logind", "ListSessions: " + error));
        auto listing = std::make_shared<Listing>();
        listing->done = done;
        std::vector<std::string> paths;
        int r = sd_bus_message_enter_container(reply, 'a', "(susso)");
        while (r >= 0) {
            const char *id = nullptr, *user = nullptr, *seat = nullptr, *path = nullptr;
            std::uint32_t uid = 0;
            r = sd_bus_message_read(reply, "(susso)", &id, &uid, &user, &seat, &path);
            if (r <= 0) break;
            LogindSession s;
            s.id = id;
            s.uid = uid;
            s.user = user;
            listing->sessions.push_back(std::move(s));
            paths.emplace_back(path);
        }
        if (r < 0) return done(make_error("enforce.logind", std::string("ListSessions reply: ") + std::strerror(-r)));
        if (paths.empty()) return done(std::move(listing->sessions));
        listing->waiting = paths.size();
        for (std::size_t i = 0; i < paths.size(); ++i) {
            sd_bus_message* get = nullptr;
            if (sd_bus_message_new_method_call(bus->bus(), &get, kLogind, paths[i].c_str(),
                                               "org.freedesktop.DBus.Properties", "GetAll") < 0 ||
                sd_bus_message_append(get, "s", kSessionIface) < 0) {
                sd_bus_message_unref(get);
                get = nullptr;
            }
            // A session whose properties cannot be read is still listed (it exists).
            bus->call(get, timeout_usec, [listing, i](sd_bus_message* props, const std::string&, const std::string&) {
                if (props && sd_bus_message_enter_container(props, 'a', "{sv}") >= 0) {
                    while (sd_bus_message_enter_container(props, 'e', "sv") > 0) {
                        if (read_session_property(props, listing->sessions[i]) < 0) break;
                        if (sd_bus_message_exit_container(props) < 0) break;
                    }
                }
                if (--listing->waiting == 0) listing->done(std::move(listing->sessions));
            });
        }
    });
}

}  // namespace jit::enforce
