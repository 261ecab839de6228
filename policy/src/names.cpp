#include <jit/names.hpp>

namespace jit {

namespace {

bool is_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_or_digit(c) || (c >= 'A' && c <= 'Z'); }
bool is_id_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; }

}  // namespace

bool is_posix_name(std::string_view s) {
    if (s.empty() || s.size() > 32) return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
    for (const char c : s.substr(1)) {
        if (!(is_lower_or_digit(c) || c == '_' || c == '-')) return false;
    }
    return true;
}

bool is_valid_grant_id(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    for (const char c : s) {
        if (!is_id_char(c)) return false;
    }
    return true;
}

bool is_valid_host_id(std::string_view s) {
    if (s.empty() || s.size() > 128 || !is_alnum(s[0])) return false;
    for (const char c : s) {
        if (!is_id_char(c)) return false;
    }
    return true;
}

bool is_valid_key_id(std::string_view s) { return is_valid_host_id(s); }

}  // namespace jit
