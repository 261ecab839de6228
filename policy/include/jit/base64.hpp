// Base64 (RFC 4648 §4, standard alphabet, padded) for the authority envelope.
// Decoding is strict: no whitespace, no URL-safe alphabet, no missing padding,
// no non-zero bits after the last byte, so each byte string has exactly one
// accepted encoding.
#pragma once

#include <jit/result.hpp>

#include <string>
#include <string_view>

namespace jit {

// Error code "base64"; the message says what is wrong and at which offset.
Result<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

}  // namespace jit
