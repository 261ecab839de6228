// The upload queue wired into jit-helperd's Loop and Transport: POSTs go to
// the events URL, failures are retried by Loop timers, status is reported.
#include "jit/upload_daemon.hpp"

#include <gtest/gtest.h>
#include <json/json.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

using namespace jit;
namespace fs = std::filesystem;

namespace {

struct FakeHttp : helperd::Transport {
    struct Call {
        helperd::HttpRequest req;
        Done done;
    };
    std::map<RequestId, Call> calls;
    std::vector<helperd::HttpRequest> all;
    std::vector<RequestId> cancelled;
    RequestId next = 1;
    RequestId start(const helperd::HttpRequest& r, Done done) override {
        all.push_back(r);
        calls[next] = {r, std::move(done)};
        return next++;
    }
    void cancel(RequestId id) override {
        cancelled.push_back(id);
        calls.erase(id);
    }
    void answer(long status) {
        ASSERT_FALSE(calls.empty());
        auto it = calls.begin();
        Done d = std::move(it->second.done);
        calls.erase(it);
        d(helperd::HttpResponse{status, status ? "" : "", status ? "" : "connection refused"});
    }
};

class UploadDaemonTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir = fs::temp_directory_path() / ("jit-upload-daemon-" + std::to_string(getpid()) + "-" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
        config.state_dir = dir.string();
        config.authority.url = "http://127.0.0.1:8443";
        config.authority.host_id = "web-01";
        opt.fsync = false;
        opt.rng_seed = 7;
    }
    void TearDown() override { fs::remove_all(dir); }

    audit::Event ev(const std::string& user) {
        return audit::Event{audit::EventType::LoginAllowed, "login " + user, {{"JIT_USER", user}}};
    }

    fs::path dir;
    helperd::Config config;
    upload::UploadOptions opt;
    helperd::ManualLoop loop;
    FakeHttp http;
    audit::RecordingSink journal;
};

}  // namespace

TEST_F(UploadDaemonTest, EventsGoToJournalAndAuthorityWithRetries) {
    auto up = upload::DaemonUpload::create(loop, http, journal, config, opt);
    ASSERT_NE(up->queue(), nullptr);
    up->sink().emit(ev("alice"));
    ASSERT_EQ(journal.events.size(), 1u);
    ASSERT_EQ(http.all.size(), 1u);
    EXPECT_EQ(http.all[0].method, "POST");
    EXPECT_EQ(http.all[0].url, "http://127.0.0.1:8443/v1/hosts/web-01/events");
    EXPECT_NE(http.all[0].body.find("\"seq\":1"), std::string::npos);
    EXPECT_NE(http.all[0].body.find("\"time\":1764250000"), std::string::npos) << http.all[0].body;  // loop's wall clock
    http.answer(503);
    EXPECT_EQ(loop.pending(), 1u);  // the retry timer
    loop.advance(std::chrono::milliseconds(400));
    EXPECT_EQ(http.all.size(), 1u);  // jitter keeps the first retry in [500, 1000] ms
    loop.advance(std::chrono::milliseconds(700));
    ASSERT_EQ(http.all.size(), 2u);
    EXPECT_EQ(http.all[1].body, http.all[0].body);
    Json::Value status;
    up->add_status(status);
    EXPECT_TRUE(status["upload"]["in_flight"].asBool());
    http.answer(204);
    status = Json::Value();
    up->add_status(status);
    EXPECT_EQ(status["upload"]["pending"].asUInt64(), 0u);
    EXPECT_EQ(status["upload"]["acked_through"].asUInt64(), 1u);
    EXPECT_EQ(loop.pending(), 0u);
}

TEST_F(UploadDaemonTest, RestartSendsWhatWasLeftAndCancelsInFlight) {
    {
        auto up = upload::DaemonUpload::create(loop, http, journal, config, opt);
        up->sink().emit(ev("a"));
        up->sink().emit(ev("b"));
        ASSERT_EQ(http.calls.size(), 1u);
    }  // daemon stops with a POST in flight: it is cancelled, nothing was acknowledged
    EXPECT_EQ(http.cancelled.size(), 1u);
    EXPECT_TRUE(http.calls.empty());
    auto up = upload::DaemonUpload::create(loop, http, journal, config, opt);
    ASSERT_EQ(http.calls.size(), 1u);  // sent at start, without waiting for a new event
    const auto& body = http.calls.begin()->second.req.body;
    EXPECT_NE(body.find("\"seq\":1"), std::string::npos);
    EXPECT_NE(body.find("\"seq\":2"), std::string::npos);
}

TEST_F(UploadDaemonTest, UnusableSpoolMeansJournalOnlyWithAnAlert) {
    fs::create_directories(dir / "upload");
    fs::path blocker = dir / "upload";
    fs::remove_all(blocker);
    { std::ofstream(blocker.string()) << "not a directory"; }
    auto up = upload::DaemonUpload::create(loop, http, journal, config, opt);
    EXPECT_EQ(up->queue(), nullptr);
    ASSERT_EQ(journal.count(audit::EventType::SecurityAlert), 1u);
    EXPECT_EQ(journal.last(audit::EventType::SecurityAlert)->field("JIT_ALERT"), "upload.unavailable");
    up->sink().emit(ev("alice"));
    EXPECT_EQ(journal.count(audit::EventType::LoginAllowed), 1u);  // still journaled
    Json::Value status;
    up->add_status(status);
    EXPECT_FALSE(status["upload"]["enabled"].asBool());
}

TEST_F(UploadDaemonTest, ReloadChangesTheUrl) {
    auto up = upload::DaemonUpload::create(loop, http, journal, config, opt);
    auto component = up->status_component();
    config.authority.url = "https://authority.example";
    component->config_reloaded(config);
    up->sink().emit(ev("alice"));
    ASSERT_EQ(http.all.size(), 1u);
    EXPECT_EQ(http.all[0].url, "https://authority.example/v1/hosts/web-01/events");
}
