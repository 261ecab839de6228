// The durable upload queue against a fake transport and a fake clock. Crashes
// are simulated by destroying the queue object at a chosen point and reopening
// the same spool directory (the on-disk state is all that survives a kill -9).
#include "jit/upload.hpp"

#include <gtest/gtest.h>
#include <json/json.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

using namespace jit;
using namespace jit::upload;
namespace fs = std::filesystem;

namespace {

// Records batches; answers immediately when `auto_answer` is set, otherwise
// holds the callbacks until the test answers them.
struct FakeTransport : EventTransport {
    std::vector<Batch> sent;
    std::vector<Done> waiting;
    std::optional<SendResult> auto_answer;
    void send(const Batch& batch, Done done) override {
        sent.push_back(batch);
        if (auto_answer) done(*auto_answer);
        else waiting.push_back(std::move(done));
    }
    void answer(SendResult r) {
        ASSERT_FALSE(waiting.empty());
        Done d = std::move(waiting.front());
        waiting.erase(waiting.begin());
        d(std::move(r));
    }
};

SendResult ok() { return {true, 204, ""}; }
SendResult unavailable() { return {false, 503, "try later"}; }

// The reference authority's behaviour: keeps each seq once.
struct FakeAuthority {
    std::map<std::uint64_t, std::string> events;
    std::size_t duplicates = 0;
    void receive(const Batch& b) {
        for (const auto& e : b.events)
            if (!events.emplace(e.seq, e.json).second) ++duplicates;
    }
};

audit::Event ev(const std::string& user, audit::EventType t = audit::EventType::LoginAllowed) {
    audit::Event e{t, "event for " + user, {}};
    e.add("JIT_USER", user).add("JIT_GRANT_ID", "g-" + user).add("JIT_UID", 70001);
    return e;
}

class UploadQueueTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir = (fs::temp_directory_path() / ("jit-upload-test-" + std::to_string(getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                  .string();
        fs::remove_all(dir);
        opt.fsync = false;  // tmpfs/test speed; the fsync path is the same code
        opt.rng_seed = 42;
    }
    void TearDown() override { fs::remove_all(dir); }

    std::unique_ptr<UploadQueue> open(EventTransport& t) {
        auto q = UploadQueue::open(dir, t, local, opt, [this] { return now_ms; });
        EXPECT_TRUE(q.ok()) << (q.ok() ? "" : q.error().message);
        return q.ok() ? std::move(q.value()) : nullptr;
    }
    std::size_t spool_files() const {
        std::size_t n = 0;
        for (const auto& e : fs::directory_iterator(dir))
            if (e.path().filename().string().starts_with("spool-")) ++n;
        return n;
    }

    std::string dir;
    UploadOptions opt;
    std::int64_t now_ms = 1764250000000;
    audit::RecordingSink local;
};

}  // namespace

TEST(UploadJson, EventObjectFollowsProtocol) {
    auto e = ev("alice");
    e.add("JIT_NOT_AFTER", "1764253600").add("JIT_REASON", "line1\nline2");
    std::string j = event_json(e, 17, 1764250123);
    Json::Value v;
    std::istringstream in(j);
    ASSERT_TRUE(Json::parseFromStream(Json::CharReaderBuilder(), in, &v, nullptr));
    EXPECT_EQ(v["seq"].asUInt64(), 17u);
    EXPECT_EQ(v["time"].asInt64(), 1764250123);
    EXPECT_EQ(v["type"].asString(), "login.allowed");
    EXPECT_EQ(v["user"].asString(), "alice");
    EXPECT_EQ(v["grant_id"].asString(), "g-alice");
    EXPECT_TRUE(v["uid"].isIntegral());
    EXPECT_EQ(v["not_after"].asInt64(), 1764253600);
    EXPECT_EQ(v["reason"].asString(), "line1\nline2");
    EXPECT_EQ(j.find('\n'), std::string::npos);  // one spool line per event
    // Quotes, backslashes and control characters survive the round trip;
    // a field cannot take over seq/type, and the first of two equal names wins.
    auto f = ev("bob");
    f.add("JIT_COMMAND", std::string("say \"hi\" \\ \x01\x7f\t\r end")).add("JIT_SEQ", "99").add("JIT_TYPE", "x")
        .add("JIT_USER", "mallory");
    Json::Value w;
    std::istringstream in2(event_json(f, 5, 6));
    ASSERT_TRUE(Json::parseFromStream(Json::CharReaderBuilder(), in2, &w, nullptr));
    EXPECT_EQ(w["command"].asString(), std::string("say \"hi\" \\ \x01\x7f\t\r end"));
    EXPECT_EQ(w["seq"].asUInt64(), 5u);
    EXPECT_EQ(w["type"].asString(), "login.allowed");
    EXPECT_EQ(w["user"].asString(), "bob");
    Batch b{{{17, j}, {18, j}}};
    EXPECT_EQ(b.body().rfind("{\"events\":[", 0), 0u);
}

TEST(UploadJson, ValuesStayValidUtf8AndBounded) {
    auto e = ev("alice");
    e.add("JIT_RHOST", std::string("bad\xff\xc0\x80host\xe2\x82")).add("JIT_COMMAND", std::string(100000, 'a'))
        .add("JIT_REASON", "caf\xc3\xa9 \xf0\x9f\x94\x91");
    std::string j = event_json(e, 1, 1);
    EXPECT_LT(j.size(), 64u * 1024);
    Json::Value v;
    std::istringstream in(j);
    ASSERT_TRUE(Json::parseFromStream(Json::CharReaderBuilder(), in, &v, nullptr)) << j.substr(0, 200);
    EXPECT_EQ(v["rhost"].asString(), "bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDhost\xEF\xBF\xBD\xEF\xBF\xBD");
    EXPECT_EQ(v["reason"].asString(), "caf\xc3\xa9 \xf0\x9f\x94\x91");  // valid UTF-8 untouched
    EXPECT_EQ(v["command"].asString().size(), 4096u + std::string("...[truncated]").size());
}

TEST_F(UploadQueueTest, SendsInOrderAndForgetsOnlyAfterAck) {
    FakeTransport t;
    auto q = open(t);
    ASSERT_TRUE(q);
    ASSERT_TRUE(q->enqueue(ev("a")).ok());
    ASSERT_TRUE(q->enqueue(ev("b")).ok());
    ASSERT_TRUE(q->enqueue(ev("c")).ok());
    ASSERT_EQ(t.sent.size(), 1u);  // one batch in flight at a time
    EXPECT_EQ(t.sent[0].first_seq(), 1u);
    EXPECT_EQ(t.sent[0].events.size(), 1u);
    EXPECT_EQ(q->stats().pending, 3u);
    t.answer(ok());
    ASSERT_EQ(t.sent.size(), 2u);  // the rest go as one batch
    EXPECT_EQ(t.sent[1].first_seq(), 2u);
    EXPECT_EQ(t.sent[1].last_seq(), 3u);
    EXPECT_EQ(q->stats().acked_through, 1u);
    t.answer(ok());
    EXPECT_EQ(q->stats().pending, 0u);
    EXPECT_EQ(q->stats().acked_through, 3u);
    EXPECT_EQ(spool_files(), 0u);  // acknowledged segments are deleted
    EXPECT_FALSE(q->next_wakeup_ms());
}

// With group commit, acks are written to `state` once an interval (not once
// per batch), before a spool file they cover goes, and at a clean shutdown.
TEST_F(UploadQueueTest, AcksAreSavedOnceAnIntervalAndAtShutdown) {
    opt.sync_interval_ms = 1000;
    opt.segment_max_events = 100;  // no spool file completes here
    auto state = [this] {
        std::ifstream in(dir + "/state");
        return std::string((std::istreambuf_iterator<char>(in)), {});
    };
    FakeTransport t;
    {
        auto q = open(t);
        ASSERT_TRUE(q->enqueue(ev("a")).ok());
        ASSERT_TRUE(q->enqueue(ev("b")).ok());
        ASSERT_EQ(t.sent.size(), 1u);  // a in flight, b waits
        t.answer(ok());                // a acknowledged, b sent: the spool file still holds b
        EXPECT_EQ(q->stats().acked_through, 1u);
        EXPECT_EQ(state(), "");        // not yet
        ASSERT_TRUE(q->next_wakeup_ms());
        EXPECT_EQ(*q->next_wakeup_ms(), now_ms + 1000);
        now_ms += 1000;
        q->pump();
        EXPECT_EQ(state(), "acked_through 1\n");
        EXPECT_FALSE(q->next_wakeup_ms());  // b in flight, nothing due
        t.answer(ok());                     // b too: the spool file goes, its ack first
        EXPECT_EQ(spool_files(), 0u);
        EXPECT_EQ(state(), "acked_through 2\n");
        ASSERT_TRUE(q->enqueue(ev("c")).ok());
        ASSERT_TRUE(q->enqueue(ev("d")).ok());
        t.answer(ok());  // c
        EXPECT_EQ(q->stats().acked_through, 3u);
        EXPECT_EQ(state(), "acked_through 2\n");
    }  // clean shutdown
    EXPECT_EQ(state(), "acked_through 3\n");
    auto q = open(t);
    EXPECT_EQ(q->stats().pending, 1u);  // d, never acknowledged
    EXPECT_EQ(q->stats().next_seq, 5u);
}

TEST_F(UploadQueueTest, SeqContinuesAcrossRestarts) {
    FakeTransport t;
    t.auto_answer = ok();
    {
        auto q = open(t);
        ASSERT_TRUE(q->enqueue(ev("a")).ok());
        ASSERT_TRUE(q->enqueue(ev("b")).ok());
        EXPECT_EQ(q->stats().next_seq, 3u);
    }
    auto q = open(t);
    EXPECT_EQ(q->stats().next_seq, 3u);
    ASSERT_TRUE(q->enqueue(ev("c")).ok());
    EXPECT_EQ(t.sent.back().first_seq(), 3u);
}

TEST_F(UploadQueueTest, CrashBeforeSendLosesNothing) {
    {
        FakeTransport down;  // never answers: the "send" never happened as far as the disk knows
        auto q = open(down);
        for (auto u : {"a", "b", "c", "d"}) ASSERT_TRUE(q->enqueue(ev(u)).ok());
    }  // kill -9
    FakeTransport t;
    FakeAuthority auth;
    auto q = open(t);
    EXPECT_EQ(q->stats().pending, 4u);
    q->pump();
    ASSERT_EQ(t.sent.size(), 1u);
    auth.receive(t.sent[0]);
    t.answer(ok());
    EXPECT_EQ(auth.events.size(), 4u);
    EXPECT_EQ(auth.events.begin()->first, 1u);
    EXPECT_EQ(auth.events.rbegin()->first, 4u);
}

TEST_F(UploadQueueTest, CrashBetweenSendAndAckResendsAndAuthorityDeduplicates) {
    FakeAuthority auth;
    {
        FakeTransport t;
        auto q = open(t);
        for (auto u : {"a", "b", "c"}) ASSERT_TRUE(q->enqueue(ev(u)).ok());
        ASSERT_EQ(t.sent.size(), 1u);
        auth.receive(t.sent[0]);  // the authority stored seq 1...
        t.answer(ok());           // ...and we got the ack for it
        ASSERT_EQ(t.sent.size(), 2u);
        auth.receive(t.sent[1]);  // it stored 2..3, but we die before the ack arrives
        // The late callback must be harmless after the queue is gone.
        auto late = std::move(t.waiting.front());
        q.reset();
        late(ok());
    }
    FakeTransport t;
    t.auto_answer = ok();
    auto q = open(t);
    EXPECT_EQ(q->stats().acked_through, 1u);
    q->pump();
    ASSERT_EQ(t.sent.size(), 1u);
    EXPECT_EQ(t.sent[0].first_seq(), 2u);
    EXPECT_EQ(t.sent[0].last_seq(), 3u);
    auth.receive(t.sent[0]);
    EXPECT_EQ(auth.duplicates, 2u);      // re-sent...
    EXPECT_EQ(auth.events.size(), 3u);   // ...but nothing lost or stored twice
    EXPECT_EQ(q->stats().pending, 0u);
    // And the next event continues the sequence.
    ASSERT_TRUE(q->enqueue(ev("d")).ok());
    EXPECT_EQ(t.sent.back().first_seq(), 4u);
}

TEST_F(UploadQueueTest, CrashAfterAckDoesNotResend) {
    {
        FakeTransport t;
        t.auto_answer = ok();
        auto q = open(t);
        ASSERT_TRUE(q->enqueue(ev("a")).ok());
    }
    FakeTransport t;
    auto q = open(t);
    q->pump();
    EXPECT_TRUE(t.sent.empty());
    EXPECT_EQ(q->stats().pending, 0u);
}

TEST_F(UploadQueueTest, RetriesWithExponentialBackoffAndJitter) {
    opt.backoff_initial_ms = 1000;
    opt.backoff_max_ms = 8000;
    FakeTransport t;
    auto q = open(t);
    ASSERT_TRUE(q->enqueue(ev("a")).ok());
    std::int64_t expected = 1000;
    for (int attempt = 1; attempt <= 6; ++attempt) {
        ASSERT_EQ(t.sent.size(), static_cast<std::size_t>(attempt));
        t.answer(unavailable());
        auto wake = q->next_wakeup_ms();
        ASSERT_TRUE(wake);
        std::int64_t delay = *wake - now_ms;
        EXPECT_GE(delay, expected / 2) << "attempt " << attempt;
        EXPECT_LE(delay, expected) << "attempt " << attempt;
        EXPECT_EQ(q->stats().consecutive_failures, static_cast<std::uint32_t>(attempt));
        EXPECT_EQ(q->stats().last_error, "HTTP 503: try later");
        q->pump();  // too early: nothing is sent
        EXPECT_EQ(t.sent.size(), static_cast<std::size_t>(attempt));
        now_ms = *wake;
        q->pump();
        expected = std::min<std::int64_t>(expected * 2, 8000);
    }
    t.answer(ok());
    EXPECT_EQ(q->stats().pending, 0u);
    EXPECT_EQ(q->stats().consecutive_failures, 0u);
    EXPECT_TRUE(q->stats().last_error.empty());
    // Every attempt carried the same event.
    for (const auto& b : t.sent) EXPECT_EQ(b.first_seq(), 1u);
}

TEST_F(UploadQueueTest, WakeupCallbackFollowsState) {
    FakeTransport t;
    auto q = open(t);
    std::vector<std::optional<std::int64_t>> wakes;
    q->set_wakeup_callback([&](std::optional<std::int64_t> w) { wakes.push_back(w); });
    ASSERT_TRUE(q->enqueue(ev("a")).ok());
    ASSERT_FALSE(wakes.empty());
    EXPECT_FALSE(wakes.back());  // in flight: nothing to do until the answer
    t.answer(unavailable());
    ASSERT_TRUE(wakes.back());
    EXPECT_GT(*wakes.back(), now_ms);
}

// Group commit (what jit-helperd runs with): events are written to the spool
// at once, fdatasync'd together when the interval is up, and only then sent.
TEST_F(UploadQueueTest, GroupCommitSendsOnlySyncedEventsAtTheInterval) {
    opt.fsync = true;
    opt.sync_interval_ms = 1000;
    FakeTransport t;
    auto q = open(t);
    std::vector<std::optional<std::int64_t>> wakes;
    q->set_wakeup_callback([&](std::optional<std::int64_t> w) { wakes.push_back(w); });
    const std::int64_t t0 = now_ms;
    ASSERT_TRUE(q->enqueue(ev("a")).ok());
    now_ms += 10;
    ASSERT_TRUE(q->enqueue(ev("b")).ok());
    EXPECT_TRUE(t.sent.empty());
    EXPECT_EQ(q->stats().unsynced, 2u);
    ASSERT_TRUE(wakes.back());
    EXPECT_EQ(*wakes.back(), t0 + 1000);  // from the first unsynced event, not the last
    // Written at once: a crash of the daemon now loses nothing.
    std::string spooled;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().starts_with("spool-")) {
            std::ifstream in(e.path());
            spooled.assign(std::istreambuf_iterator<char>(in), {});
        }
    EXPECT_NE(spooled.find("event for a"), std::string::npos);
    EXPECT_NE(spooled.find("event for b"), std::string::npos);

    now_ms = t0 + 999;
    q->pump();
    EXPECT_TRUE(t.sent.empty());
    now_ms = t0 + 1000;
    q->pump();
    ASSERT_EQ(t.sent.size(), 1u);
    EXPECT_EQ(t.sent[0].first_seq(), 1u);
    EXPECT_EQ(t.sent[0].last_seq(), 2u);
    EXPECT_EQ(q->stats().unsynced, 0u);

    ASSERT_TRUE(q->enqueue(ev("c")).ok());  // while a batch is in flight
    t.answer(ok());
    EXPECT_EQ(t.sent.size(), 1u);  // c is not synced yet
    ASSERT_TRUE(wakes.back());
    EXPECT_EQ(*wakes.back(), t0 + 2000);
    q->sync();  // e.g. at shutdown: at once
    ASSERT_EQ(t.sent.size(), 2u);
    EXPECT_EQ(t.sent[1].first_seq(), 3u);
}

TEST_F(UploadQueueTest, GroupCommitAcrossSegmentsAndRestart) {
    opt.fsync = true;
    opt.sync_interval_ms = 1000;
    opt.segment_max_events = 2;
    {
        FakeTransport down;
        auto q = open(down);
        for (auto u : {"a", "b", "c", "d", "e"}) ASSERT_TRUE(q->enqueue(ev(u)).ok());
        EXPECT_EQ(spool_files(), 3u);
        // Moving to a new segment syncs the old one first, so a and b could go.
        ASSERT_EQ(down.sent.size(), 1u);
        EXPECT_EQ(down.sent[0].last_seq(), 2u);
        EXPECT_EQ(q->stats().unsynced, 1u);  // e, alone in the third segment
    }  // the daemon stops (or is killed: the lines are in the files either way)
    FakeTransport t;
    FakeAuthority auth;
    t.auto_answer = ok();
    auto q = open(t);
    EXPECT_EQ(q->stats().pending, 5u);
    EXPECT_EQ(q->stats().unsynced, 0u);  // what was spooled before is synced at open and may go
    q->pump();
    for (const auto& b : t.sent) auth.receive(b);
    EXPECT_EQ(auth.events.size(), 5u);
    EXPECT_EQ(auth.duplicates, 0u);
    EXPECT_EQ(q->stats().next_seq, 6u);
}

// With real fsyncs: acks are saved without waiting for the disk, but a spool
// file goes only after the ack that covers it is durable; after a restart the
// seq continues and nothing acknowledged is sent again.
TEST_F(UploadQueueTest, AcknowledgedSpoolFilesGoAndSeqContinuesWithRealSync) {
    opt.fsync = true;
    opt.sync_interval_ms = 1000;
    opt.segment_max_events = 2;
    FakeTransport t;
    t.auto_answer = ok();
    {
        auto q = open(t);
        for (auto u : {"a", "b", "c"}) ASSERT_TRUE(q->enqueue(ev(u)).ok());
        q->sync();
        EXPECT_EQ(q->stats().acked_through, 3u);
        EXPECT_EQ(spool_files(), 0u);
        std::ifstream in(dir + "/state");
        std::string state((std::istreambuf_iterator<char>(in)), {});
        EXPECT_EQ(state, "acked_through 3\n");
    }
    const std::size_t sent_before = t.sent.size();
    auto q = open(t);
    EXPECT_EQ(q->stats().pending, 0u);
    EXPECT_EQ(q->stats().next_seq, 4u);
    q->pump();
    EXPECT_EQ(t.sent.size(), sent_before);
}

TEST_F(UploadQueueTest, FullQueueDropsOldestOnlyAfterLoudAlert) {
    opt.max_events = 10;
    opt.drop_chunk = 4;
    FakeTransport t;
    t.auto_answer = unavailable();
    auto q = open(t);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(q->enqueue(ev("u" + std::to_string(i))).ok());
    EXPECT_EQ(local.count(audit::EventType::SecurityAlert), 0u);
    ASSERT_TRUE(q->enqueue(ev("u10")).ok());  // the 11th overflows
    ASSERT_EQ(local.count(audit::EventType::SecurityAlert), 1u);
    const auto* alert = local.last(audit::EventType::SecurityAlert);
    EXPECT_EQ(alert->field("JIT_ALERT"), "upload.queue_full");
    EXPECT_EQ(alert->field("JIT_COUNT"), "4");
    EXPECT_NE(alert->message.find("seq 1..4"), std::string::npos) << alert->message;
    // 10 - 4 dropped + the alert + u10
    EXPECT_EQ(q->stats().pending, 8u);
    EXPECT_EQ(q->stats().dropped_total, 4u);
    EXPECT_EQ(q->stats().next_seq, 13u);
    // The authority comes back: it gets 5..12, including the alert that explains the gap.
    q.reset();
    FakeTransport t2;
    t2.auto_answer = ok();
    FakeAuthority auth;
    auto q2 = open(t2);
    q2->pump();
    for (const auto& b : t2.sent) auth.receive(b);
    ASSERT_EQ(auth.events.size(), 8u);
    EXPECT_EQ(auth.events.begin()->first, 5u);
    EXPECT_NE(auth.events[11].find("\"type\":\"security.alert\""), std::string::npos) << auth.events[11];
    EXPECT_NE(auth.events[12].find("\"user\":\"u10\""), std::string::npos);
}

TEST_F(UploadQueueTest, TornLastRecordIsCutAndReported) {
    {
        FakeTransport down;
        auto q = open(down);
        ASSERT_TRUE(q->enqueue(ev("a")).ok());
        ASSERT_TRUE(q->enqueue(ev("b")).ok());
    }
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().starts_with("spool-")) {
            std::ofstream f(e.path(), std::ios::app);
            f << "{\"seq\":3,\"type\":\"login.al";  // power cut mid-append
        }
    FakeTransport t;
    t.auto_answer = ok();
    FakeAuthority auth;
    auto q = open(t);
    ASSERT_EQ(local.count(audit::EventType::SecurityAlert), 1u);
    EXPECT_EQ(local.last(audit::EventType::SecurityAlert)->field("JIT_ALERT"), "upload.spool_corrupt");
    q->pump();
    for (const auto& b : t.sent) auth.receive(b);
    ASSERT_EQ(auth.events.size(), 3u);  // a, b and the alert (seq 3)
    EXPECT_NE(auth.events[3].find("upload.spool_corrupt"), std::string::npos);
}

// A state or spool file that cannot be used never stops the queue from
// opening (jit-helperd would crash-loop): it is set aside with a
// state_corrupt alert, and what is readable goes on (docs/audit.md).
TEST_F(UploadQueueTest, UnusableStateAndSpoolFilesAreSetAsideNotFatal) {
    {
        FakeTransport down;
        auto q = open(down);
        ASSERT_TRUE(q->enqueue(ev("a")).ok());
        ASSERT_TRUE(q->enqueue(ev("b")).ok());
    }
    std::ofstream(dir + "/state") << "garbage\n";
    fs::create_directory(dir + "/spool-00000000000000000090.jsonl");  // cannot be read as a file
    std::ofstream(dir + "/spool-00000000000000000050.jsonl") << "{\"seq\":50,\"type\":\"x\"}\nnot json\n";
    FakeTransport t;
    t.auto_answer = ok();
    FakeAuthority auth;
    auto q = open(t);
    ASSERT_NE(q, nullptr);
    std::map<std::string, std::string> aside;  // path -> archive
    for (const auto& e : local.events)
        if (e.field("JIT_ALERT") == "state_corrupt") aside[std::string(*e.field("JIT_PATH"))] = *e.field("JIT_ARCHIVE");
    ASSERT_EQ(aside.size(), 3u);
    EXPECT_TRUE(fs::exists(aside[dir + "/state"]));
    EXPECT_FALSE(fs::exists(dir + "/state"));
    EXPECT_TRUE(fs::is_directory(aside[dir + "/spool-00000000000000000090.jsonl"]));
    // The spool file with an unreadable record is kept in place (its seq 50 is
    // still to be sent) and a copy stays after it goes.
    EXPECT_TRUE(fs::exists(dir + "/spool-00000000000000000050.jsonl"));
    EXPECT_TRUE(fs::exists(aside[dir + "/spool-00000000000000000050.jsonl"]));
    q->pump();
    for (const auto& b : t.sent) auth.receive(b);
    EXPECT_TRUE(auth.events.count(1) && auth.events.count(2) && auth.events.count(50));  // re-sent: state was lost
    EXPECT_GE(q->stats().next_seq, 51u);
    EXPECT_TRUE(fs::exists(aside[dir + "/spool-00000000000000000050.jsonl"]));
}

// Garbage where the spool directory belongs is set aside and a new spool made.
TEST_F(UploadQueueTest, AFileAtTheSpoolDirectoryIsSetAside) {
    std::ofstream(dir) << "not a directory\n";
    FakeTransport t;
    auto q = open(t);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(fs::is_directory(dir));
    ASSERT_GE(local.count(audit::EventType::SecurityAlert), 1u);
    const auto* alert = local.last(audit::EventType::SecurityAlert);
    EXPECT_EQ(alert->field("JIT_ALERT"), "state_corrupt");
    EXPECT_EQ(alert->field("JIT_PATH"), dir);
    EXPECT_TRUE(fs::is_regular_file(std::string(*alert->field("JIT_ARCHIVE"))));
    fs::remove(std::string(*alert->field("JIT_ARCHIVE")));
}

TEST_F(UploadQueueTest, SecondOwnerIsRefused) {
    FakeTransport t;
    auto q = open(t);
    auto again = UploadQueue::open(dir, t, local, opt);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, "upload.locked");
}

TEST_F(UploadQueueTest, UnwritableSpoolIsAnErrorNotASilentDrop) {
    opt.segment_max_events = 1;  // every event opens a new spool file
    FakeTransport t;
    auto q = open(t);
    audit::RecordingSink journal;
    UploadingSink tee(journal, *q);
    tee.emit(ev("a"));
    // The next spool file cannot be created (works as root too, unlike chmod).
    fs::create_directory(dir + "/spool-00000000000000000002.jsonl");
    tee.emit(ev("b"));
    ASSERT_EQ(journal.events.size(), 3u);
    EXPECT_EQ(journal.events[1].field("JIT_USER"), "b");  // the journal still has the event
    EXPECT_EQ(journal.events[2].field("JIT_ALERT"), "upload.spool_failed");
    EXPECT_NE(journal.events[2].message.find("spool-00000000000000000002.jsonl"), std::string::npos)
        << journal.events[2].message;
    EXPECT_EQ(q->stats().next_seq, 2u);  // no seq was burnt
}

TEST_F(UploadQueueTest, UploadingSinkTeesToJournalAndQueue) {
    FakeTransport t;
    FakeAuthority auth;
    auto q = open(t);
    audit::RecordingSink journal;
    UploadingSink tee(journal, *q);
    audit::Sink& sink = tee;
    sink.emit(ev("alice", audit::EventType::SudoAllowed));
    ASSERT_EQ(journal.count(audit::EventType::SudoAllowed), 1u);
    ASSERT_EQ(t.sent.size(), 1u);
    EXPECT_NE(t.sent[0].events[0].json.find("\"type\":\"sudo.allowed\""), std::string::npos);
}

TEST_F(UploadQueueTest, ThrowingTransportDoesNotWedgeTheQueue) {
    struct Throwing : EventTransport {
        int calls = 0;
        void send(const Batch&, Done) override {
            ++calls;
            throw std::runtime_error("no route");
        }
    } t;
    auto q = open(t);
    ASSERT_TRUE(q->enqueue(ev("a")).ok());
    EXPECT_EQ(t.calls, 1);
    EXPECT_FALSE(q->stats().in_flight);
    EXPECT_EQ(q->stats().last_error, "transport: no route");
    ASSERT_TRUE(q->next_wakeup_ms());
    now_ms = *q->next_wakeup_ms();
    q->pump();
    EXPECT_EQ(t.calls, 2);
    EXPECT_EQ(q->stats().pending, 1u);
}

TEST_F(UploadQueueTest, AlertSinkFeedingBackDoesNotRecurse) {
    // Misuse: the queue's `local` sink is an UploadingSink onto the same queue.
    opt.max_events = 3;
    opt.drop_chunk = 1;
    FakeTransport t;
    t.auto_answer = unavailable();
    audit::RecordingSink journal;
    std::unique_ptr<UploadQueue> q;
    struct Forward : audit::Sink {
        audit::Sink* target = nullptr;
        void emit(const audit::Event& e) override { target->emit(e); }
    } forward;
    auto opened = UploadQueue::open(dir, t, forward, opt, [this] { return now_ms; });
    ASSERT_TRUE(opened.ok());
    q = std::move(opened.value());
    UploadingSink tee(journal, *q);
    forward.target = &tee;
    for (int i = 0; i < 6; ++i) tee.emit(ev("u" + std::to_string(i)));
    EXPECT_GE(journal.count(audit::EventType::SecurityAlert), 1u);
    EXPECT_LE(q->stats().pending, 20u);  // without the guard: unbounded recursion, a crash
}

TEST_F(UploadQueueTest, RejectsBadOptions) {
    FakeTransport t;
    opt.max_events = 0;
    auto q = UploadQueue::open(dir, t, local, opt);
    ASSERT_FALSE(q.ok());
    EXPECT_EQ(q.error().code, "upload.options");
}
