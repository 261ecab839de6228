#include <jit/base64.hpp>

#include <gtest/gtest.h>

namespace jit {
namespace {

TEST(Base64, RoundTripsEveryLengthModuloThree) {
    for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
        const auto decoded = base64_decode(base64_encode(s));
        ASSERT_TRUE(decoded.ok()) << decoded.error().message;
        EXPECT_EQ(*decoded, s);
    }
    EXPECT_EQ(base64_encode("abcd"), "YWJjZA==");
}

TEST(Base64, RejectsTruncatedInput) {
    const auto r = base64_decode("YWJjZA=");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "base64");
    EXPECT_NE(r.error().message.find("multiple of 4"), std::string::npos);
    EXPECT_FALSE(base64_decode("YWJjZ").ok());
    EXPECT_FALSE(base64_decode("YWJjZA").ok());  // unpadded
}

TEST(Base64, RejectsWhitespaceUrlAlphabetAndMisplacedPadding) {
    EXPECT_FALSE(base64_decode("YWJj\nZA==").ok());
    EXPECT_FALSE(base64_decode(" YWJjZA=").ok());
    EXPECT_FALSE(base64_decode("YW-_ZA==").ok());
    EXPECT_FALSE(base64_decode("YQ==YQ==").ok());
    EXPECT_FALSE(base64_decode("====").ok());
    EXPECT_FALSE(base64_decode("Y===").ok());
}

TEST(Base64, RejectsNonCanonicalTrailingBits) {
    ASSERT_TRUE(base64_decode("QQ==").ok());
    EXPECT_FALSE(base64_decode("QR==").ok());
    ASSERT_TRUE(base64_decode("QUE=").ok());
    EXPECT_FALSE(base64_decode("QUF=").ok());
}

}  // namespace
}  // namespace jit
