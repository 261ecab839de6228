// Grant keys and principals for sshd (docs/ssh.md).
#include <jit/base64.hpp>
#include <jit/ssh_keys.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>
#include <map>

namespace jit {

namespace {

// The key types OpenSSH accepts in authorized_keys today. DSA (disabled since
// OpenSSH 7.0) and certificates (which need a cert-authority line) are not.
constexpr std::array<std::string_view, 7> kSshKeyTypes = {
    "ssh-ed25519",         "ssh-rsa",
    "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
};

// Options that only take something away (or, after "restrict", give back
// what restrict took: still the host's own choice, never the authority's).
constexpr std::array<std::string_view, 12> kFlagOptions = {
    "restrict",      "no-agent-forwarding", "no-port-forwarding", "no-pty",
    "no-user-rc",    "no-X11-forwarding",   "agent-forwarding",   "port-forwarding",
    "pty",           "user-rc",             "X11-forwarding",     "verify-required",
};
constexpr std::array<std::string_view, 3> kValueOptions = {"from", "permitopen", "permitlisten"};

bool in(std::string_view s, const auto& list) { return std::find(list.begin(), list.end(), s) != list.end(); }

// Pattern lists and host:port values: no quote, backslash, space or control
// character can end the quoted value early or smuggle another option in.
bool option_value_ok(std::string_view v) {
    if (v.empty() || v.size() > 1024) return false;
    for (const char c : v) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        std::string_view(".:*?!,/_-[]%").find(c) != std::string_view::npos;
        if (!ok) return false;
    }
    return true;
}

std::uint32_t be32(const std::string& b) {
    return (static_cast<std::uint32_t>(static_cast<unsigned char>(b[0])) << 24) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(b[1])) << 16) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(b[2])) << 8) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(b[3]));
}

std::string prefix(UnixTime not_after, std::string_view options) {
    // sshd refuses a key once now > expiry-time: the window's last second
    // (not_after - 1) keeps the window half-open as everywhere else.
    std::string p = "expiry-time=\"" + ssh_expiry_time(not_after - 1) + "\"";
    if (!options.empty()) p += "," + std::string(options);
    return p;
}

bool login_window_open(const Grant& g, std::string_view user, UnixTime now) {
    return g.user == user && g.login && g.active_at(now);
}

}  // namespace

std::string check_ssh_key_line(std::string_view line) {
    for (const char c : line)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "contains a control character";
    const std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return "is not \"<key type> <base64 key> [comment]\"";
    const std::string type(line.substr(0, sp1));
    if (!in(std::string_view(type), kSshKeyTypes))
        return "has key type \"" + type.substr(0, 64) +
               "\"; allowed: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com, "
               "sk-ecdsa-sha2-nistp256@openssh.com (no options prefix)";
    const std::size_t sp2 = line.find(' ', sp1 + 1);
    const std::string_view b64 = line.substr(sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1);
    auto blob = base64_decode(b64);
    if (!blob) return "has an invalid base64 key: " + blob.error().message;
    const std::string& b = blob.value();
    if (b.size() < 4) return "has a key blob too short to hold its type";
    const std::uint32_t len = be32(b);
    if (len != type.size() || b.size() < 4 + static_cast<std::size_t>(len) || b.compare(4, len, type) != 0)
        return "has a key blob that does not hold a " + type + " key";
    if (b.size() == 4 + static_cast<std::size_t>(len)) return "has a key blob with no key material";
    return {};
}

Result<std::string> parse_ssh_key_options(std::string_view text) {
    auto bad = [](const std::string& what) { return make_error("ssh.key_options", what); };
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
        if (i == text.size()) break;
        std::size_t end = text.find_first_of(",=", i);
        std::string_view name = text.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
        if (name.empty()) return bad("an empty option in \"" + std::string(text) + "\"");
        std::string item(name);
        if (end != std::string_view::npos && text[end] == '=') {
            if (!in(name, kValueOptions))
                return bad("option \"" + item + "=\" is not allowed (allowed with a value: from, permitopen, permitlisten)");
            if (end + 1 >= text.size() || text[end + 1] != '"')
                return bad("option \"" + item + "\": the value must be in double quotes");
            const std::size_t close = text.find('"', end + 2);
            if (close == std::string_view::npos) return bad("option \"" + item + "\": the closing quote is missing");
            const std::string_view value = text.substr(end + 2, close - end - 2);
            if (!option_value_ok(value))
                return bad("option \"" + item + "\": the value may hold only letters, digits and . : * ? ! , / _ - [ ] %");
            item += "=\"" + std::string(value) + "\"";
            i = close + 1;
            while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
            if (i < text.size() && text[i] != ',') return bad("option \"" + std::string(name) + "\": a comma must follow the value");
        } else {
            if (!in(name, kFlagOptions))
                return bad("option \"" + item + "\" is not allowed (allowed: restrict, no-agent-forwarding, "
                           "no-port-forwarding, no-pty, no-user-rc, no-X11-forwarding, agent-forwarding, "
                           "port-forwarding, pty, user-rc, X11-forwarding, verify-required, from=, permitopen=, "
                           "permitlisten=)");
            i = end == std::string_view::npos ? text.size() : end;
        }
        if (i < text.size()) ++i;  // the comma
        out += (out.empty() ? "" : ",") + item;
    }
    return out;
}

std::string ssh_expiry_time(UnixTime t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    if (t < 0 || gmtime_r(&tt, &tm) == nullptr) return "19700101000000Z";
    char buf[32];
    if (std::strftime(buf, sizeof buf, "%Y%m%d%H%M%SZ", &tm) == 0) return "19700101000000Z";
    return buf;
}

SshAuthorization authorized_keys_for(const std::vector<Grant>& grants, std::string_view user, UnixTime now,
                                     std::string_view options) {
    SshAuthorization out;
    // type + blob -> (latest not_after, the line as the grant gave it)
    std::map<std::string, std::pair<UnixTime, std::string>> keys;
    for (const Grant& g : grants) {
        if (!login_window_open(g, user, now)) continue;
        for (std::size_t k = 0; k < g.ssh_authorized_keys.size(); ++k) {
            const std::string& line = g.ssh_authorized_keys[k];
            if (std::string bad = check_ssh_key_line(line); !bad.empty()) {
                out.dropped.push_back("grant " + g.id + " key " + std::to_string(k + 1) + ": " + bad);
                continue;
            }
            const std::size_t sp2 = line.find(' ', line.find(' ') + 1);
            const std::string identity = line.substr(0, sp2);
            auto [it, fresh] = keys.try_emplace(identity, g.not_after, line);
            if (!fresh && g.not_after > it->second.first) it->second = {g.not_after, line};
        }
    }
    std::vector<std::pair<UnixTime, std::string>> ordered;
    for (auto& [identity, v] : keys) ordered.push_back(v);
    // The latest window first: sshd uses the first line whose key matches.
    std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [not_after, line] : ordered) out.lines.push_back(prefix(not_after, options) + " " + line);
    return out;
}

SshAuthorization authorized_principals_for(const std::vector<Grant>& grants, std::string_view user, UnixTime now,
                                           std::string_view options) {
    SshAuthorization out;
    UnixTime end = 0;
    for (const Grant& g : grants)
        if (login_window_open(g, user, now)) end = std::max(end, g.not_after);
    if (end != 0) out.lines.push_back(prefix(end, options) + " " + std::string(user));
    return out;
}

}  // namespace jit
