#include "uid_state.hpp"

#include <jit/names.hpp>

#include <charconv>
#include <string_view>
#include <vector>

namespace jit::nss {

namespace {

constexpr std::string_view kHeader = "jit-nss-uids 2";
constexpr std::string_view kHeaderV1 = "jit-nss-uids 1";
constexpr std::string_view kReleased = "!released";

template <class Int>
bool parse_int(std::string_view s, Int& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> split_tabs(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        auto pos = line.find('\t', start);
        if (pos == std::string_view::npos) {
            out.push_back(line.substr(start));
            return out;
        }
        out.push_back(line.substr(start, pos - start));
        start = pos + 1;
    }
}

}  // namespace

std::string encode_state(const Records& records, const ReleasedUids& released) {
    std::string out(kHeader);
    out += '\n';
    for (const auto& [name, r] : records) {
        out += name;
        out += '\t';
        out += r.has_uid ? std::to_string(r.uid) : std::string("-");
        out += r.from_grant ? "\tgrant\t" : "\talloc\t";
        out += r.present ? '1' : '0';
        out += '\t' + std::to_string(r.active_end) + '\t' + std::to_string(r.gone_since) + '\t';
        out += r.gecos;  // sanitized: no control characters
        out += '\n';
    }
    for (const auto& [uid, r] : released)
        out += std::string(kReleased) + '\t' + std::to_string(uid) + '\t' + r.user + '\t' + std::to_string(r.since) + '\n';
    return out;
}

jit::Result<UidState> decode_state(const std::string& text, const std::string& path) {
    UidState state;
    Records& out = state.records;
    std::size_t start = 0;
    int lineno = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) return make_error("nss.state", path + ": last line is not terminated");
        std::string_view line(text.data() + start, end - start);
        start = end + 1;
        ++lineno;
        auto where = path + ":" + std::to_string(lineno);
        if (lineno == 1) {
            if (line != kHeader && line != kHeaderV1)
                return make_error("nss.state", where + ": expected '" + std::string(kHeader) + "'");
            continue;
        }
        auto f = split_tabs(line);
        if (f[0] == kReleased) {
            UserDb::Released r;
            std::uint32_t uid = 0;
            if (f.size() != 4) return make_error("nss.state", where + ": expected 4 tab-separated fields");
            if (!parse_int(f[1], uid) || uid < 1000u || uid > 2147483646u) return make_error("nss.state", where + ": bad uid");
            if (!is_posix_name(f[2])) return make_error("nss.state", where + ": bad user name");
            if (!parse_int(f[3], r.since)) return make_error("nss.state", where + ": bad time");
            r.user = std::string(f[2]);
            if (!state.released.emplace(uid, std::move(r)).second)
                return make_error("nss.state", where + ": duplicate released uid");
            continue;
        }
        UserDb::Record r;
        int present = 0;
        if (f.size() != 7) return make_error("nss.state", where + ": expected 7 tab-separated fields");
        if (!is_posix_name(f[0])) return make_error("nss.state", where + ": bad user name");
        if (f[1] != "-") {
            if (!parse_int(f[1], r.uid) || r.uid < 1000u || r.uid > 2147483646u)
                return make_error("nss.state", where + ": bad uid");
            r.has_uid = true;
        }
        if (f[2] != "alloc" && f[2] != "grant") return make_error("nss.state", where + ": bad uid source");
        r.from_grant = f[2] == "grant";
        if (!parse_int(f[3], present) || present < 0 || present > 1) return make_error("nss.state", where + ": bad present flag");
        r.present = present == 1;
        if (!parse_int(f[4], r.active_end) || !parse_int(f[5], r.gone_since))
            return make_error("nss.state", where + ": bad time");
        r.gecos = std::string(f[6]);
        if (!out.emplace(std::string(f[0]), std::move(r)).second)
            return make_error("nss.state", where + ": duplicate user");
    }
    if (lineno == 0) return make_error("nss.state", path + ": empty file");
    return state;
}

}  // namespace jit::nss
