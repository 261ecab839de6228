// The Loop interface's clock-change hook and bus attachment, on ManualLoop
// (SdLoop's timerfd needs the system clock set, which a test must not do);
// post() from other threads on both loops; WorkerThread.
#include <jit/helperd/loop.hpp>
#include <jit/helperd/sd_loop.hpp>
#include <jit/helperd/worker_thread.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

using jit::helperd::ManualLoop;
using jit::helperd::SdLoop;

TEST(ManualLoop, ClockChangeCallbacksRunOnSetWallOnlyUntilCancelled) {
    ManualLoop loop(1000);
    int changes = 0;
    jit::UnixTime seen = 0;
    auto id = loop.on_clock_change([&] {
        ++changes;
        seen = loop.now();
    });
    ASSERT_NE(id, 0u);
    loop.advance(std::chrono::seconds(30));  // time passing is not a change
    EXPECT_EQ(changes, 0);
    loop.set_wall(500);                      // backwards
    EXPECT_EQ(changes, 1);
    EXPECT_EQ(seen, 500);                    // the callback sees the new time
    loop.cancel(id);
    loop.set_wall(5000);
    EXPECT_EQ(changes, 1);
}

TEST(ManualLoop, ClockChangeRunsBeforeTheWallTimersItMadeDue) {
    ManualLoop loop(1000);
    std::vector<std::string> order;
    loop.call_at(2000, [&] { order.push_back("timer"); });
    loop.on_clock_change([&] { order.push_back("clock"); });
    loop.set_wall(3000);
    EXPECT_EQ(order, (std::vector<std::string>{"clock", "timer"}));
}

TEST(ManualLoop, HasNoBusToDispatch) {
    ManualLoop loop;
    EXPECT_FALSE(loop.attach_bus(nullptr));
}

// What worker threads hand back reaches the loop thread, in posting order.
TEST(ManualLoop, PostedCallbacksRunInsideRunPostedInOrder) {
    ManualLoop loop;
    std::vector<int> ran;
    std::thread t([&] {
        for (int i = 0; i < 3; ++i) loop.post([&ran, i] { ran.push_back(i); });
    });
    t.join();
    EXPECT_TRUE(ran.empty());  // only inside run_posted()
    EXPECT_EQ(loop.run_posted(false), 3u);
    EXPECT_EQ(ran, (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(loop.run_posted(false), 0u);
}

TEST(SdLoop, PostFromAnotherThreadWakesTheLoop) {
    sd_event* ev = nullptr;
    ASSERT_GE(sd_event_new(&ev), 0);
    int ran = 0;
    {
        SdLoop loop(ev);
        std::thread t([&] {
            loop.post([&ran] { ++ran; });
            loop.post([&ran, ev] {
                ++ran;
                sd_event_exit(ev, 0);
            });
        });
        EXPECT_GE(sd_event_loop(ev), 0);  // returns only when the second callback ran
        t.join();
    }
    EXPECT_EQ(ran, 2);
    sd_event_unref(ev);
}

// WorkerThread: jobs run on its thread, in order; what they return runs on
// the loop (ManualLoop: inside run_posted), never after the worker is gone.
TEST(WorkerThread, JobsRunOffTheLoopAndAnswerOnIt) {
    ManualLoop loop;
    std::vector<int> answered;
    std::vector<std::thread::id> ran_on;
    std::mutex mu;
    {
        jit::helperd::WorkerThread worker(loop, "test");
        for (int i = 0; i < 3; ++i)
            worker.submit([&, i]() -> ManualLoop::Callback {
                std::lock_guard<std::mutex> lock(mu);
                ran_on.push_back(std::this_thread::get_id());
                return [&answered, i] { answered.push_back(i); };
            });
        EXPECT_EQ(worker.outstanding(), 3u);
        while (answered.size() < 3) loop.run_posted(true);
        EXPECT_EQ(answered, (std::vector<int>{0, 1, 2}));
        EXPECT_EQ(worker.outstanding(), 0u);
    }
    ASSERT_EQ(ran_on.size(), 3u);
    for (auto id : ran_on) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(WorkerThread, AThrowingJobAnswersNothingAndIsCounted) {
    ManualLoop loop;
    jit::helperd::WorkerThread worker(loop, "test");
    bool later = false;
    worker.submit([]() -> ManualLoop::Callback { throw std::runtime_error("disk on fire"); });
    worker.submit([&]() -> ManualLoop::Callback { return [&] { later = true; }; });
    while (!later) loop.run_posted(true);
    EXPECT_EQ(worker.outstanding(), 0u);
}

TEST(WorkerThread, NoAnswerRunsAfterTheWorkerIsGone) {
    ManualLoop loop;
    bool answered = false;
    std::atomic<bool> ran{false};
    {
        jit::helperd::WorkerThread worker(loop, "test");
        worker.submit([&]() -> ManualLoop::Callback {
            ran = true;
            return [&] { answered = true; };
        });
        while (!ran) std::this_thread::yield();
    }  // joined; its answer is posted but the worker is gone
    loop.run_posted(false);
    EXPECT_FALSE(answered);
}
