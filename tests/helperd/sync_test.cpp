// The sync state machine with a fake transport and a manual clock.
#include <jit/helperd/sync.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace jit::helperd;
using jit::test::FakeTransport;
using jit::test::Signer;
using jit::test::TestGrant;

namespace {

class SyncTest : public ::testing::Test {
protected:
    SyncTest() : keys_(signer_.keys()) {
        settings_.poll_wait = 55;
        settings_.backoff_min = 1;
        settings_.backoff_max = 60;
        SyncEngine::Hooks h;
        h.keys = [this]() -> const jit::TrustedKeys& { return keys_; };
        h.context = [this] {
            jit::AcceptContext c;
            c.last_revision = revision_;
            c.last_payload = payload_;
            return c;
        };
        h.accepted = [this](jit::AcceptedBundle b, std::string) {
            revision_ = b.payload.revision;
            payload_ = b.envelope.payload;
            ++accepted_;
        };
        h.rejected = [this](const jit::Error& e, const std::string&) { rejections_.push_back(e.code); };
        h.tls_failed = [this](const std::string& error) { tls_alerts_.push_back(error); };
        engine_ = std::make_unique<SyncEngine>(settings_, authority_, loop_, h, 42);
    }

    std::string bundle(std::int64_t revision, const std::string& host = "web-01") {
        const auto now = loop_.now();
        return signer_.envelope(jit::test::payload_json(host, revision, now, now + 900,
                                                        {TestGrant{"g-1", "alice", true, false, now, now + 3600}}));
    }
    // Runs timers that are due now.
    void tick() { loop_.advance(std::chrono::milliseconds(0)); }

    Signer signer_;
    jit::TrustedKeys keys_;
    ManualLoop loop_;
    FakeTransport transport_;
    AuthorityClient authority_{transport_, AuthorityTarget{"https://jit.example.com", "web-01", 10}};
    SyncSettings settings_;
    std::unique_ptr<SyncEngine> engine_;
    std::int64_t revision_ = 0;
    std::string payload_;
    int accepted_ = 0;
    std::vector<std::string> rejections_;
    std::vector<std::string> tls_alerts_;
};

}  // namespace

TEST_F(SyncTest, FirstPollAsksForEverythingThenLongPollsFromTheAcceptedRevision) {
    engine_->start();
    EXPECT_EQ(transport_.started, 0);  // from the loop, not inside start()
    tick();
    ASSERT_EQ(transport_.pending.size(), 1u);
    EXPECT_EQ(transport_.pending[0].request.url, "https://jit.example.com/v1/hosts/web-01/grants?after=0&wait=55");
    EXPECT_EQ(transport_.pending[0].request.method, "GET");
    EXPECT_GT(transport_.pending[0].request.total_timeout, std::chrono::seconds(55));
    EXPECT_LE(transport_.pending[0].request.connect_timeout, std::chrono::seconds(authority_.target().connect_timeout));
    transport_.answer(200, bundle(3));
    EXPECT_EQ(accepted_, 1);
    EXPECT_EQ(revision_, 3);
    EXPECT_TRUE(engine_->status().last_ok);
    EXPECT_EQ(engine_->status().last_result, "accepted revision 3");
    tick();
    ASSERT_EQ(transport_.pending.size(), 1u);
    EXPECT_EQ(transport_.pending[0].request.url, "https://jit.example.com/v1/hosts/web-01/grants?after=3&wait=55");
}

TEST_F(SyncTest, NotModifiedPollsAgainAtOnce) {
    engine_->start();
    tick();
    transport_.answer(200, bundle(1));
    tick();
    transport_.answer(304);
    EXPECT_EQ(engine_->status().last_result, "not modified");
    EXPECT_EQ(engine_->status().consecutive_failures, 0);
    tick();
    ASSERT_EQ(transport_.pending.size(), 1u);
    EXPECT_NE(transport_.pending[0].request.url.find("after=1&"), std::string::npos);
    EXPECT_EQ(accepted_, 1);
}

TEST_F(SyncTest, FailuresBackOffExponentiallyWithJitterUpToTheCap) {
    engine_->start();
    tick();
    std::int64_t previous_base = 0;
    for (int failure = 1; failure <= 10; ++failure) {
        ASSERT_EQ(transport_.pending.size(), 1u) << failure;
        transport_.answer(0, "", "Couldn't connect to server");
        EXPECT_EQ(engine_->status().consecutive_failures, failure);
        const std::int64_t delay = loop_.next_monotonic_delay_ms();
        std::int64_t base = std::min<std::int64_t>(1000LL << (failure - 1), 60000);
        EXPECT_GE(delay, base / 2) << failure;
        EXPECT_LE(delay, base) << failure;
        EXPECT_GE(base, previous_base);
        previous_base = base;
        // Nothing is sent before the delay...
        loop_.advance(std::chrono::milliseconds(delay - 1));
        EXPECT_TRUE(transport_.pending.empty()) << failure;
        // ...and the retry goes out when it elapses.
        loop_.advance(std::chrono::milliseconds(1));
    }
    EXPECT_NE(engine_->status().last_result.find("Couldn't connect"), std::string::npos);
    transport_.answer(200, bundle(1));
    EXPECT_EQ(engine_->status().consecutive_failures, 0);
}

// An authority whose certificate does not verify (expired, wrong name, unknown
// CA) is reported to the owner (a security.alert) once per distinct error, not
// once per poll; a plain connection failure is not; a success re-arms it.
TEST_F(SyncTest, TlsVerificationFailureIsReportedOncePerDistinctErrorUntilASuccess) {
    const std::string expired = "SSL peer certificate or SSH remote key was not OK: certificate has expired";
    const std::string name = "SSL peer certificate or SSH remote key was not OK: no alternative certificate subject name";
    engine_->start();
    auto retry = [this] { loop_.advance(std::chrono::milliseconds(loop_.next_monotonic_delay_ms())); };
    tick();
    transport_.answer_tls_failure(expired);
    retry();
    transport_.answer_tls_failure(expired);
    retry();
    transport_.answer(0, "", "Couldn't connect to server");
    retry();
    transport_.answer_tls_failure(expired);
    EXPECT_EQ(tls_alerts_, std::vector<std::string>{expired});
    EXPECT_EQ(engine_->status().consecutive_failures, 4);
    EXPECT_NE(engine_->status().last_result.find("certificate has expired"), std::string::npos);
    EXPECT_EQ(accepted_, 0);
    retry();
    transport_.answer_tls_failure(name);
    EXPECT_EQ(tls_alerts_, (std::vector<std::string>{expired, name}));
    retry();
    transport_.answer(200, bundle(1));
    EXPECT_EQ(accepted_, 1);
    tick();
    transport_.answer_tls_failure(name);
    EXPECT_EQ(tls_alerts_, (std::vector<std::string>{expired, name, name}));
}

TEST_F(SyncTest, JsonErrorBodyIsReported) {
    engine_->start();
    tick();
    transport_.answer(403, R"({"error":"forbidden","message":"unknown host web-01"})");
    EXPECT_EQ(engine_->status().last_result, "error: HTTP 403: forbidden: unknown host web-01");
    EXPECT_FALSE(engine_->status().last_ok);
}

TEST_F(SyncTest, RejectedBundleChangesNothingAndBacksOff) {
    engine_->start();
    tick();
    transport_.answer(200, bundle(5));
    ASSERT_EQ(revision_, 5);
    const std::string before = payload_;
    tick();
    // Rollback to an older revision.
    transport_.answer(200, bundle(4));
    ASSERT_EQ(rejections_.size(), 1u);
    EXPECT_EQ(rejections_[0], "revision");
    EXPECT_EQ(revision_, 5);
    EXPECT_EQ(payload_, before);
    EXPECT_EQ(engine_->status().bundles_rejected, 1u);
    EXPECT_TRUE(transport_.pending.empty());
    EXPECT_GT(loop_.next_monotonic_delay_ms(), 0);
    loop_.advance(std::chrono::seconds(2));
    ASSERT_EQ(transport_.pending.size(), 1u);
    // Another host's bundle, then a forged signature: both rejected.
    transport_.answer(200, bundle(6, "web-02"));
    loop_.advance(std::chrono::seconds(5));
    Signer mallory;
    const auto now = loop_.now();
    transport_.answer(200, mallory.envelope(jit::test::payload_json("web-01", 7, now, now + 900, {})));
    ASSERT_EQ(rejections_.size(), 3u);
    EXPECT_EQ(rejections_[1], "host_id");
    EXPECT_EQ(rejections_[2], "signature");
    EXPECT_EQ(revision_, 5);
    EXPECT_EQ(accepted_, 1);
}

TEST_F(SyncTest, SameRevisionAnsweredAtOnceDoesNotSpin) {
    engine_->start();
    tick();
    const std::string b = bundle(2);
    transport_.answer(200, b);
    tick();
    transport_.answer(200, b);  // identical bytes, same revision: accepted, but no progress
    EXPECT_TRUE(rejections_.empty());
    EXPECT_TRUE(transport_.pending.empty());
    EXPECT_EQ(loop_.next_monotonic_delay_ms(), 1000);
}

TEST_F(SyncTest, StopCancelsTheLongPollAndRestartUsesNewSettings) {
    engine_->start();
    tick();
    ASSERT_EQ(transport_.pending.size(), 1u);
    SyncSettings s = settings_;
    authority_.set_target(AuthorityTarget{"https://other.example.com", "web-01", 10});
    s.poll_wait = 10;
    engine_->restart(s);
    EXPECT_EQ(transport_.cancelled, 1);
    tick();
    ASSERT_EQ(transport_.pending.size(), 1u);
    EXPECT_EQ(transport_.pending[0].request.url, "https://other.example.com/v1/hosts/web-01/grants?after=0&wait=10");
    engine_->stop();
    EXPECT_TRUE(transport_.pending.empty());
    loop_.advance(std::chrono::seconds(100));
    EXPECT_TRUE(transport_.pending.empty());
}

TEST(DescribeHttpError, NonJsonBodyIsTruncatedAndSanitised) {
    HttpResponse r{502, std::string("<html>\nBad gateway\n</html>") + std::string(500, 'x'), ""};
    std::string d = describe_http_error(r);
    EXPECT_EQ(d.rfind("error: HTTP 502: <html> Bad gateway", 0), 0u);
    EXPECT_LT(d.size(), 260u);
    EXPECT_EQ(describe_http_error(HttpResponse{0, "", "Timeout was reached"}), "error: Timeout was reached");
}
