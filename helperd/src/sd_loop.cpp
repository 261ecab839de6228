#include <jit/helperd/sd_loop.hpp>

#include <jit/helperd/boundary.hpp>

#include <systemd/sd-bus.h>

#include <cstdio>
#include <limits>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

namespace jit::helperd {

SdLoop::SdLoop(sd_event* event) : event_(sd_event_ref(event)) {
    post_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (post_fd_ < 0 || sd_event_add_io(event_, &post_source_, post_fd_, EPOLLIN, &SdLoop::on_posted, this) < 0) {
        if (post_fd_ >= 0) ::close(post_fd_);
        sd_event_unref(event_);
        throw std::runtime_error("cannot create the loop's wake-up eventfd");
    }
}

SdLoop::~SdLoop() {
    sd_event_source_disable_unref(post_source_);
    ::close(post_fd_);
    if (clock_source_) sd_event_source_disable_unref(clock_source_);
    if (clock_fd_ >= 0) ::close(clock_fd_);
    for (auto& [id, t] : timers_) {
        sd_event_source_disable_unref(t->source);
        delete t;
    }
    for (auto& [id, c] : children_) {
        sd_event_source_disable_unref(c->source);  // owned: sd-event kills and reaps the child
        delete c;
    }
    sd_event_unref(event_);
}

UnixTime SdLoop::now() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

std::int64_t SdLoop::monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int SdLoop::on_timer(sd_event_source*, uint64_t, void* userdata) {
    auto* t = static_cast<Timer*>(userdata);
    SdLoop* loop = t->loop;
    Callback cb = std::move(t->cb);
    loop->timers_.erase(t->id);
    sd_event_source_disable_unref(t->source);
    delete t;
    return at_c_boundary("timer", cb);
}

Loop::TimerId SdLoop::add(clockid_t clock, std::uint64_t usec, Callback cb) {
    auto* t = new Timer{this, next_id_++, nullptr, std::move(cb)};
    int r = sd_event_add_time(event_, &t->source, clock, usec, kAccuracyUsec, &SdLoop::on_timer, t);
    if (r < 0) {
        delete t;
        throw std::runtime_error("sd_event_add_time failed");
    }
    timers_[t->id] = t;
    return t->id;
}

Loop::TimerId SdLoop::call_after(std::chrono::milliseconds delay, Callback cb) {
    std::uint64_t now_us = 0;
    sd_event_now(event_, CLOCK_MONOTONIC, &now_us);
    const std::int64_t ms = delay.count() < 0 ? 0 : delay.count();
    return add(CLOCK_MONOTONIC, now_us + std::uint64_t(ms) * 1000, std::move(cb));
}

Loop::TimerId SdLoop::call_at(UnixTime when, Callback cb) {
    return add(CLOCK_REALTIME, when <= 0 ? 1 : std::uint64_t(when) * 1000000ULL, std::move(cb));
}

int SdLoop::on_child(sd_event_source*, const siginfo_t* si, void* userdata) {
    auto* c = static_cast<Child*>(userdata);
    ChildCallback cb = std::move(c->cb);
    c->loop->children_.erase(c->id);
    // The status as waitpid(2) would give it. The source owns the (exited)
    // child: freeing it reaps it.
    int status = si->si_code == CLD_EXITED ? W_EXITCODE(si->si_status, 0) : W_EXITCODE(0, si->si_status);
    sd_event_source_disable_unref(c->source);
    delete c;
    try {
        cb(status);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jit-helperd: child callback failed: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "jit-helperd: child callback failed\n");
    }
    return 0;
}

Loop::TimerId SdLoop::watch_child(pid_t pid, ChildCallback cb) {
    auto* c = new Child{this, next_id_++, nullptr, std::move(cb)};
    int r = sd_event_add_child(event_, &c->source, pid, WEXITED, &SdLoop::on_child, c);
    if (r < 0) {
        delete c;
        throw std::runtime_error("sd_event_add_child failed (is SIGCHLD blocked?)");
    }
    sd_event_source_set_child_process_own(c->source, 1);
    children_[c->id] = c;
    return c->id;
}

bool SdLoop::attach_bus(sd_bus* bus) { return sd_bus_attach_event(bus, event_, SD_EVENT_PRIORITY_NORMAL) >= 0; }

bool SdLoop::arm_clock_fd() {
    itimerspec its{};
    its.it_value.tv_sec = std::numeric_limits<time_t>::max() / 2;
    return timerfd_settime(clock_fd_, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, nullptr) == 0;
}

Loop::TimerId SdLoop::on_clock_change(Callback cb) {
    if (clock_fd_ < 0) {
        clock_fd_ = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
        if (clock_fd_ < 0) return 0;
        if (!arm_clock_fd() || sd_event_add_io(event_, &clock_source_, clock_fd_, EPOLLIN, &SdLoop::on_clock_set, this) < 0) {
            ::close(clock_fd_);
            clock_fd_ = -1;
            clock_source_ = nullptr;
            return 0;
        }
    }
    const TimerId id = next_id_++;
    clock_watchers_[id] = std::move(cb);
    return id;
}

int SdLoop::on_clock_set(sd_event_source*, int fd, uint32_t, void* userdata) {
    auto* loop = static_cast<SdLoop*>(userdata);
    std::uint64_t ticks = 0;
    (void)!::read(fd, &ticks, sizeof ticks);  // ECANCELED after a clock change
    loop->arm_clock_fd();
    const auto watchers = loop->clock_watchers_;  // a callback may cancel
    for (const auto& [id, cb] : watchers)
        if (loop->clock_watchers_.count(id)) at_c_boundary("clock change", cb);
    return 0;
}

void SdLoop::post(Callback cb) {
    {
        std::lock_guard<std::mutex> lock(posted_mu_);
        posted_.push_back(std::move(cb));
    }
    const std::uint64_t one = 1;
    (void)!::write(post_fd_, &one, sizeof one);  // EAGAIN: the counter is already non-zero
}

int SdLoop::on_posted(sd_event_source*, int fd, uint32_t, void* userdata) {
    auto* loop = static_cast<SdLoop*>(userdata);
    std::uint64_t count = 0;
    (void)!::read(fd, &count, sizeof count);
    std::vector<Callback> now;
    {
        std::lock_guard<std::mutex> lock(loop->posted_mu_);
        now.swap(loop->posted_);
    }
    for (auto& cb : now) at_c_boundary("posted callback", cb);
    return 0;
}

void SdLoop::cancel(TimerId id) {
    clock_watchers_.erase(id);
    if (auto c = children_.find(id); c != children_.end()) {
        sd_event_source_disable_unref(c->second->source);
        delete c->second;
        children_.erase(c);
        return;
    }
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    sd_event_source_disable_unref(it->second->source);
    delete it->second;
    timers_.erase(it);
}

}  // namespace jit::helperd
