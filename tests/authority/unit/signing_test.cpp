// Signing: byte for byte with PROTOCOL.md's vectors, and accepted by the
// host's own verifier (policy/).
#include "fixture.hpp"

#include <sys/stat.h>

namespace jit::authority::test {
namespace {

TEST(AuthoritySigning, MatchesTheProtocolVectors) {
    char tmpl[] = "/tmp/jit-authority-sign-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string key = std::string(tmpl) + "/authority-test.key";
    std::filesystem::copy_file(std::string(JIT_TEST_VECTORS) + "/authority-test.key", key);
    chmod(key.c_str(), 0600);
    auto signer = Signer::load(key, "authority-test");
    ASSERT_TRUE(signer) << signer.error().message;
    const std::string payload = read_file(std::string(JIT_TEST_VECTORS) + "/payload.json");
    EXPECT_EQ(signer->sign(payload), read_file(std::string(JIT_TEST_VECTORS) + "/payload.sig"));

    TrustedKeys keys;
    ASSERT_TRUE(keys.add_pem("authority-test", read_file(std::string(JIT_TEST_VECTORS) + "/authority-test.pub")));
    AcceptContext ctx;
    ctx.host_id = "web-01";
    ctx.now = 1764250000;
    auto accepted = verify_and_accept(signer->envelope(payload), keys, ctx);
    ASSERT_TRUE(accepted) << accepted.error().message;
    EXPECT_EQ(accepted->payload.revision, 42);
    EXPECT_EQ(accepted->envelope.payload, payload);
    std::filesystem::remove_all(tmpl);
}

TEST(AuthoritySigning, RefusesAKeyOthersCanRead) {
    char tmpl[] = "/tmp/jit-authority-sign-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string key = std::string(tmpl) + "/k";
    ASSERT_TRUE(Signer::generate(key, key + ".pub"));
    struct stat st{};
    ASSERT_EQ(stat(key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_TRUE(Signer::load(key, "k"));
    chmod(key.c_str(), 0640);
    auto s = Signer::load(key, "k");
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("readable by group or others"), std::string::npos);
    EXPECT_FALSE(Signer::generate(key, key + ".pub")) << "an existing key must never be overwritten";
    std::filesystem::remove_all(tmpl);
}

TEST(AuthorityTokens, AreRandomAndKeptHashed) {
    const std::string a = new_token(), b = new_token();
    EXPECT_NE(a, b);
    EXPECT_EQ(a.size(), 4u + 64u);
    EXPECT_EQ(token_hash(a).size(), 64u);
    EXPECT_NE(token_hash(a), token_hash(b));
    EXPECT_EQ(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace jit::authority::test
