// Service: revisions, heartbeat, requests, approvals, extensions, events.
#include "fixture.hpp"

namespace jit::authority::test {
namespace {

class ServiceTest : public AuthorityTest {
protected:
    void SetUp() override {
        AuthorityTest::SetUp();
        token_ = service_->add_host("web-01", {}, admin_);
        service_->add_host("db-01", {"env=prod"}, admin_);
    }
    std::string submit(const Json::Value& body, const std::string& host = "web-01") {
        return service_->submit_request(host, body, "host", Caller{"host:" + host, "test"})["id"].asString();
    }
    int code_of(const std::function<void()>& f) {
        try {
            f();
        } catch (const ApiError& e) {
            last_error_ = e.code + ": " + e.what();
            return e.status;
        }
        return 0;
    }
    std::string token_;
    std::string last_error_;
};

TEST_F(ServiceTest, FirstBundleIsRevisionOneWithNoGrants) {
    BundleRecord b = service_->current_bundle("web-01");
    EXPECT_EQ(b.revision, 1);
    GrantsPayload p = verified(b, "web-01");
    EXPECT_TRUE(p.grants.empty());
    EXPECT_EQ(p.expires_at - p.issued_at, 900);
    EXPECT_EQ(service_->current_bundle("web-01").envelope, b.envelope) << "served again with the same bytes";
}

TEST_F(ServiceTest, RevisionsNeverRepeatAcrossRestarts) {
    std::int64_t last = service_->current_bundle("web-01").revision;
    for (int i = 0; i < 3; ++i) {
        open();  // a restarted daemon
        BundleRecord before = service_->current_bundle("web-01");
        EXPECT_EQ(before.revision, last) << "the latest envelope survives the restart";
        BundleRecord b = service_->reissue("web-01");
        EXPECT_EQ(b.revision, last + 1);
        last = b.revision;
    }
    EXPECT_THROW(store_->add_bundle(BundleRecord{"web-01", last, "{}", now_, now_ + 1}), StoreError)
        << "a revision cannot be stored twice";
}

TEST_F(ServiceTest, HeartbeatNoLaterThanHalfway) {
    BundleRecord b = service_->current_bundle("web-01");
    now_ += 449;
    EXPECT_EQ(service_->tick(), 0u);
    now_ += 1;  // exactly halfway between issued_at and expires_at
    EXPECT_EQ(service_->tick(), 2u);  // both hosts
    BundleRecord c = service_->current_bundle("web-01");
    EXPECT_EQ(c.revision, b.revision + 1);
    EXPECT_EQ(verified(c, "web-01").issued_at, now_);
}

// Key rotation: once the key in use changes (SIGHUP replaces the Signer in
// place), every host's bundle is re-signed with it as a new revision, and
// only those: a second pass issues nothing.
TEST_F(ServiceTest, ANewSigningKeyReSignsEveryHostsBundleOnce) {
    const std::int64_t web = service_->current_bundle("web-01").revision;
    const std::int64_t db = service_->current_bundle("db-01").revision;
    EXPECT_EQ(service_->rekey_step(), 0u) << "nothing to re-sign under the key the bundles carry";
    EXPECT_FALSE(service_->rekey_pending());
    ASSERT_TRUE(Signer::generate(dir_ + "/key2", dir_ + "/key2.pub"));
    auto next = Signer::load(dir_ + "/key2", "unit-2027");
    ASSERT_TRUE(next) << next.error().message;
    *signer_ = std::move(next.value());
    ASSERT_TRUE(keys_.add_pem("unit-2027", read_file(dir_ + "/key2.pub")));
    EXPECT_TRUE(service_->rekey_pending());
    EXPECT_EQ(service_->rekey_step(), 2u);
    EXPECT_FALSE(service_->rekey_pending());
    for (const auto& [host, before] : {std::pair{std::string("web-01"), web}, std::pair{std::string("db-01"), db}}) {
        BundleRecord b = service_->current_bundle(host);
        EXPECT_EQ(b.revision, before + 1);
        EXPECT_NE(b.envelope.find("\"key_id\":\"unit-2027\""), std::string::npos) << b.envelope;
        verified(b, host);
    }
    EXPECT_EQ(service_->rekey_step(), 0u);
    EXPECT_EQ(service_->tick(), 0u);
    Json::Value keys = service_->keys_view();
    EXPECT_EQ(keys["key_id"].asString(), "unit-2027");
    EXPECT_EQ(keys["latest_bundles_by_key"]["unit-2027"].asInt64(), 2);
    EXPECT_EQ(keys["hosts_holding_key_in_use"].asInt64(), 0) << "no host has polled for it yet";
}

TEST_F(ServiceTest, RequestApprovedByTwoDistinctApproversBecomesAGrant) {
    std::vector<std::int64_t> woken;
    service_->on_issue([&](const BundleRecord& b) { woken.push_back(b.revision); });
    Json::Value body = ask("alice", 3600);
    body["uid"] = 70001;
    body["sudo"]["run_as"] = "root";
    body["sudo"]["commands"].append("/usr/bin/apt-get");
    const std::string id = submit(body);
    EXPECT_EQ(service_->host_request_view("web-01", id)["state"], "pending");
    EXPECT_EQ(code_of([&] { service_->approve(id, "", Caller{"alice", "t"}); }), 403) << "the requester";
    EXPECT_EQ(code_of([&] { service_->approve(id, "", Caller{"eve", "t"}); }), 403) << "not an approver";
    service_->approve(id, "ok", Caller{"carol", "t"});
    EXPECT_EQ(code_of([&] { service_->approve(id, "", Caller{"carol", "t"}); }), 403) << "twice";
    EXPECT_EQ(service_->host_request_view("web-01", id)["state"], "pending");
    EXPECT_TRUE(woken.empty());
    Json::Value r = service_->approve(id, "", Caller{"dave", "t"});
    EXPECT_EQ(r["state"], "approved");
    ASSERT_EQ(woken.size(), 1u) << "a committed revision wakes the polls";
    GrantsPayload p = verified(service_->current_bundle("web-01"), "web-01");
    ASSERT_EQ(p.grants.size(), 1u);
    const Grant& g = p.grants[0];
    EXPECT_EQ(g.id, r["grant_id"].asString());
    EXPECT_EQ(g.user, "alice");
    EXPECT_EQ(g.uid, 70001u);
    EXPECT_EQ(g.not_after - g.not_before, 3600);
    EXPECT_EQ(g.approved_by, (std::vector<std::string>{"carol", "dave"}));
    ASSERT_TRUE(g.sudo);
    EXPECT_EQ(g.sudo->commands, std::vector<std::string>{"/usr/bin/apt-get"});
    EXPECT_EQ(service_->host_request_view("web-01", id)["grant_id"], g.id);
    EXPECT_EQ(code_of([&] { service_->host_request_view("db-01", id); }), 404) << "another host's request";
}

TEST_F(ServiceTest, RulesRefuseAtSubmissionWith422) {
    EXPECT_EQ(code_of([&] { submit(ask("alice", 5 * 3600)); }), 422);
    EXPECT_EQ(last_error_, "duration: access may last at most 4 h (rule 'web-oncall')");
    EXPECT_EQ(code_of([&] { submit(ask("mallory", 60)); }), 422);
    Json::Value bad = ask("alice", 60);
    bad["reason"] = 7;
    EXPECT_EQ(code_of([&] { submit(bad); }), 400);
}

TEST_F(ServiceTest, APersonAsksOnlyAsThemselves) {
    Json::Value body = ask("bob", 600);
    EXPECT_EQ(code_of([&] { service_->submit_request("web-01", body, "person", Caller{"alice", "t"}); }), 422);
    EXPECT_EQ(last_error_, "other_user: you can only ask for access as yourself (alice)");
    body["user"] = "alice";
    EXPECT_EQ(service_->submit_request("web-01", body, "person", Caller{"alice", "t"})["requested_by"], "alice");
}

TEST_F(ServiceTest, AutoApprovalWhenTheRuleNeedsNone) {
    const std::string id = submit(ask("mallory", 600), "db-01");
    EXPECT_EQ(service_->host_request_view("db-01", id)["state"], "approved");
    EXPECT_EQ(verified(service_->current_bundle("db-01"), "db-01").grants.size(), 1u);
}

TEST_F(ServiceTest, ExtensionKeepsTheGrantIdAndMovesItsEnd) {
    const std::string id = submit(ask("alice", 3600));
    service_->approve(id, "", Caller{"carol", "t"});
    const std::string grant = service_->approve(id, "", Caller{"dave", "t"})["grant_id"].asString();
    Json::Value ext = ask("alice", 1800);
    ext["extends"] = grant;
    const std::string eid = submit(ext);
    service_->approve(eid, "", Caller{"carol", "t"});
    service_->approve(eid, "", Caller{"dave", "t"});
    GrantsPayload p = verified(service_->current_bundle("web-01"), "web-01");
    ASSERT_EQ(p.grants.size(), 1u);
    EXPECT_EQ(p.grants[0].id, grant);
    EXPECT_EQ(p.grants[0].not_after, now_ + 3600 + 1800);

    Json::Value other = ask("bob", 60);
    other["extends"] = grant;
    EXPECT_EQ(code_of([&] { submit(other); }), 422) << "another user's grant";
    Json::Value unknown = ask("alice", 60);
    unknown["extends"] = "g-nope";
    EXPECT_EQ(code_of([&] { submit(unknown); }), 422);
    Json::Value too_long = ask("alice", 7200);
    too_long["extends"] = grant;
    EXPECT_EQ(code_of([&] { submit(too_long); }), 422) << "max_extension";
}

TEST_F(ServiceTest, RevokedGrantLeavesThePayloadAndIsListedAsRevoked) {
    Json::Value body = ask("alice", 3600);
    Json::Value g = service_->create_grant("web-01", body, admin_)["grant"];
    const std::string id = g["id"].asString();
    EXPECT_EQ(verified(service_->current_bundle("web-01"), "web-01").grants.size(), 1u);
    service_->revoke_grant("web-01", id, "done early", admin_);
    GrantsPayload p = verified(service_->current_bundle("web-01"), "web-01");
    EXPECT_TRUE(p.grants.empty());
    ASSERT_EQ(p.revoked.size(), 1u);
    EXPECT_EQ(p.revoked[0].id, id);
    EXPECT_EQ(p.revoked[0].by, "carol");
    EXPECT_EQ(p.revoked[0].reason, "done early");
}

TEST_F(ServiceTest, AnApprovalThatBreaksTodaysRulesIsRefused) {
    const std::string id = submit(ask("alice", 3 * 3600));
    config_.rules[0].max_duration = 3600;  // the rules changed since the request
    EXPECT_EQ(code_of([&] { service_->approve(id, "", Caller{"carol", "t"}); }), 422);
    EXPECT_EQ(service_->host_request_view("web-01", id)["state"], "pending");
}

TEST_F(ServiceTest, PendingRequestsExpire) {
    const std::string id = submit(ask("alice", 600));
    now_ += 3600;
    service_->tick();
    EXPECT_EQ(service_->host_request_view("web-01", id)["state"], "expired");
    EXPECT_EQ(code_of([&] { service_->approve(id, "", Caller{"carol", "t"}); }), 409);
}

TEST_F(ServiceTest, EventsAreStoredOncePerSeq) {
    Json::Value batch;
    for (int seq : {1, 2, 2, 3}) {
        Json::Value e;
        e["seq"] = seq;
        e["type"] = "login.allowed";
        batch["events"].append(e);
    }
    auto [fresh, dup] = service_->add_events("web-01", batch);
    EXPECT_EQ(fresh, 3u);
    EXPECT_EQ(dup, 1u);
    EXPECT_EQ(service_->add_events("web-01", batch).first, 0u);
    Json::Value bad = batch;
    bad["events"][1]["seq"] = -1;
    EXPECT_EQ(code_of([&] { service_->add_events("web-01", bad); }), 400);
    EXPECT_EQ(service_->list_events("web-01", 0, 100).size(), 3u);
}

TEST_F(ServiceTest, HostTokensAreStoredHashed) {
    auto h = store_->host("web-01");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->token_hash, token_hash(token_));
    EXPECT_EQ(store_->host_by_token_hash(token_hash(token_))->host_id, "web-01");
    EXPECT_FALSE(store_->host_by_token_hash(token_hash(token_ + "x")));
}

// Store::set_person_cert (jitadm person cert): the old certificate finds
// nobody from the commit, the new one the person, across a restart; the
// database itself refuses another person's certificate (replicas racing).
TEST_F(ServiceTest, APersonIsReboundToANewCertificate) {
    store_->add_person(PersonRecord{"alice", "", "requester", now_, std::string(64, 'a')});
    store_->add_person(PersonRecord{"bob", "", "requester", now_, std::string(64, 'b')});
    EXPECT_TRUE(store_->set_person_cert("alice", std::string(64, 'c')));
    EXPECT_FALSE(store_->person_by_cert(std::string(64, 'a')));
    EXPECT_FALSE(store_->set_person_cert("nobody", std::string(64, 'd')));
    EXPECT_THROW(store_->set_person_cert("alice", std::string(64, 'b')), StoreError);
    open();
    ASSERT_TRUE(store_->person_by_cert(std::string(64, 'c')));
    EXPECT_EQ(store_->person_by_cert(std::string(64, 'c'))->name, "alice");
    EXPECT_EQ(store_->person_by_cert(std::string(64, 'b'))->name, "bob");
    EXPECT_EQ(code_of([&] { service_->set_person_cert("alice", "not a certificate", admin_); }), 400);
    EXPECT_EQ(code_of([&] { service_->set_person_cert("alice", "", admin_); }), 400);
}

TEST_F(ServiceTest, EveryOperatorActionIsRecorded) {
    const std::string id = submit(ask("alice", 600));
    service_->deny(id, "not now", Caller{"carol", "10.0.0.7"});
    Json::Value actions = service_->list_actions(0, 100);
    const Json::Value& last = actions[actions.size() - 1];
    EXPECT_EQ(last["actor"], "carol");
    EXPECT_EQ(last["source"], "10.0.0.7");
    EXPECT_EQ(last["action"], "request.deny");
    EXPECT_EQ(last["target"], "web-01/" + id);
    EXPECT_EQ(last["detail"]["comment"], "not now");
    EXPECT_EQ(last["at"].asInt64(), now_);
}

}  // namespace
}  // namespace jit::authority::test
