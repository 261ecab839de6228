// helperd.conf parser and validator (docs/config.md).
#include <jit/helperd/config.hpp>
#include <jit/bundle.hpp>
#include <jit/names.hpp>
#include <jit/ssh_keys.hpp>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace jit::helperd {

std::string_view trim_blanks(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

namespace {

std::vector<std::string> split_list(std::string_view v) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : v) {
        if (c == ',' || c == ' ' || c == '\t') {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
    if (s.empty() || s.size() > 18) return std::nullopt;
    std::int64_t v = 0;
    bool neg = false;
    std::size_t i = 0;
    if (s[0] == '-') { neg = true; i = 1; }
    if (i == s.size()) return std::nullopt;
    for (; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        v = v * 10 + (s[i] - '0');
    }
    return neg ? -v : v;
}

std::string short_hostname() {
    char buf[256] = {};
    if (gethostname(buf, sizeof(buf) - 1) != 0) return {};
    std::string h(buf);
    auto dot = h.find('.');
    if (dot != std::string::npos) h.resize(dot);
    return h;
}

struct Where {
    int line = 0;
};

class Parser {
public:
    Parser(const std::string& file, const ParseOptions& opt, Config& cfg) : file_(file), opt_(opt), cfg_(cfg) {
        cfg_.path = file;
        register_keys();
        register_limit_keys();
    }

    void parse(std::string_view text) {
        std::string section;
        int line_no = 0;
        while (!text.empty() || line_no == 0) {
            ++line_no;
            auto nl = text.find('\n');
            std::string_view raw = text.substr(0, nl);
            text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
            std::string_view line = trim_blanks(raw);
            if (line_no == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line = trim_blanks(line.substr(3));
            if (line.empty() || line[0] == '#' || line[0] == ';') {
                if (text.empty()) break;
                continue;
            }
            if (line.front() == '[') {
                if (line.back() != ']' || line.size() < 3) {
                    issue(line_no, "", "malformed section header (expected \"[name]\")");
                } else {
                    section = std::string(trim_blanks(line.substr(1, line.size() - 2)));
                    if (!sections_.count(section)) {
                        issue(line_no, "", "unknown section [" + section + "]");
                        section = "?";
                    }
                }
            } else {
                auto eq = line.find('=');
                if (eq == std::string_view::npos) {
                    issue(line_no, "", "expected \"key = value\"");
                } else {
                    std::string key(trim_blanks(line.substr(0, eq)));
                    std::string_view value = trim_blanks(line.substr(eq + 1));
                    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
                        value = value.substr(1, value.size() - 2);
                    handle(line_no, section, key, std::string(value));
                }
            }
            if (text.empty()) break;
        }
        finish();
    }

    std::vector<ConfigIssue> issues;
    std::vector<std::string> keys() const {
        std::vector<std::string> out;
        for (const auto& [k, h] : handlers_) out.push_back(k);
        return out;
    }

private:
    using Handler = std::function<std::optional<std::string>(const std::string&)>;  // returns error text

    void issue(int line, std::string key, std::string message) {
        issues.push_back(ConfigIssue{file_, line, std::move(key), std::move(message)});
    }

    void handle(int line, const std::string& section, const std::string& key, const std::string& value) {
        if (section == "?") return;  // already reported the section
        if (section.empty()) {
            issue(line, key, "key outside of any [section]");
            return;
        }
        const std::string full = section + "." + key;
        auto it = handlers_.find(full);
        if (it == handlers_.end()) {
            issue(line, full, "unknown key in [" + section + "]");
            return;
        }
        if (!seen_.emplace(full, line).second) {
            issue(line, full, "duplicate key (first set on line " + std::to_string(seen_[full]) + ")");
            return;
        }
        if (auto err = it->second(value)) issue(line, full, *err);
    }

    int line_of(const std::string& key) const {
        auto it = seen_.find(key);
        return it == seen_.end() ? 0 : it->second;
    }

    // --- value helpers -----------------------------------------------------
    static Handler int_in(int* out, std::int64_t lo, std::int64_t hi, bool duration) {
        return [=](const std::string& v) -> std::optional<std::string> {
            auto n = duration ? parse_duration(v) : parse_int(v);
            if (!n) return "'" + v + "' is not " + (duration ? "a duration (e.g. 30, 30s, 10m, 2h, 7d)" : "an integer");
            if (*n < lo || *n > hi)
                return "value " + std::to_string(*n) + " out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
            *out = int(*n);
            return std::nullopt;
        };
    }
    static Handler u32_in(std::uint32_t* out, std::int64_t lo, std::int64_t hi) {
        return [=](const std::string& v) -> std::optional<std::string> {
            auto n = parse_int(v);
            if (!n) return "'" + v + "' is not an integer";
            if (*n < lo || *n > hi)
                return "value " + std::to_string(*n) + " out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
            *out = std::uint32_t(*n);
            return std::nullopt;
        };
    }
    static Handler abs_path(std::string* out, bool allow_empty) {
        return [=](const std::string& v) -> std::optional<std::string> {
            if (v.empty() && allow_empty) { out->clear(); return std::nullopt; }
            if (v.empty() || v[0] != '/') return "'" + v + "' is not an absolute path";
            if (v.find('\n') != std::string::npos) return "path contains a newline";
            *out = v;
            return std::nullopt;
        };
    }
    static Handler boolean(bool* out) {
        return [=](const std::string& v) -> std::optional<std::string> {
            if (v == "yes" || v == "true" || v == "1" || v == "on") *out = true;
            else if (v == "no" || v == "false" || v == "0" || v == "off") *out = false;
            else return "'" + v + "' is not a boolean (yes/no, true/false)";
            return std::nullopt;
        };
    }
    static Handler names(std::vector<std::string>* out, const char* what) {
        return [=](const std::string& v) -> std::optional<std::string> {
            out->clear();
            for (auto& n : split_list(v)) {
                if (!jit::is_posix_name(n)) return "'" + n + "' is not a valid " + what + " name";
                out->push_back(n);
            }
            return std::nullopt;
        };
    }

    void register_keys() {
        Config& c = cfg_;
        for (const char* s : {"authority", "socket", "state", "pam", "access", "nss", "sudo", "enforce", "ssh", "recording"}) sections_.insert(s);
        auto& h = handlers_;
        h["authority.url"] = [&c](const std::string& v) -> std::optional<std::string> {
            std::string u = v;
            while (!u.empty() && u.back() == '/') u.pop_back();
            const bool https = u.rfind("https://", 0) == 0;
            const bool http = u.rfind("http://", 0) == 0;
            if (!https && !http) return "'" + v + "' must start with https:// (or http:// to a loopback address)";
            const std::size_t scheme = https ? 8 : 7;
            if (u.size() <= scheme) return "'" + v + "' has no host";
            for (char ch : u)
                if (ch <= ' ' || ch == '?' || ch == '#' || ch == '"' || ch == 0x7f) return "'" + v + "' contains a space, control character, '?', '#' or quote";
            if (http && !url_host_is_loopback(u))
                return "plain http:// is only allowed to a loopback address (127.0.0.0/8, ::1, localhost); use https://";
            c.authority.url = u;
            c.authority.plain_http = http;
            return std::nullopt;
        };
        h["authority.host_id"] = [&c](const std::string& v) -> std::optional<std::string> {
            if (!jit::is_valid_host_id(v)) return "'" + v + "' does not match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";
            c.authority.host_id = v;
            return std::nullopt;
        };
        h["authority.trusted_keys_dir"] = abs_path(&c.authority.trusted_keys_dir, false);
        h["authority.ca_file"] = abs_path(&c.authority.ca_file, true);
        h["authority.client_cert"] = abs_path(&c.authority.client_cert, true);
        h["authority.client_key"] = abs_path(&c.authority.client_key, true);
        h["authority.token_file"] = abs_path(&c.authority.token_file, true);
        h["authority.poll_wait"] = int_in(&c.authority.poll_wait, 0, 60, true);
        h["authority.connect_timeout"] = int_in(&c.authority.connect_timeout, 1, kMaxConnectTimeout, true);
        h["authority.backoff_min"] = int_in(&c.authority.backoff_min, 1, 3600, true);
        h["authority.backoff_max"] = int_in(&c.authority.backoff_max, 1, 86400, true);
        h["authority.clock_skew"] = [&c](const std::string& v) -> std::optional<std::string> {
            auto n = parse_duration(v);
            if (!n) return "'" + v + "' is not a duration (e.g. 300, 5m)";
            if (*n < 0 || *n > 86400) return "value " + std::to_string(*n) + " out of range [0, 86400]";
            c.authority.clock_skew = *n;
            return std::nullopt;
        };
        h["authority.upload_events"] = boolean(&c.authority.upload_events);
        h["authority.upload_sync_ms"] = int_in(&c.authority.upload_sync_ms, 0, 10000, false);
        h["authority.stale_policy"] = [&c](const std::string& v) -> std::optional<std::string> {
            if (v == "honour" || v == "honor") c.policy.stale_policy = HostPolicy::StalePolicy::Honour;
            else if (v == "suspend") c.policy.stale_policy = HostPolicy::StalePolicy::Suspend;
            else return "'" + v + "' is not one of: honour, suspend";
            return std::nullopt;
        };
        h["socket.path"] = [&c](const std::string& v) -> std::optional<std::string> {
            if (v.empty() || v[0] != '/') return "'" + v + "' is not an absolute path";
            if (v.size() >= 108) return "path longer than 107 bytes (unix socket limit)";
            c.socket.path = v;
            return std::nullopt;
        };
        h["socket.mode"] = [&c](const std::string& v) -> std::optional<std::string> {
            if (v.empty() || v.size() > 4 || v.find_first_not_of("01234567") != std::string::npos)
                return "'" + v + "' is not an octal mode such as 0666 or 0660";
            c.socket.mode = std::uint32_t(std::stoul(v, nullptr, 8));
            if (c.socket.mode & ~0777u) return "'" + v + "' has bits beyond 0777";
            return std::nullopt;
        };
        h["socket.group"] = [&c](const std::string& v) -> std::optional<std::string> {
            if (!v.empty() && !jit::is_posix_name(v)) return "'" + v + "' is not a valid group name";
            c.socket.group = v;
            return std::nullopt;
        };
        h["socket.io_timeout_ms"] = int_in(&c.socket.io_timeout_ms, 100, 60000, false);
        h["socket.max_connections"] = int_in(&c.socket.max_connections, 1, 4096, false);
        h["socket.max_connections_per_user"] = int_in(&c.socket.max_connections_per_user, 1, 4096, false);
        h["state.dir"] = abs_path(&c.state_dir, false);
        h["pam.timeout_ms"] = int_in(&c.pam_timeout_ms, 50, 30000, false);
        h["pam.request_hint"] = [&c](const std::string& v) -> std::optional<std::string> {
            if (v.size() > 200) return "longer than 200 bytes (it is shown in one line to the user)";
            c.policy.request_hint = v;
            return std::nullopt;
        };
        h["access.break_glass_users"] = names(&c.policy.break_glass_users, "user");
        h["access.managed_uid_min"] = u32_in(&c.policy.managed_uid_min, 1, 2147483646);
        h["access.managed_uid_max"] = u32_in(&c.policy.managed_uid_max, 1, 2147483646);
        h["access.managed_groups"] = names(&c.policy.managed_groups, "group");
        h["access.account_cache_ttl"] = int_in(&c.account_cache_ttl, 0, 300, true);
        h["nss.db_path"] = abs_path(&c.nss.db_path, false);
        h["nss.uid_min"] = u32_in(&c.nss.uid_min, 1000, 2147483646);
        h["nss.uid_max"] = u32_in(&c.nss.uid_max, 1000, 2147483646);
        h["nss.retention"] = [&c](const std::string& v) -> std::optional<std::string> {
            auto n = parse_duration(v);
            if (!n || *n > 3650LL * 86400) return "'" + v + "' is not a duration up to 3650d (e.g. 0, 12h, 7d)";
            c.nss.retention = *n;
            return std::nullopt;
        };
        h["nss.uid_quarantine"] = [&c](const std::string& v) -> std::optional<std::string> {
            auto n = parse_duration(v);
            if (!n || *n > 3650LL * 86400) return "'" + v + "' is not a duration up to 3650d (e.g. 90d)";
            c.nss.uid_quarantine = *n;
            return std::nullopt;
        };
        h["nss.nologin_shell"] = abs_path(&c.nss.nologin_shell, false);
        h["nss.home_base"] = abs_path(&c.nss.home_base, false);
        h["nss.default_shell"] = abs_path(&c.nss.default_shell, false);
        h["nss.create_home"] = boolean(&c.nss.create_home);
        h["nss.skel"] = abs_path(&c.nss.skel, false);
        h["sudo.dropin_path"] = abs_path(&c.sudoers_path, true);
        h["ssh.key_options"] = [&c](const std::string& v) -> std::optional<std::string> {
            auto opts = jit::parse_ssh_key_options(v);
            if (!opts) return opts.error().message;
            c.ssh.key_options = *opts;
            return std::nullopt;
        };
        h["ssh.keys_command_user"] = [&c](const std::string& v) -> std::optional<std::string> {
            if (!v.empty() && !jit::is_posix_name(v)) return "'" + v + "' is not a valid user name";
            c.ssh.keys_command_user = v;
            return std::nullopt;
        };
        h["ssh.users_group"] = [&c](const std::string& v) -> std::optional<std::string> {
            if (!v.empty() && !jit::is_posix_name(v)) return "'" + v + "' is not a valid group name";
            c.ssh.users_group = v;
            return std::nullopt;
        };
        h["recording.sessions"] = boolean(&c.recording.sessions);
        h["recording.shell"] = abs_path(&c.recording.shell, false);
        h["enforce.warn_before"] = [&c](const std::string& v) -> std::optional<std::string> {
            c.enforce.warn_before.clear();
            for (auto& item : split_list(v)) {
                auto n = parse_duration(item);
                if (!n || *n <= 0 || *n > 86400) return "'" + item + "' is not a duration between 1s and 1d";
                c.enforce.warn_before.push_back(int(*n));
            }
            std::sort(c.enforce.warn_before.rbegin(), c.enforce.warn_before.rend());
            return std::nullopt;
        };
        h["enforce.kill_grace"] = int_in(&c.enforce.kill_grace, 0, 300, true);
        h["enforce.home_retention"] = [&c](const std::string& v) -> std::optional<std::string> {
            if (v == "forever" || v == "keep") {
                c.enforce.home_retention_days = -1;
                return std::nullopt;
            }
            auto n = parse_duration(v);
            if (!n || *n < 0 || *n % 86400 != 0 || *n > 3650LL * 86400)
                return "'" + v + "' is not 'forever' or a number of days up to 3650d (e.g. 30d)";
            c.enforce.home_retention_days = int(*n / 86400);
            return std::nullopt;
        };
        h["enforce.home_retention_action"] = [&c](const std::string& v) -> std::optional<std::string> {
            if (v == "archive") c.enforce.home_retention_delete = false;
            else if (v == "delete") c.enforce.home_retention_delete = true;
            else return "'" + v + "' is not one of: archive, delete";
            return std::nullopt;
        };
    }

    // [limits]: what any grant may do on this host (policy/include/jit/limits.hpp).
    void register_limit_keys() {
        GrantLimits& l = cfg_.policy.limits;
        sections_.insert("limits");
        auto& h = handlers_;
        // An empty value is an empty list (nothing allowed), unlike a key left out (anything).
        auto some_names = [](std::optional<std::vector<std::string>>* out, const char* what) -> Handler {
            return [out, what](const std::string& v) -> std::optional<std::string> {
                std::vector<std::string> list;
                if (auto err = names(&list, what)(v)) return err;
                *out = std::move(list);
                return std::nullopt;
            };
        };
        h["limits.allowed_groups"] = some_names(&l.allowed_groups, "group");
        h["limits.denied_groups"] = names(&l.denied_groups, "group");
        h["limits.allowed_run_as"] = some_names(&l.allowed_run_as, "user");
        h["limits.allowed_sudo_commands"] = [&l](const std::string& v) -> std::optional<std::string> {
            std::vector<std::string> list;
            std::string_view rest = v;
            while (!rest.empty()) {  // commas separate: commands have spaces
                const auto comma = rest.find(',');
                std::string command(trim_blanks(rest.substr(0, comma)));
                rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
                if (command.empty()) return "an empty command between commas";
                if (std::string why = jit::sudo_command_problem(command); !why.empty())
                    return "command '" + command + "' " + why;
                list.push_back(std::move(command));
            }
            l.allowed_sudo_commands = std::move(list);
            return std::nullopt;
        };
        h["limits.max_window"] = [&l](const std::string& v) -> std::optional<std::string> {
            auto n = parse_duration(v);
            if (!n || *n < 0 || *n > 3650LL * 86400) return "'" + v + "' is not a duration up to 3650d (e.g. 0, 8h, 7d)";
            l.max_window = *n;
            return std::nullopt;
        };
        auto approvers = [](std::size_t* out) -> Handler {
            return [out](const std::string& v) -> std::optional<std::string> {
                auto n = parse_int(v);
                if (!n) return "'" + v + "' is not an integer";
                if (*n < 0 || *n > std::int64_t(limits::kMaxApprovers))
                    return "value " + std::to_string(*n) + " out of range [0, " + std::to_string(limits::kMaxApprovers) + "]";
                *out = std::size_t(*n);
                return std::nullopt;
            };
        };
        h["limits.min_approvers"] = approvers(&l.min_approvers);
        h["limits.min_sudo_approvers"] = approvers(&l.min_sudo_approvers);
        h["limits.login_shell"] = abs_path(&l.login_shell, true);
    }

    void finish_limits() {
        const GrantLimits& l = cfg_.policy.limits;
        if (!l.allowed_groups) return;
        for (const auto& g : *l.allowed_groups)
            if (std::find(l.denied_groups.begin(), l.denied_groups.end(), g) != l.denied_groups.end())
                issue(line_of("limits.allowed_groups"), "limits.allowed_groups",
                      "group '" + g + "' is also in limits.denied_groups" +
                          (seen_.count("limits.denied_groups") ? "" : " (the default list)") +
                          ", which wins; take it out of one of them");
    }

    void file_mode_check(const std::string& key, const std::string& path, bool secret) {
        struct stat st{};
        if (stat(path.c_str(), &st) != 0) {
            issue(line_of(key), key, path + ": " + std::strerror(errno));
            return;
        }
        if (!S_ISREG(st.st_mode)) {
            issue(line_of(key), key, path + ": not a regular file");
            return;
        }
        if (secret) {
            if (st.st_mode & 077)
                issue(line_of(key), key, path + ": readable or writable by group/others (mode " +
                      [&] { char b[8]; snprintf(b, sizeof b, "%04o", unsigned(st.st_mode & 07777)); return std::string(b); }() +
                      "); it must be root-only (chmod 0600)");
            else if (st.st_uid != 0 && st.st_uid != geteuid())
                issue(line_of(key), key, path + ": not owned by root");
        }
    }

    void finish() {
        Config& c = cfg_;
        if (!seen_.count("authority.url")) issue(0, "authority.url", "required key is missing in [authority]");
        if (c.authority.host_id.empty()) {
            std::string h = opt_.default_host_id.empty() ? short_hostname() : opt_.default_host_id;
            if (!jit::is_valid_host_id(h))
                issue(0, "authority.host_id", "not set and the short hostname '" + h + "' is not a valid host id; set it");
            c.authority.host_id = h;
        }
        c.policy.host_id = c.authority.host_id;
        if (c.authority.client_cert.empty() != c.authority.client_key.empty())
            issue(line_of(c.authority.client_cert.empty() ? "authority.client_key" : "authority.client_cert"),
                  c.authority.client_cert.empty() ? "authority.client_cert" : "authority.client_key",
                  "client_cert and client_key must be set together");
        if (c.authority.backoff_min > c.authority.backoff_max)
            issue(line_of("authority.backoff_min"), "authority.backoff_min", "greater than authority.backoff_max");
        if (c.policy.managed_uid_min > c.policy.managed_uid_max)
            issue(line_of("access.managed_uid_min"), "access.managed_uid_min", "greater than access.managed_uid_max");
        if (c.nss.uid_min > c.nss.uid_max) issue(line_of("nss.uid_min"), "nss.uid_min", "greater than nss.uid_max");
        for (const auto& u : c.policy.break_glass_users)
            if (u == "root") issue(line_of("access.break_glass_users"), "access.break_glass_users",
                                   "root is never managed; listing it is unnecessary and hides mistakes");
        finish_limits();
        if (!opt_.check_files) return;
        if (!c.authority.token_file.empty()) file_mode_check("authority.token_file", c.authority.token_file, true);
        if (!c.authority.client_key.empty()) file_mode_check("authority.client_key", c.authority.client_key, true);
        if (!c.authority.client_cert.empty()) file_mode_check("authority.client_cert", c.authority.client_cert, false);
        if (!c.authority.ca_file.empty()) file_mode_check("authority.ca_file", c.authority.ca_file, false);
        struct stat st{};
        if (stat(c.authority.trusted_keys_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
            issue(line_of("authority.trusted_keys_dir"), "authority.trusted_keys_dir",
                  c.authority.trusted_keys_dir + ": not a readable directory");
    }

    const std::string& file_;
    const ParseOptions& opt_;
    Config& cfg_;
    std::set<std::string> sections_;
    std::map<std::string, Handler> handlers_;
    std::map<std::string, int> seen_;
};

}  // namespace

std::string ConfigIssue::to_string() const {
    std::string s = file;
    if (line > 0) s += ":" + std::to_string(line);
    s += ": ";
    if (!key.empty()) s += "key '" + key + "': ";
    s += message;
    return s;
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
    text = trim_blanks(text);
    if (text.empty()) return std::nullopt;
    std::int64_t mult = 1;
    switch (text.back()) {
    case 's': mult = 1; text.remove_suffix(1); break;
    case 'm': mult = 60; text.remove_suffix(1); break;
    case 'h': mult = 3600; text.remove_suffix(1); break;
    case 'd': mult = 86400; text.remove_suffix(1); break;
    default: break;
    }
    auto n = parse_int(text);
    if (!n || *n < 0 || *n > INT_MAX / mult) return std::nullopt;
    return *n * mult;
}

bool url_host_is_loopback(std::string_view url) {
    auto p = url.find("://");
    if (p == std::string_view::npos) return false;
    std::string_view rest = url.substr(p + 3);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (authority.find('@') != std::string_view::npos) return false;  // no userinfo tricks
    std::string_view host;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return false;
        host = authority.substr(1, close - 1);
        return host == "::1";
    }
    host = authority.substr(0, authority.find(':'));
    if (host == "localhost") return true;
    // 127.a.b.c with decimal octets only.
    if (host.rfind("127.", 0) != 0) return false;
    int parts = 0;
    std::size_t i = 0;
    while (i <= host.size()) {
        auto dot = host.find('.', i);
        std::string_view part = host.substr(i, dot == std::string_view::npos ? host.size() - i : dot - i);
        auto v = parse_int(part);
        if (!v || *v < 0 || *v > 255 || part.size() > 3) return false;
        ++parts;
        if (dot == std::string_view::npos) break;
        i = dot + 1;
    }
    return parts == 4;
}

std::vector<std::string> config_keys() {
    Config cfg;
    ParseOptions opt;
    Parser p("", opt, cfg);
    return p.keys();
}

std::vector<ConfigIssue> config_issues(std::string_view text, const std::string& file, const ParseOptions& options,
                                       Config* out) {
    Config cfg;
    Parser p(file, options, cfg);
    p.parse(text);
    if (out) *out = cfg;
    return p.issues;
}

Result<Config> parse_config(std::string_view text, const std::string& file, const ParseOptions& options) {
    Config cfg;
    auto issues = config_issues(text, file, options, &cfg);
    if (!issues.empty()) {
        std::string msg;
        for (const auto& i : issues) {
            if (!msg.empty()) msg += "\n";
            msg += i.to_string();
        }
        return make_error("config", msg);
    }
    return cfg;
}

Result<Config> load_config(const std::string& file, const ParseOptions& options) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return make_error("config", file + ": cannot open: " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() > 1024 * 1024) return make_error("config", file + ": larger than 1 MiB");
    return parse_config(text, file, options);
}

}  // namespace jit::helperd
