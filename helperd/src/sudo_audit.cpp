// op=sudo_audit's message: parsing and the command line (docs/sudo.md).
#include <jit/helperd/sudo_audit.hpp>
#include <jit/names.hpp>

#include <charconv>

namespace jit::helperd {

namespace {

Error bad(const std::string& key, const std::string& what) {
    return make_error("bad_request", "'" + key + "' " + what);
}

bool has_control(const std::string& s) {
    for (const char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
    return false;
}

// A text value without control characters, at most `max` bytes.
Status text(const ipc::Message& m, const std::string& key, std::size_t max, std::string& out) {
    out = ipc::get(m, key);
    if (out.size() > max) return bad(key, "is longer than " + std::to_string(max) + " bytes");
    if (has_control(out)) return bad(key, "contains a control character");
    return Ok{};
}

bool run_as_ok(const std::string& s) {
    if (jit::is_posix_name(s) || s == "root") return true;
    if (s.size() < 2 || s.size() > 11 || s[0] != '#') return false;
    return s.find_first_not_of("0123456789", 1) == std::string::npos;
}

bool safe_word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
}

}  // namespace

Result<SudoAuditRecord> parse_sudo_audit(const ipc::Message& m) {
    SudoAuditRecord r;
    const std::string event = ipc::get(m, "event");
    if (event == "accept") r.kind = SudoAuditRecord::Kind::Accept;
    else if (event == "reject") r.kind = SudoAuditRecord::Kind::Reject;
    else if (event == "error") r.kind = SudoAuditRecord::Kind::Error;
    else return bad("event", "must be accept, reject or error");
    r.user = ipc::get(m, "user");
    if (!jit::is_posix_name(r.user) && r.user != "root") return bad("user", "missing or not a valid login name");
    r.run_as = ipc::get(m, "run_as", "root");
    if (!run_as_ok(r.run_as)) return bad("run_as", "is not a user name or #uid");
    if (auto st = text(m, "cwd", 4096, r.cwd); !st) return st.error();
    if (!r.cwd.empty() && r.cwd[0] != '/') return bad("cwd", "is not an absolute path");
    if (auto st = text(m, "tty", 256, r.tty); !st) return st.error();
    if (auto st = text(m, "message", 1024, r.message); !st) return st.error();
    const std::string truncated = ipc::get(m, "truncated", "no");
    if (truncated != "yes" && truncated != "no") return bad("truncated", "must be yes or no");
    r.truncated = truncated == "yes";
    const std::string argc_text = ipc::get(m, "argc");
    std::size_t argc = 0;
    auto [end, ec] = std::from_chars(argc_text.data(), argc_text.data() + argc_text.size(), argc);
    if (ec != std::errc() || end != argc_text.data() + argc_text.size() || argc_text.empty() || argc == 0 ||
        argc > kSudoMaxArgs)
        return bad("argc", "must be 1.." + std::to_string(kSudoMaxArgs));
    std::size_t total = 0;
    r.argv.reserve(argc);
    for (std::size_t i = 0; i < argc; ++i) {
        const std::string key = "arg." + std::to_string(i);
        auto it = m.find(key);
        if (it == m.end()) return bad(key, "is missing (argc is " + argc_text + ")");
        total += it->second.size();
        if (total > kSudoMaxCommandBytes)
            return bad(key, "makes the command longer than " + std::to_string(kSudoMaxCommandBytes) + " bytes");
        r.argv.push_back(it->second);
    }
    if (r.argv[0].empty()) return bad("arg.0", "is empty");
    return r;
}

std::string render_command_line(const std::vector<std::string>& argv, bool truncated) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const std::string& word : argv) {
        if (!out.empty()) out += ' ';
        bool safe = !word.empty();
        for (const char c : word) safe = safe && safe_word_char(c);
        if (safe) {
            out += word;
            continue;
        }
        out += "$'";
        for (const char c : word) {
            const auto u = static_cast<unsigned char>(c);
            if (c == '\'' || c == '\\') {
                out += '\\';
                out += c;
            } else if (u < 0x20 || u == 0x7f) {
                out += "\\x";
                out += kHex[u >> 4];
                out += kHex[u & 15];
            } else {
                out += c;
            }
        }
        out += '\'';
    }
    if (truncated) out += " …(truncated)";
    return out;
}

}  // namespace jit::helperd
