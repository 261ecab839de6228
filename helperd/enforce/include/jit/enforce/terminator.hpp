// Ending sessions: through systemd-logind over D-Bus, or, without logind, by
// signalling the session's processes (procfs.hpp). The Enforcer drives the two
// steps and the grace between them with its own timer; nothing here sleeps.
#pragma once

#include <jit/enforce/procfs.hpp>
#include <jit/enforce/session.hpp>
#include <jit/result.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

namespace jit::enforce {

class Terminator {
public:
    using Done = std::function<void(Result<std::string>)>;  // JIT_HOW, or what failed
    using AliveDone = std::function<void(bool alive)>;
    virtual ~Terminator() = default;
    // "logind" or "fallback" (for logs and status).
    virtual const char* name() const = 0;
    // The answers come through the callbacks, at once (fallback) or later from
    // the event loop (logind): nothing here waits. A callback never runs after
    // the Terminator is destroyed.
    // Step 1, polite: TerminateSession / SIGTERM. `staying` are the live sessions
    // that must not be touched. Answers the JIT_HOW value for the audit trail.
    virtual void terminate(const Session& s, const std::vector<Session>& staying, Done done) = 0;
    // Whether anything of the session still runs. `leader_closing`: the
    // registered leader is the process reporting the session's close right now
    // (sshd's session_close after SIGTERM) and exits next: it does not count.
    virtual void alive(const Session& s, const std::vector<Session>& staying, bool leader_closing, AliveDone done) = 0;
    // Step 2, after the grace: KillSession(all, SIGKILL) / SIGKILL. Answers JIT_HOW.
    virtual void kill(const Session& s, const std::vector<Session>& staying, Done done) = 0;
    // The same steps for sessions ended together (issue 18: a thousand grants
    // ending at the same second), with one answer for the whole batch once
    // every session's step has answered: what each step answered, by session
    // key (every session asked, once). The fallback serves a batch with one
    // /proc scan; by default each session's step runs on its own.
    using Outcomes = std::vector<std::pair<std::string, Result<std::string>>>;
    using BatchDone = std::function<void(Outcomes)>;
    using Liveness = std::map<std::string, bool>;
    using AliveBatchDone = std::function<void(Liveness)>;
    virtual void terminate_all(const std::vector<Session>& sessions, const std::vector<Session>& staying, BatchDone done);
    virtual void alive_all(const std::vector<Session>& sessions, const std::vector<Session>& staying, bool leader_closing,
                           AliveBatchDone done);
    virtual void kill_all(const std::vector<Session>& sessions, const std::vector<Session>& staying, BatchDone done);
    // Set by the Enforcer: the session manager says a session is gone
    // (logind's SessionRemoved signal, with the logind session id).
    std::function<void(const std::string& logind_id)> on_session_removed;

    // A user's end, once their last grant is over (threat model gap 3): what
    // runs outside every session. The user's systemd manager
    // (user@UID.service, with what `systemd-run --user` and `systemctl
    // --user` started) is in no session's scope, and a lingering user's
    // manager outlives every session. Step 1 (polite) switches lingering off
    // and asks the user's end (logind: SetUserLinger(uid, false), then
    // TerminateUser(uid)); step 2 (hard), after the grace, kills what is left
    // (KillUser(uid, SIGKILL)). Only users the session manager knows (a user
    // manager running, or lingering) are answered, with their uid; the
    // others have nothing outside a session. An error (the listing not
    // answered) answers for none, to be asked again. Without logind there is
    // no user manager: nothing to do (the default).
    struct UserEnding {
        std::string user;
        std::uint32_t uid = 0;
        std::string error;  // "" when the step was carried out
        std::string note;   // what the audit trail should know besides
    };
    using UsersDone = std::function<void(Result<std::vector<UserEnding>>)>;
    // `users` by name; the step applies to the uids of those that the session
    // manager lists under the name, from 1000 up (never a system account).
    virtual void end_users(const std::vector<std::string>& users, bool hard, UsersDone done) {
        (void)users;
        (void)hard;
        done(std::vector<UserEnding>{});
    }
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
//
// Reading /proc and signalling take time in proportion to the host's process
// count (seconds with 10,000 processes): with a `post` (the daemon's
// Loop::post) that work runs on one worker thread owned by this object, in
// the order asked, and each answer comes back through `post`, so the loop
// keeps serving while a scan runs. Everything else here (signalled_, last_)
// is touched only on the loop thread, where the callbacks also run. Without
// `post` (tests, tools with no loop) each step runs at once on the caller's
// thread, as before. Each step reads /proc once, whatever the number of
// sessions in it: a batch (terminate_all, alive_all, kill_all) costs one scan.
class FallbackTerminator final : public Terminator {
public:
    // Runs a callback on the loop thread; may be called from any thread.
    using Poster = std::function<void(std::function<void()>)>;
    // Reads the process table (one full /proc scan); runs on the worker when
    // there is one. Tests count the scans or serve a table of their own.
    using ProcReader = std::function<ProcTable(const std::string& proc_root)>;
    FallbackTerminator(Signaller& signaller, DiscoveryOptions opts = {}, std::string proc_root = "/proc",
                       Poster post = {}, ProcReader read = {});
    // Stops the worker: a scan under way is abandoned at its next process
    // (the /proc read in progress finishes first); callbacks not yet run never run.
    ~FallbackTerminator() override;
    FallbackTerminator(const FallbackTerminator&) = delete;
    FallbackTerminator& operator=(const FallbackTerminator&) = delete;
    const char* name() const override { return "fallback"; }
    void terminate(const Session& s, const std::vector<Session>& staying, Done done) override;
    void alive(const Session& s, const std::vector<Session>& staying, bool leader_closing, AliveDone done) override;
    void kill(const Session& s, const std::vector<Session>& staying, Done done) override;
    void terminate_all(const std::vector<Session>& sessions, const std::vector<Session>& staying,
                       BatchDone done) override;
    void alive_all(const std::vector<Session>& sessions, const std::vector<Session>& staying, bool leader_closing,
                   AliveBatchDone done) override;
    void kill_all(const std::vector<Session>& sessions, const std::vector<Session>& staying, BatchDone done) override;
    // The same check, at once on the caller's thread (tests, tools).
    bool alive_now(const Session& s, const std::vector<Session>& staying, bool leader_closing);

    // The processes the last terminate()/kill() (or batch) signalled (tests, logs).
    const std::vector<FoundProcess>& last_signalled() const { return last_; }

private:
    struct Worker;
    // A session of a step, with the processes step 1 signalled for it (a
    // copy for the worker).
    struct Target {
        Session session;
        std::vector<FoundProcess> before;
    };
    // What one signalling step did to one session (computed off the loop
    // when there is a worker).
    struct Signalled {
        std::string key;
        std::vector<FoundProcess> procs;
        std::string errors;
    };
    // The answer a step gives on the loop thread.
    using Answer = std::function<void()>;
    // The process table of a step, read when the step first asks for it.
    using TableSource = std::function<const ProcTable&()>;
    // Runs `step` on the worker (at once here without one); its answer then
    // runs on the loop unless this object is gone. `stop` is set when the
    // worker is stopping (null without a worker). Steps that only look
    // (`signals` false: liveness checks) waiting in the queue one after
    // another share one read of /proc, made when the first of them starts
    // (after all of them were asked): sshd's session_closes arriving one by
    // one during a grace cost one scan per turn of the worker, not one each.
    void run_step(bool signals, std::function<Answer(const std::atomic<bool>* stop, const TableSource& table)> step);
    std::vector<Target> targets(const std::vector<Session>& sessions) const;
    void signal_step(const std::vector<Session>& sessions, const std::vector<Session>& staying, int sig,
                     BatchDone done);
    // Records a step's outcome (loop thread) and answers it.
    void finish_signal(int sig, std::vector<Signalled> out, const BatchDone& done);

    Signaller& signaller_;
    DiscoveryOptions opts_;
    std::string proc_root_;
    ProcReader read_;
    std::vector<FoundProcess> last_;
    // Processes signalled in step 1, per session key: step 2 also hits those
    // still alive even if they left the session's tree meanwhile.
    std::map<std::string, std::vector<FoundProcess>> signalled_;
    std::unique_ptr<Worker> worker_;  // null without a poster
};

// Asynchronous D-Bus method calls (sd_bus_call_async) whose replies are
// handled from the event loop the bus is attached to. Each answer callback
// runs once (reply, error or timeout) and is caught at the C boundary;
// destroying the object cancels the calls still pending. At most
// `max_in_flight` calls await a reply at a time; the others wait their turn
// in order: the system bus refuses a connection more than 128 pending
// replies (dbus-daemon's max_replies_per_connection, LimitsExceeded), and
// 1,000 sessions ending at once are 1,000 TerminateSession calls.
class AsyncBus {
public:
    // The reply, or nullptr with `error` set ("org.freedesktop.login1.NoSuchSession: ...").
    using Reply = std::function<void(sd_bus_message* reply, const std::string& error_name, const std::string& error)>;
    static constexpr std::size_t kMaxInFlight = 64;
    explicit AsyncBus(sd_bus* bus, std::size_t max_in_flight = kMaxInFlight);  // takes a reference
    ~AsyncBus();
    AsyncBus(const AsyncBus&) = delete;
    AsyncBus& operator=(const AsyncBus&) = delete;
    sd_bus* bus() const { return bus_; }
    // `m` is a method call message (consumed). `done` runs exactly once unless
    // this object is destroyed first; when the call cannot even be sent it
    // runs with the error (at once, or when its turn comes). The timeout
    // counts from the sending.
    void call(sd_bus_message* m, std::uint64_t timeout_usec, Reply done);
    std::size_t pending() const { return pending_.size() + waiting_.size(); }  // sent or waiting
    std::size_t in_flight() const { return pending_.size(); }
    // The connection was lost (the bus daemon stopped or restarted): a new one
    // to the same address, attached to the same event loop (never waited for:
    // a unix socket's connect answers at once; authentication is dispatched
    // by the loop). False while the bus cannot be reached. `on_reopen` runs
    // after each success (to add matches again).
    bool reopen();
    // The connection to build a call's message on: bus(), opened again first
    // when it was closed (still closed if the bus cannot be reached: the call
    // then fails at once).
    sd_bus* connection();
    std::function<void(sd_bus*)> on_reopen;

private:
    struct Pending;
    struct Waiting {
        sd_bus_message* m;  // owned
        std::uint64_t timeout_usec;
        Reply done;
    };
    static int on_reply(sd_bus_message* m, void* userdata, sd_bus_error* ret_error);
    void send(sd_bus_message* m, std::uint64_t timeout_usec, Reply done);
    void send_waiting();  // while there is room
    sd_bus* bus_;
    sd_event* event_;  // the loop `bus_` was attached to when given (null: none)
    std::size_t max_in_flight_;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, Pending*> pending_;
    std::deque<Waiting> waiting_;
};

// With logind: org.freedesktop.login1.Manager.TerminateSession(s) and
// KillSession(s, "all", SIGKILL); GetSession(s) to test liveness; the
// SessionRemoved signal confirms an end as soon as logind has dropped the
// session. Sessions without a logind id go to `fallback`, and so does a step
// logind does not carry out (the system bus gone, logind not answering or
// refusing; anything but NoSuchSession): the session's processes are
// signalled instead, and `on_unreachable` is told why (a security.alert).
// The connection is opened again when the bus comes back. Every call is
// asynchronous with a bounded timeout.
// How long an answer from logind is awaited. Nothing waits for it (the calls
// are asynchronous), so it can be longer than a PAM budget: a slow logind
// still gets to answer before a step counts as failed.
inline constexpr std::uint64_t kLogindCallTimeoutUsec = 10'000'000;

class LogindTerminator final : public Terminator {
public:
    // Takes a reference on `bus` (the system bus, attached to the daemon's loop).
    LogindTerminator(sd_bus* bus, Terminator& fallback, std::uint64_t call_timeout_usec = kLogindCallTimeoutUsec);
    ~LogindTerminator() override;
    const char* name() const override { return "logind"; }
    void terminate(const Session& s, const std::vector<Session>& staying, Done done) override;
    void alive(const Session& s, const std::vector<Session>& staying, bool leader_closing, AliveDone done) override;
    void kill(const Session& s, const std::vector<Session>& staying, Done done) override;
    // One call per session (logind has no batch call); the sessions it cannot
    // end (no logind id, or the call not carried out) go to the fallback as
    // one batch, once every call has answered.
    void terminate_all(const std::vector<Session>& sessions, const std::vector<Session>& staying,
                       BatchDone done) override;
    void alive_all(const std::vector<Session>& sessions, const std::vector<Session>& staying, bool leader_closing,
                   AliveBatchDone done) override;
    void kill_all(const std::vector<Session>& sessions, const std::vector<Session>& staying, BatchDone done) override;
    // ListUsers, then for each user named: SetUserLinger(uid, false, false)
    // and TerminateUser(uid) (polite), or KillUser(uid, SIGKILL) (hard).
    // NoSuchUser counts as done (the user is gone). SetUserLinger answers
    // "no such file" when logind cannot look the user up (NSS no longer
    // resolves them once the window is over, with nss.retention = 0): not an
    // error, since logind starts no manager for a lingering user it cannot
    // resolve; the note says so.
    void end_users(const std::vector<std::string>& users, bool hard, UsersDone done) override;
    // Steps went to the fallback: what logind's calls answered (one line per batch).
    std::function<void(const std::string& what)> on_unreachable;

private:
    struct SignalBatch;
    struct AliveBatch;
    static int on_session_removed_signal(sd_bus_message* m, void* userdata, sd_bus_error* ret_error);
    void add_removed_match(sd_bus* bus);
    void signal_all(bool hard, const std::vector<Session>& sessions, const std::vector<Session>& staying,
                    BatchDone done);
    // A signalling batch's logind calls have all answered: what logind did
    // not do goes to the fallback.
    void settle(const std::shared_ptr<SignalBatch>& b);
    void settle(const std::shared_ptr<AliveBatch>& b);
    // Tells on_unreachable that `method` failed for `failed` and why.
    void unreachable(const char* method, const std::vector<Session>& failed, const std::string& error);
    AsyncBus calls_;
    Terminator& fallback_;
    std::uint64_t timeout_;
    sd_bus_slot* removed_match_ = nullptr;
    // Cleared at destruction: a fallback answer that comes later finds it gone.
    std::shared_ptr<bool> live_ = std::make_shared<bool>(true);
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
// ListSessions, then the properties of each session (one GetAll each), all
// asynchronous through `calls`. Error code "enforce.logind".
void logind_list_sessions(AsyncBus& calls, std::function<void(Result<std::vector<LogindSession>>)> done,
                          std::uint64_t timeout_usec = kLogindCallTimeoutUsec);

}  // namespace jit::enforce
