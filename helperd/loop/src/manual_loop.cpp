#include <jit/helperd/loop.hpp>

#include <csignal>
#include <cerrno>
#include <sys/wait.h>

namespace jit::helperd {

Loop::TimerId ManualLoop::call_after(std::chrono::milliseconds delay, Callback cb) {
    TimerId id = next_id_++;
    timers_[id] = Timer{false, mono_ms_ + delay.count(), std::move(cb)};
    return id;
}

Loop::TimerId ManualLoop::call_at(UnixTime when, Callback cb) {
    TimerId id = next_id_++;
    timers_[id] = Timer{true, std::int64_t(when) * 1000, std::move(cb)};
    return id;
}

void ManualLoop::cancel(TimerId id) {
    timers_.erase(id);
    clock_watchers_.erase(id);
    if (auto it = children_.find(id); it != children_.end()) {
        ::kill(it->second.first, SIGKILL);
        while (::waitpid(it->second.first, nullptr, 0) < 0 && errno == EINTR) {
        }
        children_.erase(it);
    }
}

Loop::TimerId ManualLoop::watch_child(pid_t pid, ChildCallback cb) {
    TimerId id = next_id_++;
    children_[id] = {pid, std::move(cb)};
    return id;
}

std::size_t ManualLoop::reap_children(bool block) {
    std::size_t ran = 0;
    for (bool first = true;; first = false) {
        for (auto it = children_.begin(); it != children_.end();) {
            int status = 0;
            pid_t r = ::waitpid(it->second.first, &status, WNOHANG);
            if (r == 0 || (r < 0 && errno == EINTR)) {
                ++it;
                continue;
            }
            ChildCallback cb = std::move(it->second.second);
            it = children_.erase(it);
            ++ran;
            cb(r < 0 ? -1 : status);
            it = children_.begin();  // the callback may have added or cancelled watches
        }
        if (ran > 0 || !block || children_.empty()) return ran;
        // A test's wait: the manual loop has no event source to sleep on.
        if (!first) ::usleep(10000);
    }
}

void ManualLoop::run_due() {
    for (;;) {
        auto best = timers_.end();
        for (auto it = timers_.begin(); it != timers_.end(); ++it) {
            const bool due = it->second.wall ? it->second.due_ms <= wall_ms_ : it->second.due_ms <= mono_ms_;
            if (due && best == timers_.end()) best = it;
        }
        if (best == timers_.end()) return;
        Callback cb = std::move(best->second.cb);
        timers_.erase(best);
        cb();
    }
}

void ManualLoop::advance(std::chrono::milliseconds by) {
    // Step through due timers in order so callbacks see the right time.
    std::int64_t target_mono = mono_ms_ + by.count();
    std::int64_t target_wall = wall_ms_ + by.count();
    for (;;) {
        std::int64_t next = target_mono;
        for (const auto& [id, t] : timers_) {
            std::int64_t at = t.wall ? mono_ms_ + (t.due_ms - wall_ms_) : t.due_ms;
            if (at < next) next = at;
        }
        if (next < mono_ms_) next = mono_ms_;
        wall_ms_ += next - mono_ms_;
        mono_ms_ = next;
        run_due();
        if (mono_ms_ >= target_mono) break;
    }
    wall_ms_ = target_wall;
    run_due();
}

Loop::TimerId ManualLoop::on_clock_change(Callback cb) {
    const TimerId id = next_id_++;
    clock_watchers_[id] = std::move(cb);
    return id;
}

void ManualLoop::set_wall(UnixTime t) {
    wall_ms_ = std::int64_t(t) * 1000;
    const auto watchers = clock_watchers_;  // a callback may cancel
    for (const auto& [id, cb] : watchers)
        if (clock_watchers_.count(id)) cb();
    run_due();
}

void ManualLoop::post(Callback cb) {
    {
        std::lock_guard<std::mutex> lock(posted_mu_);
        posted_.push_back(std::move(cb));
    }
    posted_cv_.notify_all();
}

std::size_t ManualLoop::run_posted(bool block) {
    std::size_t ran = 0;
    for (;;) {
        std::vector<Callback> now;
        {
            std::unique_lock<std::mutex> lock(posted_mu_);
            if (block && ran == 0) posted_cv_.wait(lock, [this] { return !posted_.empty(); });
            now.swap(posted_);
        }
        if (now.empty()) return ran;
        for (auto& cb : now) {
            ++ran;
            cb();
        }
    }
}

std::int64_t ManualLoop::next_monotonic_delay_ms() const {
    std::int64_t best = -1;
    for (const auto& [id, t] : timers_)
        if (!t.wall && (best < 0 || t.due_ms - mono_ms_ < best)) best = t.due_ms - mono_ms_;
    return best;
}

}  // namespace jit::helperd
