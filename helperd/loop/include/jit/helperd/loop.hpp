// The daemon's clock and timers, as an interface: the real one is sd-event
// (SdLoop, sd_loop.hpp in jit_helperd_core); tests use ManualLoop and move
// time by hand. Its own small library (jit_loop, helperd/loop/) shared by the
// daemon and the layers below it: enforce/ runs its timers and retention
// children on the daemon's loop through this interface alone.
#pragma once

#include <jit/grant.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>
#include <sys/types.h>

typedef struct sd_bus sd_bus;  // as <systemd/sd-bus.h> declares it

namespace jit::helperd {

class Loop {
public:
    using TimerId = std::uint64_t;  // 0 is never a valid id
    using Callback = std::function<void()>;
    // Receives the child's wait status (as waitpid(2) reports it).
    using ChildCallback = std::function<void(int wait_status)>;

    virtual ~Loop() = default;
    // Wall-clock time (UTC seconds): what grant windows are measured in.
    virtual UnixTime now() = 0;
    // Monotonic milliseconds: what timeouts and backoff are measured in.
    virtual std::int64_t monotonic_ms() = 0;
    // One-shot timer after `delay` on the monotonic clock.
    virtual TimerId call_after(std::chrono::milliseconds delay, Callback cb) = 0;
    // One-shot timer at wall-clock time `when` (CLOCK_REALTIME: follows clock jumps).
    virtual TimerId call_at(UnixTime when, Callback cb) = 0;
    // Cancels a pending timer or child watch; unknown or fired ids are ignored.
    // A cancelled child watch kills the child (SIGKILL) and reaps it.
    virtual void cancel(TimerId id) = 0;
    // Calls `cb` once, from the loop, when child `pid` (a child of this
    // process) has exited; the child is reaped. The loop never waits for it.
    virtual TimerId watch_child(pid_t pid, ChildCallback cb) = 0;
    // Calls `cb` from the loop each time the wall clock is set (by hand or an
    // NTP step), until cancelled. call_at timers follow the clock anyway; this
    // lets a component re-evaluate at once. 0 when the loop cannot tell.
    virtual TimerId on_clock_change(Callback cb) = 0;
    // Dispatches `bus`'s messages (asynchronous sd-bus calls and their
    // answers) from this loop; false when it cannot (ManualLoop).
    virtual bool attach_bus(sd_bus* bus) = 0;
    // Runs `cb` on the loop, soon and in posting order. The one member that
    // may be called from any thread: how a worker thread (account lookups,
    // accounts.hpp) hands its result back to the loop.
    virtual void post(Callback cb) = 0;
};

// A Loop for tests: time moves only through advance()/set_now(), and timers
// that come due run inside those calls, in time order.
class ManualLoop final : public Loop {
public:
    explicit ManualLoop(UnixTime start = 1764250000) : wall_ms_(std::int64_t(start) * 1000) {}
    UnixTime now() override { return wall_ms_ / 1000; }
    std::int64_t monotonic_ms() override { return mono_ms_; }
    TimerId call_after(std::chrono::milliseconds delay, Callback cb) override;
    TimerId call_at(UnixTime when, Callback cb) override;
    void cancel(TimerId id) override;
    TimerId watch_child(pid_t pid, ChildCallback cb) override;
    TimerId on_clock_change(Callback cb) override;  // set_wall() is a clock change
    bool attach_bus(sd_bus*) override { return false; }
    // Thread-safe; the callbacks run only inside run_posted().
    void post(Callback cb) override;

    // Runs the callbacks posted so far (and those they post); with `block`,
    // first waits until at least one has been posted. Returns how many ran.
    std::size_t run_posted(bool block);
    // Reaps the watched children that have exited and runs their callbacks;
    // with `block`, first waits until at least one has exited (if any is watched).
    // Returns how many callbacks ran.
    std::size_t reap_children(bool block);
    std::size_t watched_children() const { return children_.size(); }

    // Moves both clocks forward and runs due timers.
    void advance(std::chrono::milliseconds by);
    // Jumps the wall clock only (forward or backward), runs the clock-change
    // callbacks, then due wall timers.
    void set_wall(UnixTime t);
    std::size_t pending() const { return timers_.size(); }
    // Delay until the next monotonic timer, or -1 if none.
    std::int64_t next_monotonic_delay_ms() const;

private:
    struct Timer {
        bool wall;
        std::int64_t due_ms;
        Callback cb;
    };
    void run_due();
    std::int64_t wall_ms_;
    std::int64_t mono_ms_ = 1'000'000;
    TimerId next_id_ = 1;
    std::map<TimerId, Timer> timers_;
    std::map<TimerId, std::pair<pid_t, ChildCallback>> children_;
    std::map<TimerId, Callback> clock_watchers_;
    std::mutex posted_mu_;
    std::condition_variable posted_cv_;
    std::vector<Callback> posted_;
};

}  // namespace jit::helperd
