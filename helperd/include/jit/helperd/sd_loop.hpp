// Loop on sd-event: the daemon's single-threaded event loop.
#pragma once

#include <jit/helperd/loop.hpp>

#include <systemd/sd-event.h>

#include <map>
#include <mutex>
#include <vector>

namespace jit::helperd {

class SdLoop final : public Loop {
public:
    explicit SdLoop(sd_event* event);  // takes a reference
    ~SdLoop() override;
    SdLoop(const SdLoop&) = delete;
    SdLoop& operator=(const SdLoop&) = delete;

    UnixTime now() override;
    std::int64_t monotonic_ms() override;
    TimerId call_after(std::chrono::milliseconds delay, Callback cb) override;
    TimerId call_at(UnixTime when, Callback cb) override;
    void cancel(TimerId id) override;
    // An sd-event child source (pidfd): SIGCHLD must be blocked in the
    // process (jit-helperd blocks it at start). A cancelled watch kills the child.
    TimerId watch_child(pid_t pid, ChildCallback cb) override;
    // A timerfd armed with TFD_TIMER_CANCEL_ON_SET: readable (ECANCELED)
    // whenever CLOCK_REALTIME is set.
    TimerId on_clock_change(Callback cb) override;
    bool attach_bus(sd_bus* bus) override;
    // A queue under a mutex and an eventfd the loop watches.
    void post(Callback cb) override;
    sd_event* event() const { return event_; }
    // Accuracy of every timer the daemon adds to sd-event: 0 would mean
    // sd-event's default of 250 ms, and window edges, publishing, ending
    // sessions and curl's "call me now" must not run that late.
    static constexpr std::uint64_t kAccuracyUsec = 1000;

private:
    struct Timer {
        SdLoop* loop;
        TimerId id;
        sd_event_source* source = nullptr;
        Callback cb;
    };
    struct Child {
        SdLoop* loop;
        TimerId id;
        sd_event_source* source = nullptr;
        ChildCallback cb;
    };
    TimerId add(clockid_t clock, std::uint64_t usec, Callback cb);
    static int on_timer(sd_event_source* s, uint64_t usec, void* userdata);
    static int on_child(sd_event_source* s, const siginfo_t* si, void* userdata);
    static int on_clock_set(sd_event_source* s, int fd, uint32_t revents, void* userdata);
    bool arm_clock_fd();
    static int on_posted(sd_event_source* s, int fd, uint32_t revents, void* userdata);
    sd_event* event_;
    TimerId next_id_ = 1;
    std::map<TimerId, Timer*> timers_;
    std::map<TimerId, Child*> children_;
    std::map<TimerId, Callback> clock_watchers_;
    sd_event_source* clock_source_ = nullptr;
    int clock_fd_ = -1;
    std::mutex posted_mu_;
    std::vector<Callback> posted_;
    int post_fd_ = -1;
    sd_event_source* post_source_ = nullptr;
};

}  // namespace jit::helperd
