// What Service tells the page and the webhooks (Service::on_change), and the
// webhook bodies and signature (authority/src/webhooks.cpp).
#include "fixture.hpp"

#include "webhooks.hpp"

#include <json/json.h>

namespace jit::authority::test {
namespace {

class ChangesTest : public AuthorityTest {
protected:
    void SetUp() override {
        AuthorityTest::SetUp();
        service_->add_host("web-01", {}, admin_);
        service_->on_change([this](const Service::Change& c) {
            // Listeners run after the commit: what they are told is already stored.
            if (c.kind.rfind("request.", 0) == 0) {
                EXPECT_EQ(service_->request_view(c.subject["id"].asString())["state"], c.subject["state"]);
            }
            seen_.push_back(c.kind + " " + c.actor);
            last_ = c;
        });
    }
    std::string submit(const Json::Value& body) {
        return service_->submit_request("web-01", body, "host", Caller{"host:web-01", "test"})["id"].asString();
    }
    std::vector<std::string> seen_;
    Service::Change last_;
};

TEST_F(ChangesTest, EachDecisionIsReportedOnceAfterItsCommit) {
    const std::string id = submit(ask("alice", 3600));
    EXPECT_EQ(seen_, std::vector<std::string>{"request.created host:web-01"});  // who did it, as in the action record
    EXPECT_EQ(last_.subject["state"], "pending");
    EXPECT_EQ(last_.host_id, "web-01");
    EXPECT_THROW(service_->approve(id, "", Caller{"alice", "t"}), ApiError);
    EXPECT_EQ(seen_.size(), 1u) << "a refused approval changes nothing";
    service_->approve(id, "first", Caller{"carol", "t"});
    EXPECT_EQ(seen_.back(), "request.approval carol");
    service_->approve(id, "second", Caller{"dave", "t"});
    EXPECT_EQ(seen_.back(), "request.approved dave");
    EXPECT_EQ(last_.subject["approvals"].size(), 2u);
    const std::string grant = last_.subject["grant_id"].asString();
    service_->extend_grant("web-01", grant, 600, admin_);
    EXPECT_EQ(seen_.back(), "grant.extended carol");
    service_->revoke_grant("web-01", grant, "done", admin_);
    EXPECT_EQ(seen_.back(), "grant.revoked carol");
    EXPECT_EQ(last_.subject["id"], grant);
    EXPECT_EQ(last_.subject["reason"], "done");
    EXPECT_EQ(last_.subject["user"], "alice");

    const std::string denied = submit(ask("alice", 60));
    service_->deny(denied, "not now", Caller{"dave", "t"});
    EXPECT_EQ(seen_.back(), "request.denied dave");
    EXPECT_EQ(last_.subject["message"], "not now");
    const std::string cancelled = submit(ask("alice", 60));
    service_->cancel(cancelled, Caller{"alice", "t"});
    EXPECT_EQ(seen_.back(), "request.cancelled alice");
    const std::string expired = submit(ask("alice", 60));
    now_ += 3600;
    service_->tick();
    EXPECT_EQ(seen_.back(), "request.expired authority");
    EXPECT_EQ(last_.subject["id"], expired);
    EXPECT_EQ(seen_.size(), 11u);
}

TEST_F(ChangesTest, WebhookBodiesForSlackAndPlainReceivers) {
    Json::Value body = ask("alice", 5400);
    body["ticket"] = "INC-7";
    body["sudo"]["commands"].append("/usr/bin/apt-get");
    submit(body);
    const std::string slack = Webhooks::slack_body(last_);
    Json::Value s = parse_body(slack);
    ASSERT_EQ(s.size(), 1u) << "only {\"text\"}: what Slack and Mattermost incoming webhooks take";
    const std::string text = s["text"].asString();
    EXPECT_NE(text.find("alice asks for login + sudo /usr/bin/apt-get as alice on web-01 for 1 h 30 min"),
              std::string::npos) << text;
    EXPECT_NE(text.find("(INC-7)"), std::string::npos) << text;
    EXPECT_NE(text.find("rule web-oncall, 2 approval(s) needed"), std::string::npos) << text;

    Json::Value p = parse_body(Webhooks::plain_body(last_, 1234));
    EXPECT_EQ(p["event"], "request.created");
    EXPECT_EQ(p["at"], 1234);
    EXPECT_EQ(p["host_id"], "web-01");
    EXPECT_EQ(p["request"]["request"]["ticket"], "INC-7");

    // Markup in what people typed is not markup in Slack.
    Json::Value sneaky = ask("alice", 60);
    sneaky["reason"] = "<!channel> & <https://evil|click>";
    submit(sneaky);
    const std::string t = parse_body(Webhooks::slack_body(last_))["text"].asString();
    EXPECT_EQ(t.find("<!channel>"), std::string::npos) << t;
    EXPECT_NE(t.find("&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"), std::string::npos) << t;
}

TEST_F(ChangesTest, SignatureIsHmacSha256OfTheBody) {
    // RFC 4231 test case 2.
    EXPECT_EQ(Webhooks::signature("Jefe", "what do ya want for nothing?"),
              "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_F(ChangesTest, OnlyDecisionsArePosted) {
    for (const char* k : {"request.created", "request.approved", "request.denied", "request.expired", "request.cancelled",
                          "grant.revoked"})
        EXPECT_TRUE(Webhooks::announced(k)) << k;
    EXPECT_FALSE(Webhooks::announced("request.approval")) << "one of several approvals: the page shows it";
    EXPECT_FALSE(Webhooks::announced("grant.extended"));
}

}  // namespace
}  // namespace jit::authority::test
