#include <jit/base64.hpp>

#include <openssl/evp.h>

#include <climits>
#include <vector>

namespace jit {

namespace {

int sextet(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace

Result<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0)
        return make_error("base64", "length " + std::to_string(text.size()) +
                                        " is not a multiple of 4 (truncated or unpadded)");
    if (text.size() > static_cast<std::size_t>(INT_MAX))
        return make_error("base64", "too long");
    std::size_t padding = 0;
    if (!text.empty() && text.back() == '=') ++padding;
    if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
    // OpenSSL does the decoding; the checks here make it strict (EVP_DecodeBlock
    // skips whitespace and cannot tell padding from data).
    for (std::size_t i = 0; i < text.size() - padding; ++i) {
        if (sextet(text[i]) < 0)
            return make_error("base64", "invalid character at offset " + std::to_string(i));
    }
    if (padding > 0) {
        const int last = sextet(text[text.size() - padding - 1]);
        const int unused_mask = padding == 2 ? 0x0F : 0x03;
        if ((last & unused_mask) != 0)
            return make_error("base64", "non-zero bits after the last byte (not canonical)");
    }
    if (text.empty()) return std::string{};
    std::vector<unsigned char> out(text.size() / 4 * 3);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0 || static_cast<std::size_t>(n) != out.size())
        return make_error("base64", "OpenSSL could not decode it");
    return std::string(reinterpret_cast<const char*>(out.data()), out.size() - padding);
}

std::string base64_encode(std::string_view bytes) {
    if (bytes.empty()) return {};
    std::vector<unsigned char> out((bytes.size() + 2) / 3 * 4 + 1);
    const int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    return std::string(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(n));
}

}  // namespace jit
