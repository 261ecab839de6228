#include "test_signer.hpp"

#include <jit/bundle.hpp>
#include <jit/test/temp_dir.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace jit {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::Signer;
using test::vector_path;

bool mentions(const Error& e, const std::string& what) { return e.message.find(what) != std::string::npos; }

TEST(ParseEnvelope, DecodesTheSharedVector) {
    const auto env = parse_envelope(read_file(vector_path("envelope.json")));
    ASSERT_TRUE(env.ok()) << env.error().message;
    EXPECT_EQ(env->key_id, "authority-test");
    EXPECT_EQ(env->payload, read_file(vector_path("payload.json")));
    EXPECT_EQ(env->signature, read_file(vector_path("payload.sig")));
}

TEST(ParseEnvelope, RequiresEachFieldAsAString) {
    const std::string sig = base64_encode(std::string(64, 'x'));
    auto r = parse_envelope("{\"payload\":\"e30=\",\"signature\":\"" + sig + "\"}");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "key_id");
    r = parse_envelope("{\"key_id\":\"k\",\"signature\":\"" + sig + "\"}");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "envelope");
    EXPECT_TRUE(mentions(r.error(), "payload"));
    r = parse_envelope("{\"key_id\":\"k\",\"payload\":\"e30=\"}");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "signature");
    r = parse_envelope("{\"key_id\":7,\"payload\":\"e30=\",\"signature\":\"" + sig + "\"}");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "key_id");
}

TEST(ParseEnvelope, RejectsKeyIdsThatCouldNameOtherFiles) {
    const std::string sig = base64_encode(std::string(64, 'x'));
    for (const std::string& id : std::vector<std::string>{"../etc/passwd", ".hidden", "a/b", "", std::string(129, 'k')}) {
        const auto r = parse_envelope(Signer::envelope_raw(id, "e30=", sig));
        ASSERT_FALSE(r.ok()) << id;
        EXPECT_EQ(r.error().code, "key_id") << id;
    }
}

TEST(ParseEnvelope, RejectsTruncatedBase64) {
    const std::string sig = base64_encode(std::string(64, 'x'));
    auto r = parse_envelope(Signer::envelope_raw("k", "e30", sig));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "envelope");
    EXPECT_TRUE(mentions(r.error(), "base64"));
    r = parse_envelope(Signer::envelope_raw("k", "e30=", sig.substr(0, sig.size() - 1)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "signature");
    EXPECT_TRUE(mentions(r.error(), "base64"));
}

TEST(ParseEnvelope, RejectsWrongSignatureLength) {
    for (const std::size_t n : {0UL, 63UL, 65UL, 128UL}) {
        const auto r = parse_envelope(Signer::envelope_raw("k", "e30=", base64_encode(std::string(n, 's'))));
        ASSERT_FALSE(r.ok()) << n;
        EXPECT_EQ(r.error().code, "signature");
        EXPECT_TRUE(mentions(r.error(), "64")) << r.error().message;
    }
}

TEST(ParseEnvelope, RejectsMalformedJson) {
    const std::string good = Signer::envelope_raw("k", "e30=", base64_encode(std::string(64, 'x')));
    for (const std::string& bad : std::vector<std::string>{
             std::string("[]"),
             std::string("\"x\""),
             good + "x",                                                  // trailing garbage
             good + "{}",                                                 // two documents
             std::string("{\"key_id\":\"k\",\"key_id\":\"k\"}"),          // duplicate key
             std::string("{\"key_id\":\"k\",}"),                          // trailing comma
             std::string("/* c */") + good,                               // comment
             std::string("{\"key_id\":\"k\xff\"}"),                       // not UTF-8
             std::string("\xEF\xBB\xBF") + good,                          // BOM
             std::string("{\"key_id\":{\"nested\":1}}"),                  // deeper than the envelope needs
             std::string(""),
         }) {
        const auto r = parse_envelope(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().code, "envelope") << bad;
    }
}

TEST(ParseEnvelope, CapsTheSize) {
    std::string big = "{\"key_id\":\"k\",\"x\":\"" + std::string(limits::kMaxEnvelopeBytes, 'a') + "\"}";
    const auto r = parse_envelope(big);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "envelope");
    EXPECT_TRUE(mentions(r.error(), "4194304"));
}

TEST(ParseEnvelope, CapsTheNumberOfMembers) {
    std::string many = "{\"key_id\":\"k\",\"payload\":\"e30=\",\"signature\":\"" + base64_encode(std::string(64, 'x')) + "\"";
    for (std::size_t i = 0; i < limits::kMaxEnvelopeElements; ++i) many += ",\"x" + std::to_string(i) + "\":0";
    const auto r = parse_envelope(many + "}");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "envelope");
    EXPECT_TRUE(mentions(r.error(), "JSON elements"));
}

TEST(ParseEnvelope, IgnoresUnknownExtensionFields) {
    const std::string sig = base64_encode(std::string(64, 'x'));
    const auto r = parse_envelope("{\"key_id\":\"k\",\"payload\":\"e30=\",\"signature\":\"" + sig +
                                  "\",\"x_chain\":\"future\"}");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->payload, "{}");
}

TEST(TrustedKeys, VerifiesTheSharedVectorAndRejectsTampering) {
    TrustedKeys keys;
    ASSERT_TRUE(keys.add_pem("authority-test", read_file(vector_path("authority-test.pub"))).ok());
    const auto payload = read_file(vector_path("payload.json"));
    const auto sig = read_file(vector_path("payload.sig"));
    EXPECT_TRUE(keys.verify("authority-test", payload, sig).ok());

    std::string altered = payload;
    altered[altered.size() / 2] ^= 1;
    const auto bad = keys.verify("authority-test", altered, sig);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, "signature");

    const auto unknown = keys.verify("authority-2031", payload, sig);
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, "key_id");
    EXPECT_TRUE(mentions(unknown.error(), "authority-2031"));

    const auto short_sig = keys.verify("authority-test", payload, sig.substr(1));
    ASSERT_FALSE(short_sig.ok());
    EXPECT_EQ(short_sig.error().code, "signature");
}

TEST(TrustedKeys, RejectsASignatureByAnotherKey) {
    const Signer trusted, attacker;
    const TrustedKeys keys = trusted.trusted("k");
    EXPECT_TRUE(keys.verify("k", "data", trusted.sign("data")).ok());
    const auto r = keys.verify("k", "data", attacker.sign("data"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "signature");
}

TEST(TrustedKeys, AcceptsOnlyEd25519PemKeys) {
    TrustedKeys keys;
    const Signer x25519("X25519");
    auto r = keys.add_pem("k", x25519.public_pem());
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(mentions(r.error(), "Ed25519"));
    r = keys.add_pem("k", "-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "trusted_keys");
    r = keys.add_pem("../k", Signer().public_pem());
    EXPECT_FALSE(r.ok());
    ASSERT_TRUE(keys.add_pem("k", Signer().public_pem()).ok());
    EXPECT_FALSE(keys.add_pem("k", Signer().public_pem()).ok());  // no silent replacement
    EXPECT_EQ(keys.size(), 1U);
}

class TrustedKeyDir : public ::testing::Test {
protected:
    void write(const std::string& name, const std::string& text, mode_t mode = 0644) {
        const fs::path p = fs::path(dir_) / name;
        std::ofstream(p) << text;
        ASSERT_EQ(chmod(p.c_str(), mode), 0);
    }
    jit::test::TempDir tmp_{"jit-keys"};
    std::string dir_ = tmp_.path();
};

TEST_F(TrustedKeyDir, LoadsEveryPubFileByName) {
    write("authority-test.pub", read_file(vector_path("authority-test.pub")));
    write("authority-next.pub", Signer().public_pem());
    write("README", "not a key");
    write("authority-test.key", "private keys are ignored");
    const auto keys = TrustedKeys::load_dir(dir_);
    ASSERT_TRUE(keys.ok()) << keys.error().message;
    EXPECT_EQ(keys->size(), 2U);
    EXPECT_TRUE(keys->contains("authority-test"));
    EXPECT_TRUE(keys->contains("authority-next"));
}

TEST_F(TrustedKeyDir, RefusesAnEmptyOrMissingDirectory) {
    auto r = TrustedKeys::load_dir(dir_);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(mentions(r.error(), "no trusted keys"));
    r = TrustedKeys::load_dir(dir_ + "/missing");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "trusted_keys");
}

TEST_F(TrustedKeyDir, RefusesKeysOthersCouldReplace) {
    write("k.pub", Signer().public_pem(), 0666);
    auto r = TrustedKeys::load_dir(dir_);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(mentions(r.error(), "writable"));
    ASSERT_EQ(chmod((dir_ + "/k.pub").c_str(), 0644), 0);
    ASSERT_EQ(chmod(dir_.c_str(), 0777), 0);
    r = TrustedKeys::load_dir(dir_);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(mentions(r.error(), "writable"));
}

TEST_F(TrustedKeyDir, RefusesABrokenKeyRatherThanSkippingIt) {
    write("good.pub", Signer().public_pem());
    write("bad.pub", "garbage");
    const auto r = TrustedKeys::load_dir(dir_);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(mentions(r.error(), "bad.pub"));
}

}  // namespace
}  // namespace jit
