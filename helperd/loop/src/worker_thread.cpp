#include <jit/helperd/worker_thread.hpp>

#include <cstdio>
#include <exception>
#include <utility>

namespace jit::helperd {

WorkerThread::WorkerThread(Loop& loop, std::string name)
    : loop_(loop), name_(std::move(name)), thread_([this] { run(); }) {}

WorkerThread::~WorkerThread() {
    *live_ = false;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        jobs_.clear();
    }
    cv_.notify_one();
    thread_.join();
}

void WorkerThread::submit(Job job) {
    ++outstanding_;
    {
        std::lock_guard<std::mutex> lock(mu_);
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
}

void WorkerThread::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (stop_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        Loop::Callback answer;
        try {
            answer = job();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "jit-helperd: %s: a job failed: %s\n", name_.c_str(), e.what());
        } catch (...) {
            std::fprintf(stderr, "jit-helperd: %s: a job failed\n", name_.c_str());
        }
        // The count goes down on the loop, with or without an answer.
        loop_.post([this, live = live_, answer = std::move(answer)] {
            if (!*live) return;
            --outstanding_;
            if (answer) answer();
        });
    }
}

}  // namespace jit::helperd
