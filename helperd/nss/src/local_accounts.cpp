#include "local_accounts.hpp"

#include "read_file.hpp"

#include <charconv>
#include <string_view>
#include <vector>

namespace jit::nss {

namespace {

std::vector<std::string_view> split(std::string_view line, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        auto pos = line.find(sep, start);
        out.push_back(line.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
        if (pos == std::string_view::npos) return out;
        start = pos + 1;
    }
}

bool parse_id(std::string_view s, std::uint32_t& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

template <class Fn>
void for_each_entry(const std::string& text, Fn fn) {
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + start, end - start);
        start = end + 1;
        if (line.empty() || line[0] == '#' || line[0] == '+' || line[0] == '-') continue;
        auto fields = split(line, ':');
        if (fields[0].empty()) continue;
        std::uint32_t id = 0;
        bool has_id = fields.size() > 2 && parse_id(fields[2], id);
        fn(std::string(fields[0]), has_id, id);
    }
}

}  // namespace

jit::Result<LocalAccounts> load_local_accounts(const std::string& passwd_file, const std::string& group_file) {
    auto passwd = read_file(passwd_file);
    if (!passwd) return passwd.error();
    auto group = read_file(group_file);
    if (!group) return group.error();
    LocalAccounts out;
    for_each_entry(*passwd, [&](std::string name, bool has_id, std::uint32_t id) {
        out.user_names.insert(std::move(name));
        if (has_id) out.uids.insert(id);
    });
    for_each_entry(*group, [&](std::string name, bool has_id, std::uint32_t id) {
        if (has_id) out.gids.insert(id);
        out.groups.emplace(std::move(name), has_id ? id : UINT32_MAX);
    });
    return out;
}

}  // namespace jit::nss
