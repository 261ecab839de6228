// Strict JSON reading for untrusted authority data: UTF-8 checked on the raw
// bytes, nesting bounded before any recursive parser sees the input, jsoncpp
// configured to refuse everything RFC 8259 does not allow (comments, trailing
// commas, duplicate keys, trailing garbage, NaN). Internal to jit_policy.
#pragma once

#include <jit/result.hpp>

#include <json/value.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace jit::detail {

// True when `s` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// True when `s` holds a C0/C1 control character or DEL (anything a terminal or
// a line-oriented log could interpret). `s` must be valid UTF-8.
bool has_control_chars(std::string_view s);

// `s` made safe to show in an error message: printable ASCII kept, everything
// else as \xNN, cut to `max` bytes with "..." appended.
std::string quoted(std::string_view s, std::size_t max = 64);

// Parses `bytes` as one JSON object, refusing nesting deeper than max_depth
// and more than max_elements array elements / object members in total.
// `what` names the document in errors ("envelope", "payload"); the error code
// is `code`.
Result<Json::Value> parse_strict_json(std::string_view bytes, std::size_t max_depth, std::size_t max_elements,
                                      const std::string& code, const std::string& what);

}  // namespace jit::detail
