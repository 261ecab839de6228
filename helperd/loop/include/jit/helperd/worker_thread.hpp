// One thread beside the daemon's loop for work that may take long (the file
// system, NSS): jobs run there in the order given, and what each job returns
// runs afterwards on the loop (Loop::post). The loop itself never waits.
//
// Stopping (the destructor): jobs not started are dropped, a running one is
// let finish (joined), and no answer runs on the loop after the WorkerThread
// is gone. A job that throws is reported on stderr and answers nothing, so a
// job that must always answer catches inside.
#pragma once

#include <jit/helperd/loop.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace jit::helperd {

class WorkerThread {
public:
    using Job = std::function<Loop::Callback()>;  // runs on the thread; what it returns runs on the loop
    WorkerThread(Loop& loop, std::string name);
    ~WorkerThread();
    WorkerThread(const WorkerThread&) = delete;
    WorkerThread& operator=(const WorkerThread&) = delete;

    void submit(Job job);
    // Jobs given and not yet answered on the loop (read on the loop).
    std::size_t outstanding() const { return outstanding_; }

private:
    void run();
    Loop& loop_;
    const std::string name_;
    // Whether this WorkerThread still exists: cleared on the loop thread by the
    // destructor; answers posted to the loop check it before running.
    const std::shared_ptr<bool> live_ = std::make_shared<bool>(true);
    std::size_t outstanding_ = 0;  // the loop's count
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    bool stop_ = false;
    std::thread thread_;  // last: starts once the rest is built
};

}  // namespace jit::helperd
