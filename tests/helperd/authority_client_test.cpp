// The authority client's settings assembly: which URL, headers and timeouts
// each call uses, from the config; and the TLS/mTLS/token settings the
// transport gets from the same config.
#include <jit/helperd/authority_client.hpp>
#include <jit/helperd/curl_transport.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <sys/stat.h>

#include "test_util.hpp"

using namespace jit::helperd;
using jit::test::FakeTransport;
using std::chrono::seconds;

namespace {

AuthorityConfig authority_config() {
    AuthorityConfig c;
    c.url = "https://jit.example.com";
    c.host_id = "web-01";
    c.connect_timeout = 7;
    return c;
}

class AuthorityClientTest : public ::testing::Test {
protected:
    const HttpRequest& last() const { return transport_.pending.back().request; }
    FakeTransport transport_;
    AuthorityClient client_{transport_, AuthorityTarget::from(authority_config())};
};

const std::vector<std::string> kAccept = {"Accept: application/json"};
const std::vector<std::string> kPostJson = {"Content-Type: application/json", "Accept: application/json"};

TEST_F(AuthorityClientTest, PollIsALongGetThatOutlastsTheHold) {
    client_.poll(42, 55, [](HttpResponse) {});
    EXPECT_EQ(last().method, "GET");
    EXPECT_EQ(last().url, "https://jit.example.com/v1/hosts/web-01/grants?after=42&wait=55");
    EXPECT_EQ(last().headers, kAccept);
    EXPECT_TRUE(last().body.empty());
    EXPECT_EQ(last().connect_timeout, seconds(7));
    EXPECT_EQ(last().total_timeout, seconds(7 + 55 + 15));
}

TEST_F(AuthorityClientTest, RequestsArePostedAndReadWithinTheRelayWait) {
    client_.post_request("{\"user\":\"alice\"}", [](HttpResponse) {});
    EXPECT_EQ(last().method, "POST");
    EXPECT_EQ(last().url, "https://jit.example.com/v1/hosts/web-01/requests");
    EXPECT_EQ(last().body, "{\"user\":\"alice\"}");
    EXPECT_EQ(last().headers, kPostJson);
    EXPECT_EQ(last().connect_timeout, seconds(7));
    EXPECT_EQ(last().total_timeout, seconds(7 + kRelayWait));

    client_.get_request("r-123", [](HttpResponse) {});
    EXPECT_EQ(last().method, "GET");
    EXPECT_EQ(last().url, "https://jit.example.com/v1/hosts/web-01/requests/r-123");
    EXPECT_EQ(last().headers, kAccept);
    EXPECT_EQ(last().total_timeout, seconds(7 + kRelayWait));
}

TEST_F(AuthorityClientTest, EventsArePosted) {
    client_.post_events("{\"events\":[]}", [](HttpResponse) {});
    EXPECT_EQ(last().method, "POST");
    EXPECT_EQ(last().url, "https://jit.example.com/v1/hosts/web-01/events");
    EXPECT_EQ(last().body, "{\"events\":[]}");
    EXPECT_EQ(last().headers, kPostJson);
    EXPECT_EQ(last().total_timeout, seconds(7 + 30));
}

TEST_F(AuthorityClientTest, NewTargetAppliesToLaterCallsAndCancelReachesTheTransport) {
    int answered = 0;
    auto first = client_.poll(0, 55, [&](HttpResponse) { ++answered; });
    AuthorityConfig c = authority_config();
    c.url = "https://other.example.com";
    c.host_id = "web-02";
    c.connect_timeout = 3;
    client_.set_target(AuthorityTarget::from(c));
    client_.post_events("{}", [](HttpResponse) {});
    EXPECT_EQ(last().url, "https://other.example.com/v1/hosts/web-02/events");
    EXPECT_EQ(last().connect_timeout, seconds(3));
    client_.cancel(first);
    EXPECT_EQ(transport_.cancelled, 1);
    ASSERT_EQ(transport_.pending.size(), 1u);
    transport_.answer(202);
    EXPECT_EQ(answered, 0);
}

TEST(TlsSettingsFrom, TakesCaClientCertificateAndTokenFromTheConfig) {
    jit::test::TempDir dir;
    Config config;
    config.authority = authority_config();
    config.authority.ca_file = "/etc/jit/ca.pem";
    config.authority.client_cert = "/etc/jit/host.crt";
    config.authority.client_key = "/etc/jit/host.key";
    config.authority.token_file = dir.path() + "/token";
    { std::ofstream(config.authority.token_file) << "  s3cret-token \n"; }
    ASSERT_EQ(::chmod(config.authority.token_file.c_str(), 0600), 0);
    auto tls = tls_settings_from(config, "jitlogin/9.9");
    ASSERT_TRUE(tls.ok()) << tls.error().message;
    EXPECT_EQ(tls->ca_file, "/etc/jit/ca.pem");
    EXPECT_EQ(tls->client_cert, "/etc/jit/host.crt");
    EXPECT_EQ(tls->client_key, "/etc/jit/host.key");
    EXPECT_EQ(tls->bearer_token, "s3cret-token");
    EXPECT_FALSE(tls->allow_plain_http);
    EXPECT_EQ(tls->user_agent, "jitlogin/9.9");

    ASSERT_EQ(::chmod(config.authority.token_file.c_str(), 0640), 0);
    auto loose = tls_settings_from(config, "jitlogin/9.9");
    ASSERT_FALSE(loose.ok());
    EXPECT_EQ(loose.error().code, "config");
    EXPECT_NE(loose.error().message.find(config.authority.token_file), std::string::npos) << loose.error().message;

    config.authority.token_file.clear();
    config.authority.plain_http = true;
    auto plain = tls_settings_from(config, "ua");
    ASSERT_TRUE(plain.ok());
    EXPECT_TRUE(plain->bearer_token.empty());
    EXPECT_TRUE(plain->allow_plain_http);
}

}  // namespace
