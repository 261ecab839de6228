// verify_and_accept: the five acceptance rules in order, each at its boundary,
// with an injected clock.
#include "test_signer.hpp"

#include <jit/bundle.hpp>

#include <gtest/gtest.h>

#include <limits>

namespace jit {
namespace {

using test::good_grant;
using test::good_payload;
using test::kIssued;
using test::read_file;
using test::Signer;
using test::to_bytes;
using test::vector_path;

AcceptContext context(std::int64_t last_revision = 0, std::string last_payload = "") {
    AcceptContext ctx;
    ctx.host_id = "web-01";
    ctx.last_revision = last_revision;
    ctx.last_payload = std::move(last_payload);
    ctx.now = kIssued + 60;
    ctx.clock_skew = 300;
    return ctx;
}

class Accept : public ::testing::Test {
protected:
    Signer signer_;
    TrustedKeys keys_ = signer_.trusted();

    Result<AcceptedBundle> accept(const Json::Value& payload, const AcceptContext& ctx) {
        return verify_and_accept(signer_.envelope(to_bytes(payload)), keys_, ctx);
    }
    static std::string code(const Result<AcceptedBundle>& r) { return r.ok() ? "accepted" : r.error().code; }
};

TEST(SharedVector, IsAcceptedWithTwoGrantsAtRevision42) {
    TrustedKeys keys;
    ASSERT_TRUE(keys.add_pem("authority-test", read_file(vector_path("authority-test.pub"))).ok());
    AcceptContext ctx = context();
    ctx.now = 1764250300;
    const auto r = verify_and_accept(read_file(vector_path("envelope.json")), keys, ctx);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->payload.revision, 42);
    ASSERT_EQ(r->payload.grants.size(), 2U);
    EXPECT_EQ(r->payload.grants[0].id, "g-7f3a");
    EXPECT_EQ(r->payload.grants[1].id, "g-88aa");
    EXPECT_EQ(r->envelope.payload, read_file(vector_path("payload.json")));
    EXPECT_FALSE(is_stale(r->payload, ctx.now));
}

TEST(SharedVector, TamperedEnvelopeFailsOnTheSignature) {
    TrustedKeys keys;
    ASSERT_TRUE(keys.add_pem("authority-test", read_file(vector_path("authority-test.pub"))).ok());
    AcceptContext ctx = context();
    ctx.now = 1764250300;
    const auto r = verify_and_accept(read_file(vector_path("envelope-tampered.json")), keys, ctx);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "signature");
    EXPECT_NE(r.error().message.find("signature"), std::string::npos);
}

TEST_F(Accept, Rule1UnknownKeyId) {
    const std::string env = signer_.envelope(to_bytes(good_payload()), "authority-2031");
    const auto r = verify_and_accept(env, keys_, context());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "key_id");
    EXPECT_NE(r.error().message.find("authority-2031"), std::string::npos);
}

TEST_F(Accept, Rule1SignatureBeforeAnythingElse) {
    // A payload that breaks every other rule still reports the signature first.
    Json::Value p = good_payload(1);
    p["host_id"] = "db-07";
    p["grants"][0]["uid"] = 5;
    const std::string bytes = to_bytes(p);
    const std::string env = Signer::envelope_raw("test-key", base64_encode(bytes), base64_encode(Signer().sign(bytes)));
    const auto r = verify_and_accept(env, keys_, context(10));
    EXPECT_EQ(code(r), "signature");
}

TEST_F(Accept, Rule1SignedGarbageIsStillRejected) {
    const auto r = verify_and_accept(signer_.envelope("not json"), keys_, context());
    EXPECT_EQ(code(r), "payload");
}

TEST_F(Accept, Rule2TypeAndHost) {
    Json::Value p = good_payload();
    p["type"] = "jit.grants.v0";
    EXPECT_EQ(code(accept(p, context())), "type");

    AcceptContext other = context();
    other.host_id = "web-02";
    const auto r = accept(good_payload(), other);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "host_id");
    EXPECT_NE(r.error().message.find("web-02"), std::string::npos);

    AcceptContext unset = context();
    unset.host_id = "";
    EXPECT_EQ(code(accept(good_payload(), unset)), "host_id");
    // Host ids compare exactly: no case folding.
    AcceptContext upper = context();
    upper.host_id = "WEB-01";
    EXPECT_EQ(code(accept(good_payload(), upper)), "host_id");
}

TEST_F(Accept, Rule2HostBeforeGrants) {
    Json::Value p = good_payload();
    p["grants"][0]["uid"] = 5;
    AcceptContext other = context();
    other.host_id = "web-02";
    EXPECT_EQ(code(accept(p, other)), "host_id");
}

TEST_F(Accept, Rule3HigherRevisionAccepted) {
    EXPECT_EQ(code(accept(good_payload(42), context(41))), "accepted");
    EXPECT_EQ(code(accept(good_payload(1), context(0))), "accepted");
}

TEST_F(Accept, Rule3EqualRevisionWithIdenticalBytesAccepted) {
    const std::string bytes = to_bytes(good_payload(42));
    const auto r = verify_and_accept(signer_.envelope(bytes), keys_, context(42, bytes));
    EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST_F(Accept, Rule3EqualRevisionWithDifferentBytesIsAFork) {
    const std::string before = to_bytes(good_payload(42));
    Json::Value changed = good_payload(42);
    changed["grants"][0]["not_after"] = Json::Int64{kIssued + 7200};
    const auto r = accept(changed, context(42, before));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "fork");
    // Even one byte of whitespace is a different payload.
    EXPECT_EQ(code(verify_and_accept(signer_.envelope(before + " "), keys_, context(42, before))), "fork");
    // Without the previous bytes an equal revision cannot be proven identical.
    EXPECT_EQ(code(accept(good_payload(42), context(42, ""))), "fork");
}

TEST_F(Accept, Rule3LowerRevisionIsARollback) {
    const auto r = accept(good_payload(41), context(42, to_bytes(good_payload(42))));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "revision");
    EXPECT_NE(r.error().message.find("rollback"), std::string::npos);
}

TEST_F(Accept, Rule4IssuedAtSkewBoundary) {
    AcceptContext ctx = context();
    ctx.now = kIssued - 300;  // issued_at exactly at the allowance
    EXPECT_EQ(code(accept(good_payload(), ctx)), "accepted");
    ctx.now = kIssued - 301;  // one second past it
    const auto r = accept(good_payload(), ctx);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "issued_at");
    EXPECT_NE(r.error().message.find("301 s in the future"), std::string::npos);
    ctx.clock_skew = 0;
    ctx.now = kIssued;
    EXPECT_EQ(code(accept(good_payload(), ctx)), "accepted");
    ctx.now = kIssued - 1;
    EXPECT_EQ(code(accept(good_payload(), ctx)), "issued_at");
}

TEST_F(Accept, Rule4ExpiresAtMustFollowIssuedAt) {
    Json::Value p = good_payload();
    p["expires_at"] = Json::Int64{kIssued};
    EXPECT_EQ(code(accept(p, context())), "expires_at");
    p["expires_at"] = Json::Int64{kIssued + 1};
    EXPECT_EQ(code(accept(p, context())), "accepted");
}

TEST_F(Accept, Rule4ExtremeClocksDoNotOverflow) {
    AcceptContext ctx = context();
    ctx.now = std::numeric_limits<std::int64_t>::min();
    EXPECT_EQ(code(accept(good_payload(), ctx)), "issued_at");
    ctx.now = std::numeric_limits<std::int64_t>::max();
    EXPECT_EQ(code(accept(good_payload(), ctx)), "accepted");
    ctx.clock_skew = std::numeric_limits<std::int64_t>::max();
    ctx.now = -1;  // issued_at - now fits, and is within an unbounded allowance
    EXPECT_EQ(code(accept(good_payload(), ctx)), "accepted");
    ctx.now = std::numeric_limits<std::int64_t>::min();  // the true difference exceeds even INT64_MAX
    EXPECT_EQ(code(accept(good_payload(), ctx)), "issued_at");
}

TEST_F(Accept, Rule5OneBadGrantRejectsTheBundle) {
    Json::Value p = good_payload();
    p["grants"].append(good_grant("g-1", "bob"));
    const auto r = accept(p, context());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "grant");
    EXPECT_NE(r.error().message.find("grants[1]"), std::string::npos);
}

TEST_F(Accept, RulesApplyInOrder) {
    Json::Value p = good_payload(5);
    p["grants"][0]["uid"] = 5;       // rule 5
    p["expires_at"] = Json::Int64{kIssued};  // rule 4
    EXPECT_EQ(code(accept(p, context(9))), "revision");  // rule 3 first
    EXPECT_EQ(code(accept(p, context(1))), "expires_at");
    p["expires_at"] = Json::Int64{kIssued + 900};
    EXPECT_EQ(code(accept(p, context(1))), "grant");
}

TEST_F(Accept, AnExpiredBundleIsAcceptedButStale) {
    AcceptContext ctx = context();
    ctx.now = kIssued + 901;
    const auto r = accept(good_payload(), ctx);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(is_stale(r->payload, ctx.now));
}

TEST(AcceptanceRule, MapsEveryCodeToItsRule) {
    for (const char* c : {"envelope", "key_id", "signature"}) EXPECT_EQ(acceptance_rule(c), 1) << c;
    for (const char* c : {"type", "host_id"}) EXPECT_EQ(acceptance_rule(c), 2) << c;
    for (const char* c : {"revision", "fork"}) EXPECT_EQ(acceptance_rule(c), 3) << c;
    for (const char* c : {"issued_at", "expires_at"}) EXPECT_EQ(acceptance_rule(c), 4) << c;
    for (const char* c : {"payload", "grant", "revoked"}) EXPECT_EQ(acceptance_rule(c), 5) << c;
    EXPECT_EQ(acceptance_rule("trusted_keys"), 0);
    EXPECT_EQ(acceptance_rule("nonsense"), 0);
}

TEST(Staleness, BeginsOneSecondAfterExpiresAt) {
    GrantsPayload p;
    p.issued_at = 100;
    p.expires_at = 200;
    EXPECT_FALSE(is_stale(p, 199));
    EXPECT_FALSE(is_stale(p, 200));
    EXPECT_TRUE(is_stale(p, 201));
    EXPECT_FALSE(is_stale(200, 200));
    EXPECT_TRUE(is_stale(200, 201));
}

}  // namespace
}  // namespace jit
