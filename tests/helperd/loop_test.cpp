// The Loop interface's clock-change hook and bus attachment, on ManualLoop
// (SdLoop's timerfd needs the system clock set, which a test must not do).
#include <jit/helperd/loop.hpp>

#include <gtest/gtest.h>

using jit::helperd::ManualLoop;

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
