// Shared set-up for jit-authority's unit tests: a temporary directory with a
// SQLite database, an Ed25519 key, a rules file, a fake clock.
#pragma once

#include <jit/authority/config.hpp>
#include <jit/authority/crypto.hpp>
#include <jit/authority/service.hpp>
#include <jit/authority/store.hpp>
#include <jit/bundle.hpp>
#include <jit/base64.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

namespace jit::authority::test {

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline const char* kRules = R"(
[authority]
database = /unused
key_id = unit-2026
bundle_ttl = 900

[group web]
hosts = web-*

[group prod]
labels = env=prod

[rule web-oncall]
groups = web
requesters = alice bob
approvers = carol dave alice
approvals = 2
max_duration = 4h
sudo = /usr/bin/apt-get, /usr/bin/systemctl restart nginx
extend = yes
max_extension = 1h

[rule prod-self]
groups = prod
requesters = *
approvals = 0
max_duration = 1h
login = yes
)";

class AuthorityTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/jit-authority-unit-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        auto cfg = parse_config(kRules, "rules.conf");
        ASSERT_TRUE(cfg) << cfg.error().message;
        config_ = std::move(cfg.value());
        ASSERT_TRUE(Signer::generate(dir_ + "/key", dir_ + "/key.pub"));
        auto s = Signer::load(dir_ + "/key", "unit-2026");
        ASSERT_TRUE(s) << s.error().message;
        signer_.emplace(std::move(s.value()));
        ASSERT_TRUE(keys_.add_pem("unit-2026", read_file(dir_ + "/key.pub")));
        open();
    }
    void TearDown() override {
        service_.reset();
        store_.reset();
        std::filesystem::remove_all(dir_);
    }
    // (Re)opens the database as a restarted daemon would.
    void open() {
        service_.reset();
        store_ = open_sqlite_store(dir_ + "/authority.db", true);
        service_ = std::make_unique<Service>(*store_, *signer_, config_, [this] { return now_; });
    }
    GrantsPayload verified(const BundleRecord& b, const std::string& host) {
        AcceptContext ctx;
        ctx.host_id = host;
        ctx.now = now_;
        auto r = verify_and_accept(b.envelope, keys_, ctx);
        EXPECT_TRUE(r) << r.error().code << ": " << r.error().message;
        return r ? r->payload : GrantsPayload{};
    }
    Json::Value ask(const std::string& user, std::int64_t seconds) {
        Json::Value j;
        j["user"] = user;
        j["duration_seconds"] = Json::Int64(seconds);
        j["reason"] = "patch openssl";
        return j;
    }

    std::string dir_;
    Config config_;
    std::optional<Signer> signer_;
    TrustedKeys keys_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<Service> service_;
    UnixTime now_ = 1'800'000'000;
    Caller admin_{"carol", "test"};
};

}  // namespace jit::authority::test
