#include <jit/helperd/sd_loop.hpp>

#include <jit/helperd/boundary.hpp>

#include <cstdio>
#include <stdexcept>
#include <sys/wait.h>
#include <time.h>

namespace jit::helperd {

SdLoop::SdLoop(sd_event* event) : event_(sd_event_ref(event)) {}

SdLoop::~SdLoop() {
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

void SdLoop::cancel(TimerId id) {
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
