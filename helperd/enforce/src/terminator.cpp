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
#include <optional>
#include <set>
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
// FallbackTerminator state (`opts` never changes after construction; the
// table and `before` are this step's own).

// A process of step 1 still runs as the same process (the table holds no zombies).
bool still_running(const ProcTable& table, const FoundProcess& f) {
    const ProcInfo* p = table.find(f.pid);
    return p && p->start == f.start;
}

// The processes of `s` to signal with `sig`: those discovery finds, and on
// SIGKILL also those of `before` still running.
std::vector<FoundProcess> to_signal(const ProcTable& table, const DiscoveryOptions& opts, const Session& s,
                                    const std::vector<Session>& staying, const std::vector<FoundProcess>& before,
                                    int sig) {
    std::vector<FoundProcess> procs = discover_session_processes(table, s, staying, opts, before);
    if (sig == SIGKILL) {
        for (const FoundProcess& f : before) {
            bool listed = false;
            for (const FoundProcess& p : procs) listed = listed || p.pid == f.pid;
            if (!listed && still_running(table, f) && !opts.protected_pids.count(f.pid)) procs.push_back(f);
        }
    }
    return procs;
}

bool session_alive(const ProcTable& table, const DiscoveryOptions& opts, const Session& s,
                   const std::vector<Session>& staying, const std::vector<FoundProcess>& before, bool leader_closing) {
    // The leader reporting the close is on its way out: only the rest counts.
    auto counts = [&](pid_t pid) { return !(leader_closing && pid == s.pid); };
    for (const FoundProcess& f : discover_session_processes(table, s, staying, opts, before))
        if (counts(f.pid)) return true;
    for (const FoundProcess& f : before)
        if (counts(f.pid) && still_running(table, f)) return true;
    return false;
}

// A batch's answer for one session, from a single-session caller's view.
Terminator::BatchDone one_of(Terminator::Done done) {
    return [done = std::move(done)](Terminator::Outcomes outs) {
        if (outs.empty()) return done(make_error("enforce.signal", "the step gave no answer for the session"));
        done(std::move(outs.front().second));
    };
}

}  // namespace

// ---- batches, by default one session at a time ------------------------------

namespace {

struct Gathered {
    Terminator::Outcomes outs;
    std::size_t waiting = 0;
    Terminator::BatchDone done;
};

void fan_out(const std::vector<Session>& sessions, Terminator::BatchDone done,
             const std::function<void(const Session&, Terminator::Done)>& step) {
    if (sessions.empty()) return done({});
    auto g = std::make_shared<Gathered>();
    g->waiting = sessions.size();
    g->done = std::move(done);
    for (const Session& s : sessions)
        step(s, [g, key = s.key](Result<std::string> r) {
            g->outs.emplace_back(key, std::move(r));
            if (--g->waiting == 0) g->done(std::move(g->outs));
        });
}

}  // namespace

void Terminator::terminate_all(const std::vector<Session>& sessions, const std::vector<Session>& staying,
                               BatchDone done) {
    fan_out(sessions, std::move(done), [&](const Session& s, Done one) { terminate(s, staying, std::move(one)); });
}

void Terminator::kill_all(const std::vector<Session>& sessions, const std::vector<Session>& staying, BatchDone done) {
    fan_out(sessions, std::move(done), [&](const Session& s, Done one) { kill(s, staying, std::move(one)); });
}

void Terminator::alive_all(const std::vector<Session>& sessions, const std::vector<Session>& staying,
                           bool leader_closing, AliveBatchDone done) {
    if (sessions.empty()) return done({});
    struct Alive {
        Liveness out;
        std::size_t waiting = 0;
        AliveBatchDone done;
    };
    auto g = std::make_shared<Alive>();
    g->waiting = sessions.size();
    g->done = std::move(done);
    for (const Session& s : sessions)
        alive(s, staying, leader_closing, [g, key = s.key](bool a) {
            g->out[key] = a;
            if (--g->waiting == 0) g->done(std::move(g->out));
        });
}

// One thread, fed by a queue, running the fallback's /proc work in order.
struct FallbackTerminator::Worker {
    struct Job {
        bool signals;
        std::function<void(Worker&, const TableSource&)> run;
    };
    Worker(Poster p, std::function<ProcTable()> r) : post(std::move(p)), read(std::move(r)), thread([this] { run(); }) {}
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
            std::vector<Job> group;
            {
                std::unique_lock<std::mutex> lock(mu);
                cv.wait(lock, [this] { return stop.load() || !jobs.empty(); });
                if (stop) return;
                // A signalling step alone; looking steps with the ones right behind them.
                do {
                    group.push_back(std::move(jobs.front()));
                    jobs.pop_front();
                } while (!group.front().signals && !jobs.empty() && !jobs.front().signals);
            }
            std::optional<ProcTable> table;
            const TableSource source = [&]() -> const ProcTable& {
                if (!table) table = read();
                return *table;
            };
            for (Job& job : group) {
                if (stop) return;
                job.run(*this, source);
            }
        }
    }

    const Poster post;
    const std::function<ProcTable()> read;
    // Whether the FallbackTerminator still exists: read and cleared only on
    // the loop thread (posted answers check it before touching anything).
    const std::shared_ptr<bool> live = std::make_shared<bool>(true);
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Job> jobs;
    std::thread thread;  // last: starts once the rest is built
};

FallbackTerminator::FallbackTerminator(Signaller& signaller, DiscoveryOptions opts, std::string proc_root, Poster post,
                                       ProcReader read)
    : signaller_(signaller), opts_(std::move(opts)), proc_root_(std::move(proc_root)),
      read_(read ? std::move(read) : ProcReader([](const std::string& root) { return ProcTable::read(root); })) {
    for (pid_t p : self_and_ancestors(proc_root_)) opts_.protected_pids.insert(p);
    if (post) worker_ = std::make_unique<Worker>(std::move(post), [this] { return read_(proc_root_); });
}

FallbackTerminator::~FallbackTerminator() {
    if (!worker_) return;
    *worker_->live = false;
    worker_.reset();  // joins: a scan under way stops at its next process
}

void FallbackTerminator::finish_signal(int sig, std::vector<Signalled> out, const BatchDone& done) {
    last_.clear();
    Outcomes outs;
    for (Signalled& one : out) {
        last_.insert(last_.end(), one.procs.begin(), one.procs.end());
        if (sig == SIGKILL)
            signalled_.erase(one.key);
        else
            signalled_[one.key] = std::move(one.procs);
        if (!one.errors.empty())
            outs.emplace_back(one.key, make_error("enforce.signal", one.errors));
        else
            outs.emplace_back(one.key, std::string("fallback-kill"));
    }
    done(std::move(outs));
}

std::vector<FallbackTerminator::Target> FallbackTerminator::targets(const std::vector<Session>& sessions) const {
    std::vector<Target> out;
    for (const Session& s : sessions) {
        auto it = signalled_.find(s.key);
        out.push_back({s, it != signalled_.end() ? it->second : std::vector<FoundProcess>{}});
    }
    return out;
}

void FallbackTerminator::run_step(bool signals,
                                  std::function<Answer(const std::atomic<bool>* stop, const TableSource& table)> step) {
    if (!worker_) {
        std::optional<ProcTable> table;
        return step(nullptr, [&]() -> const ProcTable& {
            if (!table) table = read_(proc_root_);
            return *table;
        })();
    }
    worker_->submit({signals, [step = std::move(step)](Worker& w, const TableSource& table) {
                         Answer answer = step(&w.stop, table);
                         if (w.stop) return;  // abandoned: the answer would never run
                         w.post([live = w.live, answer = std::move(answer)] {
                             if (*live) answer();
                         });
                     }});
}

// One /proc scan for every session of the step; each process is signalled
// once even when two sessions ended together both claim it.
void FallbackTerminator::signal_step(const std::vector<Session>& sessions, const std::vector<Session>& staying, int sig,
                                     BatchDone done) {
    run_step(true, [this, batch = targets(sessions), staying, sig,
                    done = std::move(done)](const std::atomic<bool>* stop, const TableSource& read_table) -> Answer {
        std::vector<Signalled> out;
        try {
            const ProcTable& table = read_table();
            std::set<pid_t> sent;
            for (const Target& t : batch) {
                Signalled one{t.session.key, to_signal(table, opts_, t.session, staying, t.before, sig), {}};
                for (const FoundProcess& f : one.procs) {
                    if (stop && stop->load()) break;
                    if (!sent.insert(f.pid).second) continue;
                    auto r = signaller_.send(f.pid, f.start, sig);
                    if (!r) one.errors += (one.errors.empty() ? "" : "; ") + r.error().message;
                }
                out.push_back(std::move(one));
            }
        } catch (const std::exception& e) {
            // The sessions not reached are answered with what failed (the hard step still comes).
            for (std::size_t i = out.size(); i < batch.size(); ++i)
                out.push_back({batch[i].session.key, {}, std::string("signalling the session's processes failed: ") + e.what()});
        }
        return [this, sig, out = std::move(out), done]() mutable { finish_signal(sig, std::move(out), done); };
    });
}

void FallbackTerminator::terminate(const Session& s, const std::vector<Session>& staying, Done done) {
    signal_step({s}, staying, SIGTERM, one_of(std::move(done)));
}

void FallbackTerminator::kill(const Session& s, const std::vector<Session>& staying, Done done) {
    signal_step({s}, staying, SIGKILL, one_of(std::move(done)));
}

void FallbackTerminator::terminate_all(const std::vector<Session>& sessions, const std::vector<Session>& staying,
                                       BatchDone done) {
    if (sessions.empty()) return done({});
    signal_step(sessions, staying, SIGTERM, std::move(done));
}

void FallbackTerminator::kill_all(const std::vector<Session>& sessions, const std::vector<Session>& staying,
                                  BatchDone done) {
    if (sessions.empty()) return done({});
    signal_step(sessions, staying, SIGKILL, std::move(done));
}

bool FallbackTerminator::alive_now(const Session& s, const std::vector<Session>& staying, bool leader_closing) {
    auto it = signalled_.find(s.key);
    return session_alive(read_(proc_root_), opts_, s, staying,
                         it != signalled_.end() ? it->second : std::vector<FoundProcess>{}, leader_closing);
}

void FallbackTerminator::alive(const Session& s, const std::vector<Session>& staying, bool leader_closing,
                               AliveDone done) {
    alive_all({s}, staying, leader_closing, [key = s.key, done = std::move(done)](Liveness out) {
        auto it = out.find(key);
        done(it == out.end() || it->second);
    });
}

void FallbackTerminator::alive_all(const std::vector<Session>& sessions, const std::vector<Session>& staying,
                                   bool leader_closing, AliveBatchDone done) {
    if (sessions.empty()) return done({});
    run_step(false, [this, batch = targets(sessions), staying, leader_closing,
                     done = std::move(done)](const std::atomic<bool>*, const TableSource& read_table) -> Answer {
        Liveness out;
        try {
            const ProcTable& table = read_table();
            for (const Target& t : batch)
                out[t.session.key] = session_alive(table, opts_, t.session, staying, t.before, leader_closing);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "jit-helperd: checking the processes of %zu session(s) failed: %s\n", batch.size(),
                         e.what());
        }
        for (const Target& t : batch) out.emplace(t.session.key, true);  // cannot tell: the hard step still comes
        return [out = std::move(out), done] { done(out); };
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
            // The peer's text, to the audit trail: its first line, at most 200 bytes.
            std::string text = e->message ? e->message : "";
            text = text.substr(0, std::min(text.find('\n'), std::size_t(200)));
            done(nullptr, name, name + (text.empty() ? std::string() : ": " + text));
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

LogindTerminator::~LogindTerminator() {
    *live_ = false;
    sd_bus_slot_unref(removed_match_);
}

void LogindTerminator::add_removed_match(sd_bus* bus) {
    sd_bus_slot_unref(removed_match_);
    removed_match_ = nullptr;
    // Without the match the grace deadline still confirms every end.
    if (sd_bus_match_signal_async(bus, &removed_match_, kLogind, kLogindPath, kManager, "SessionRemoved",
                                  &LogindTerminator::on_session_removed_signal, nullptr, this) < 0)
        removed_match_ = nullptr;
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
// bus being up. NoSuchSession means the session is already gone. Sessions
// ended together are asked one call each (logind has no batch call); what
// goes to the fallback goes as one batch (one /proc scan) once every call of
// the batch has answered (each call's timeout bounds that).
struct LogindTerminator::SignalBatch {
    bool hard = false;
    std::vector<Session> staying;
    std::size_t waiting = 0;
    Outcomes outs;
    std::vector<Session> failed;
    std::string error;  // the first failure's
    BatchDone done;
};

struct LogindTerminator::AliveBatch {
    std::vector<Session> staying;
    bool leader_closing = false;
    std::size_t waiting = 0;
    Liveness out;
    std::vector<Session> ask_fallback;
    AliveBatchDone done;
};

void LogindTerminator::unreachable(const char* method, const std::vector<Session>& failed, const std::string& error) {
    if (!on_unreachable || failed.empty()) return;
    std::string ids;
    for (std::size_t i = 0; i < failed.size() && i < 5; ++i) ids += (i ? ", " : "") + failed[i].logind_id;
    if (failed.size() > 5) ids += " and " + std::to_string(failed.size() - 5) + " more";
    on_unreachable(std::string(method) + "(" + ids + "): " + error + "; the session's processes are signalled instead");
}

void LogindTerminator::settle(const std::shared_ptr<SignalBatch>& b) {
    if (--b->waiting > 0) return;
    if (b->failed.empty()) return b->done(std::move(b->outs));
    unreachable(b->hard ? "KillSession" : "TerminateSession", b->failed, b->error);
    auto finish = [b, live = live_](Outcomes outs) {
        for (auto& o : outs) b->outs.push_back(std::move(o));
        b->done(std::move(b->outs));
    };
    std::vector<Session> failed = std::move(b->failed);
    b->failed.clear();
    if (b->hard)
        fallback_.kill_all(failed, b->staying, std::move(finish));
    else
        fallback_.terminate_all(failed, b->staying, std::move(finish));
}

void LogindTerminator::signal_all(bool hard, const std::vector<Session>& sessions, const std::vector<Session>& staying,
                                  BatchDone done) {
    if (sessions.empty()) return done({});
    auto b = std::make_shared<SignalBatch>();
    b->hard = hard;
    b->staying = staying;
    b->done = std::move(done);
    std::vector<Session> direct;
    for (const Session& s : sessions)
        if (s.logind_id.empty()) direct.push_back(s);
    // One count per call, one for the direct batch, and one held until every call is sent.
    b->waiting = sessions.size() - direct.size() + (direct.empty() ? 0 : 1) + 1;
    if (!direct.empty()) {
        auto back = [this, b, live = live_](Outcomes outs) {
            for (auto& o : outs) b->outs.push_back(std::move(o));
            if (*live) settle(b);
        };
        if (hard)
            fallback_.kill_all(direct, staying, std::move(back));
        else
            fallback_.terminate_all(direct, staying, std::move(back));
    }
    for (const Session& s : sessions) {
        if (s.logind_id.empty()) continue;
        sd_bus_message* m = hard ? manager_call(calls_.connection(), "KillSession", s.logind_id, "all", SIGKILL)
                                 : manager_call(calls_.connection(), "TerminateSession", s.logind_id);
        calls_.call(m, timeout_, [this, b, s](sd_bus_message*, const std::string& name, const std::string& error) {
            if (!error.empty() && !is_no_such_session(name)) {
                if (b->failed.empty()) b->error = error;
                b->failed.push_back(s);
            } else {
                b->outs.emplace_back(s.key, std::string(b->hard ? "kill-session" : "terminate-session"));
            }
            settle(b);
        });
    }
    settle(b);
}

void LogindTerminator::terminate_all(const std::vector<Session>& sessions, const std::vector<Session>& staying,
                                     BatchDone done) {
    signal_all(false, sessions, staying, std::move(done));
}

void LogindTerminator::kill_all(const std::vector<Session>& sessions, const std::vector<Session>& staying,
                                BatchDone done) {
    signal_all(true, sessions, staying, std::move(done));
}

void LogindTerminator::terminate(const Session& s, const std::vector<Session>& staying, Done done) {
    signal_all(false, {s}, staying, one_of(std::move(done)));
}

void LogindTerminator::kill(const Session& s, const std::vector<Session>& staying, Done done) {
    signal_all(true, {s}, staying, one_of(std::move(done)));
}

namespace {

// A Manager call on a uid: SetUserLinger(uid, false, false), TerminateUser(uid)
// or KillUser(uid, SIGKILL); nullptr on failure.
sd_bus_message* user_call(sd_bus* bus, const char* method, std::uint32_t uid) {
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_call(bus, &m, kLogind, kLogindPath, kManager, method);
    if (r >= 0) {
        if (std::strcmp(method, "SetUserLinger") == 0)
            r = sd_bus_message_append(m, "ubb", uid, 0, 0);
        else if (std::strcmp(method, "KillUser") == 0)
            r = sd_bus_message_append(m, "ui", uid, SIGKILL);
        else
            r = sd_bus_message_append(m, "u", uid);
    }
    if (r < 0) {
        sd_bus_message_unref(m);
        return nullptr;
    }
    return m;
}

struct UsersBatch {
    std::size_t waiting = 1;  // one held until every call is sent
    std::vector<Terminator::UserEnding> out;
    Terminator::UsersDone done;
    void settle() {
        if (--waiting == 0) done(std::move(out));
    }
};

}  // namespace

void LogindTerminator::end_users(const std::vector<std::string>& users, bool hard, UsersDone done) {
    if (users.empty()) return done(std::vector<UserEnding>{});
    sd_bus_message* m = nullptr;
    if (sd_bus_message_new_method_call(calls_.connection(), &m, kLogind, kLogindPath, kManager, "ListUsers") < 0)
        m = nullptr;
    const std::set<std::string> wanted(users.begin(), users.end());
    calls_.call(m, timeout_, [this, wanted, hard, done = std::move(done), live = live_](
                                 sd_bus_message* reply, const std::string&, const std::string& error) {
        if (!*live) return;
        if (!reply) return done(make_error("enforce.logind", "ListUsers: " + error));
        std::vector<std::pair<std::uint32_t, std::string>> found;
        int r = sd_bus_message_enter_container(reply, 'a', "(uso)");
        while (r >= 0) {
            std::uint32_t uid = 0;
            const char *name = nullptr, *path = nullptr;
            r = sd_bus_message_read(reply, "(uso)", &uid, &name, &path);
            if (r <= 0) break;
            if (name && wanted.count(name) && uid >= 1000) found.emplace_back(uid, name);
        }
        if (r < 0) return done(make_error("enforce.logind", std::string("ListUsers reply: ") + std::strerror(-r)));
        auto b = std::make_shared<UsersBatch>();
        b->done = done;
        for (const auto& [uid, name] : found) {
            const std::size_t i = b->out.size();
            b->out.push_back(UserEnding{name, uid, {}, {}});
            // In order on one connection: lingering is off before the user is ended.
            const std::vector<const char*> steps =
                hard ? std::vector<const char*>{"KillUser"} : std::vector<const char*>{"SetUserLinger", "TerminateUser"};
            for (const char* method : steps) {
                ++b->waiting;
                calls_.call(user_call(calls_.connection(), method, uid), timeout_,
                            [b, i, method](sd_bus_message*, const std::string& err_name, const std::string& err) {
                                const bool linger = std::strcmp(method, "SetUserLinger") == 0;
                                if (linger && (err_name == "org.freedesktop.DBus.Error.FileNotFound" ||
                                               err_name == "System.Error.ENOENT")) {
                                    b->out[i].note = "lingering left as it is: logind cannot look " + b->out[i].user +
                                                     " up any more, so it starts no manager for them";
                                } else if (!err.empty() && err_name != "org.freedesktop.login1.NoSuchUser") {
                                    std::string& e = b->out[i].error;
                                    e += (e.empty() ? "" : "; ") + std::string(method) + ": " + err;
                                }
                                b->settle();
                            });
            }
        }
        b->settle();
    });
}

void LogindTerminator::settle(const std::shared_ptr<AliveBatch>& b) {
    if (--b->waiting > 0) return;
    if (b->ask_fallback.empty()) return b->done(std::move(b->out));
    std::vector<Session> ask = std::move(b->ask_fallback);
    b->ask_fallback.clear();
    fallback_.alive_all(ask, b->staying, b->leader_closing, [b](Liveness more) {
        for (auto& [key, a] : more) b->out[key] = a;
        b->done(std::move(b->out));
    });
}

void LogindTerminator::alive_all(const std::vector<Session>& sessions, const std::vector<Session>& staying,
                                 bool leader_closing, AliveBatchDone done) {
    if (sessions.empty()) return done({});
    auto b = std::make_shared<AliveBatch>();
    b->staying = staying;
    b->leader_closing = leader_closing;
    b->done = std::move(done);
    b->waiting = sessions.size() + 1;  // one held until every call is sent
    for (const Session& s : sessions) {
        if (s.logind_id.empty()) {
            b->ask_fallback.push_back(s);
            --b->waiting;
            continue;
        }
        calls_.call(manager_call(calls_.connection(), "GetSession", s.logind_id), timeout_,
                    [this, b, s](sd_bus_message*, const std::string& name, const std::string& error) {
                        if (error.empty() || is_no_such_session(name))
                            b->out[s.key] = error.empty();
                        else
                            b->ask_fallback.push_back(s);  // logind cannot tell: the processes can
                        settle(b);
                    });
    }
    settle(b);
}

void LogindTerminator::alive(const Session& s, const std::vector<Session>& staying, bool leader_closing,
                             AliveDone done) {
    alive_all({s}, staying, leader_closing, [key = s.key, done = std::move(done)](Liveness out) {
        auto it = out.find(key);
        done(it == out.end() || it->second);
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
