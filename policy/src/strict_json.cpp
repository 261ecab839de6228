#include "strict_json.hpp"

#include <json/reader.h>

#include <cstdint>
#include <memory>
#include <sstream>

namespace jit::detail {

bool is_valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        std::uint32_t min = 0;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;  // stray continuation byte or 0xF8..0xFF
        }
        if (static_cast<std::size_t>(end - p) < len) return false;
        for (std::size_t i = 1; i < len; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        p += len;
    }
    return true;
}

bool has_control_chars(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7F) return true;
        // C1 controls U+0080..U+009F are encoded as C2 80..C2 9F.
        if (c == 0xC2 && i + 1 < s.size()) {
            const auto n = static_cast<unsigned char>(s[i + 1]);
            if (n >= 0x80 && n <= 0x9F) return true;
        }
    }
    return false;
}

std::string quoted(std::string_view s, std::size_t max) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    std::size_t shown = 0;
    for (const char ch : s) {
        if (shown >= max) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c >= 0x20 && c < 0x7F) {
            out += ch;
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        }
        ++shown;
    }
    out += '"';
    return out;
}

namespace {

// Scans the raw bytes outside strings for bracket depth, so that an
// attacker's "[[[[[[..." never reaches a recursive parser, and for leading
// zeros, which jsoncpp would accept.
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// True when the digit at `i` is the first digit of a number's integer part
// (not inside a fraction or an exponent, where leading zeros are legal).
bool starts_number(std::string_view b, std::size_t i) {
    if (i == 0) return true;
    const char prev = b[i - 1];
    if (is_digit(prev) || prev == '.' || prev == 'e' || prev == 'E' || prev == '+') return false;
    if (prev == '-' && i >= 2 && (b[i - 2] == 'e' || b[i - 2] == 'E')) return false;
    return true;
}

Status scan_structure(std::string_view bytes, std::size_t max_depth, std::size_t max_elements, const std::string& code,
                   const std::string& what) {
    std::size_t depth = 0;
    std::size_t separators = 0;
    bool in_string = false;
    bool escaped = false;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const char c = bytes[i];
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '0' && i + 1 < bytes.size() && is_digit(bytes[i + 1]) && starts_number(bytes, i)) {
            // RFC 8259 numbers have no leading zeros; jsoncpp would read 010 as 10.
            return make_error(code, what + " has a number with a leading zero (at byte " + std::to_string(i) + ")");
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) {
                return make_error(code, what + " nests objects/arrays deeper than " +
                                            std::to_string(max_depth) + " levels (at byte " +
                                            std::to_string(i) + "); the schema needs no more");
            }
        } else if (c == ',' && ++separators >= max_elements) {
            // jsoncpp spends ~100 bytes per element; bound the blow-up of a
            // few bytes per element in the input.
            return make_error(code, what + " has more than " + std::to_string(max_elements) +
                                        " JSON elements (at byte " + std::to_string(i) + ")");
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return Ok{};
}

// jsoncpp reports "* Line 1, Column 9\n  Syntax error: ...\n"; keep the
// first error on one line.
std::string one_line(const std::string& errs) {
    std::string out;
    for (const char c : errs) {
        const bool space = c == '\n' || c == ' ' || c == '\t';
        if (space && (out.empty() || out.back() == ' ')) continue;
        out += space ? ' ' : c;
        if (out.size() > 200) break;
    }
    if (out.rfind("* ", 0) == 0) out.erase(0, 2);
    const std::size_t next = out.find(" * Line");
    if (next != std::string::npos) out.resize(next);
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

}  // namespace

Result<Json::Value> parse_strict_json(std::string_view bytes, std::size_t max_depth, std::size_t max_elements,
                                      const std::string& code, const std::string& what) {
    if (!is_valid_utf8(bytes)) return make_error(code, what + " is not valid UTF-8");
    if (bytes.size() >= 3 && bytes.substr(0, 3) == "\xEF\xBB\xBF")
        return make_error(code, what + " starts with a byte order mark (not allowed in JSON)");
    if (auto st = scan_structure(bytes, max_depth, max_elements, code, what); !st) return st.error();

    Json::CharReaderBuilder builder;
    Json::CharReaderBuilder::strictMode(&builder.settings_);
    builder["allowComments"] = false;
    builder["allowTrailingCommas"] = false;
    builder["allowSpecialFloats"] = false;
    builder["rejectDupKeys"] = true;
    builder["failIfExtra"] = true;
    builder["strictRoot"] = true;
    builder["skipBom"] = false;
    // Our own scan already bounded the depth; this is a second fence.
    builder["stackLimit"] = static_cast<Json::UInt>(max_depth + 2);
    const std::unique_ptr<Json::CharReader> reader(builder.newCharReader());

    Json::Value root;
    std::string errs;
    bool parsed = false;
    try {
        parsed = reader->parse(bytes.data(), bytes.data() + bytes.size(), &root, &errs);
    } catch (const std::exception& e) {
        errs = e.what();
        parsed = false;
    }
    if (!parsed) return make_error(code, what + " is not valid JSON: " + one_line(errs));
    if (!root.isObject()) return make_error(code, what + " must be a JSON object");
    return root;
}

}  // namespace jit::detail
