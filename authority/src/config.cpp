#include <jit/authority/config.hpp>
#include <jit/helperd/config.hpp>  // parse_duration, trim_blanks: one duration and INI syntax across the project
#include <jit/names.hpp>

#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace jit::authority {
namespace {

using jit::helperd::trim_blanks;  // one INI syntax: helperd.conf's and the rules'

// Space- or comma-separated words; sudo commands are separated by commas only
// (a command may carry arguments).
std::vector<std::string> words(std::string_view v, bool commas_only) {
    std::vector<std::string> out;
    std::string cur;
    auto flush = [&] {
        auto t = trim_blanks(cur);
        if (!t.empty()) out.emplace_back(t);
        cur.clear();
    };
    for (char c : v) {
        if (c == ',' || (!commas_only && (c == ' ' || c == '\t'))) flush();
        else cur += c;
    }
    flush();
    return out;
}

using Handler = std::function<std::string(const std::string&)>;  // "" = ok, else the problem

Handler duration(std::int64_t* out, std::int64_t lo, std::int64_t hi) {
    return [=](const std::string& v) -> std::string {
        auto n = helperd::parse_duration(v);
        if (!n) return "'" + v + "' is not a duration (e.g. 900, 15m, 4h, 7d)";
        if (*n < lo || *n > hi) return "'" + v + "' is outside " + std::to_string(lo) + ".." + std::to_string(hi) + " seconds";
        *out = *n;
        return "";
    };
}
Handler boolean(bool* out) {
    return [=](const std::string& v) -> std::string {
        if (v == "yes" || v == "true") *out = true;
        else if (v == "no" || v == "false") *out = false;
        else return "'" + v + "' is not yes or no";
        return "";
    };
}
Handler path(std::string* out) {
    return [=](const std::string& v) -> std::string {
        if (!v.empty() && v[0] != '/') return "'" + v + "' is not an absolute path";
        *out = v;
        return "";
    };
}
Handler names(std::vector<std::string>* out, bool star_ok) {
    return [=](const std::string& v) -> std::string {
        *out = words(v, false);
        for (const auto& n : *out)
            if (!(star_ok && n == "*") && !is_posix_name(n)) return "'" + n + "' is not a user name";
        return "";
    };
}

std::string check_listen(const std::string& a) {
    auto colon = a.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == a.size()) return "'" + a + "' is not ADDR:PORT";
    const std::string port = a.substr(colon + 1);
    for (char c : port)
        if (c < '0' || c > '9') return "'" + a + "' has a bad port";
    // At most five digits before the number is read (a longer one made stol throw: fuzz_authority_config).
    if (port.size() > 5 || std::stol(port) > 65535) return "'" + a + "' has a bad port";
    return "";
}

std::string check_command(const std::string& c) {
    if (c == "ALL") return "";
    if (c.empty() || c[0] != '/') return "sudo command '" + c + "' is not ALL or an absolute path";
    return "";
}

class Parser {
public:
    explicit Parser(const std::string& file) { cfg_.file = file; }

    Result<Config> run(std::string_view text) {
        std::istringstream in{std::string(text)};
        std::string raw;
        int line = 0;
        std::set<std::string> seen;
        while (std::getline(in, raw)) {
            ++line;
            auto l = trim_blanks(raw);
            if (l.empty() || l[0] == '#' || l[0] == ';') continue;
            if (l.front() == '[') {
                section(l, line);
                seen.clear();
                continue;
            }
            auto eq = l.find('=');
            if (eq == std::string_view::npos) { problem(line, "expected 'key = value' or '[section]'"); continue; }
            std::string key(trim_blanks(l.substr(0, eq)));
            std::string value(trim_blanks(l.substr(eq + 1)));
            if (handlers_.empty()) { problem(line, "'" + key + "' outside a section"); continue; }
            auto h = handlers_.find(key);
            if (h == handlers_.end()) { problem(line, "unknown key '" + key + "' in [" + section_ + "]"); continue; }
            if (!seen.insert(key).second) { problem(line, "'" + key + "' given twice in [" + section_ + "]"); continue; }
            if (auto err = h->second(value); !err.empty()) problem(line, key + ": " + err);
        }
        finish();
        if (!problems_.empty()) {
            std::string msg;
            for (const auto& p : problems_) msg += (msg.empty() ? "" : "\n") + p;
            return make_error("config", msg);
        }
        return std::move(cfg_);
    }

private:
    void problem(int line, const std::string& what) { problems_.push_back(cfg_.file + ":" + std::to_string(line) + ": " + what); }

    void section(std::string_view l, int line) {
        handlers_.clear();
        if (l.back() != ']') { problem(line, "section header without ']'"); return; }
        auto inner = words(l.substr(1, l.size() - 2), false);
        if (inner.size() == 1 && inner[0] == "authority") {
            section_ = "authority";
            authority_section(line);
        } else if (inner.size() == 2 && (inner[0] == "group" || inner[0] == "rule")) {
            section_ = inner[0] + " " + inner[1];
            if (!names_.insert(section_).second) { problem(line, "[" + section_ + "] defined twice"); return; }
            if (!is_valid_host_id(inner[1])) { problem(line, "bad name '" + inner[1] + "'"); return; }
            if (inner[0] == "group") group_section(inner[1], line);
            else rule_section(inner[1], line);
        } else {
            problem(line, "unknown section; expected [authority], [group NAME] or [rule NAME]");
        }
    }

    void authority_section(int line) {
        if (authority_line_) { problem(line, "[authority] given twice"); return; }
        authority_line_ = line;
        Settings& s = cfg_.settings;
        handlers_["database"] = [&s](const std::string& v) -> std::string {
            const bool uri = v.rfind("postgresql://", 0) == 0 || v.rfind("postgres://", 0) == 0;
            if (!uri && (v.empty() || v[0] != '/')) return "'" + v + "' is neither an absolute path nor a postgresql:// URI";
            s.database = v;
            return "";
        };
        handlers_["listen"] = [&s](const std::string& v) -> std::string {
            s.listen = words(v, false);
            if (s.listen.empty()) return "no address";
            for (const auto& a : s.listen)
                if (auto e = check_listen(a); !e.empty()) return e;
            return "";
        };
        handlers_["tls_cert"] = path(&s.tls_cert);
        handlers_["tls_key"] = path(&s.tls_key);
        handlers_["client_ca"] = path(&s.client_ca);
        handlers_["signing_key"] = path(&s.signing_key);
        handlers_["key_id"] = [&s](const std::string& v) -> std::string {
            if (!is_valid_key_id(v)) return "'" + v + "' is not a valid key id";
            s.key_id = v;
            return "";
        };
        handlers_["bundle_ttl"] = duration(&s.bundle_ttl, 2, 7 * 86400);  // short lifetimes: tests
        handlers_["request_ttl"] = duration(&s.request_ttl, 60, 30 * 86400);
        handlers_["revoked_retention"] = duration(&s.revoked_retention, 0, 30 * 86400);
        handlers_["max_wait"] = duration(&s.max_wait, 0, 60);
    }

    void group_section(const std::string& name, int line) {
        cfg_.groups.push_back(HostGroup{});
        cfg_.groups.back().name = name;
        cfg_.groups.back().line = line;
        HostGroup& g = cfg_.groups.back();
        handlers_["hosts"] = [&g](const std::string& v) -> std::string {
            g.hosts = words(v, false);
            return g.hosts.empty() ? "no pattern" : "";
        };
        handlers_["labels"] = [&g](const std::string& v) -> std::string {
            g.labels = words(v, false);
            for (const auto& l : g.labels)
                if (l.find('=') == std::string::npos) return "label '" + l + "' is not key=value";
            return "";
        };
        handlers_["webhook"] = [&g](const std::string& v) -> std::string {
            g.webhooks = words(v, false);
            if (g.webhooks.empty()) return "no URL";
            for (const auto& u : g.webhooks)
                if (u.rfind("https://", 0) != 0 && u.rfind("http://", 0) != 0) return "'" + u + "' is not an http(s) URL";
            return "";
        };
        handlers_["webhook_format"] = [&g](const std::string& v) -> std::string {
            if (v != "slack" && v != "plain") return "'" + v + "' is not slack or plain";
            g.webhook_format = v;
            return "";
        };
        handlers_["webhook_secret_file"] = path(&g.webhook_secret_file);
    }

    void rule_section(const std::string& name, int line) {
        cfg_.rules.push_back(Rule{});
        Rule& r = cfg_.rules.back();
        r.name = name;
        r.line = line;
        handlers_["groups"] = [&r](const std::string& v) -> std::string {
            r.groups = words(v, false);
            return r.groups.empty() ? "no group" : "";
        };
        handlers_["requesters"] = names(&r.requesters, true);
        handlers_["approvers"] = names(&r.approvers, true);
        handlers_["approvals"] = [&r](const std::string& v) -> std::string {
            if (v.size() != 1 || v[0] < '0' || v[0] > '9') return "'" + v + "' is not a number 0..9";
            r.approvals = v[0] - '0';
            return "";
        };
        handlers_["max_duration"] = duration(&r.max_duration, 60, 90 * 86400);
        handlers_["login"] = boolean(&r.login);
        handlers_["sudo"] = [&r](const std::string& v) -> std::string {
            r.sudo = words(v, true);
            for (const auto& c : r.sudo)
                if (auto e = check_command(c); !e.empty()) return e;
            return "";
        };
        handlers_["run_as"] = names(&r.run_as, false);
        handlers_["extend"] = boolean(&r.extend);
        handlers_["max_extension"] = duration(&r.max_extension, 60, 90 * 86400);
    }

    void finish() {
        Settings& s = cfg_.settings;
        if (!authority_line_) problems_.push_back(cfg_.file + ": no [authority] section");
        else if (s.key_id.empty()) problem(authority_line_, "[authority] needs key_id");
        if (s.tls_cert.empty() != s.tls_key.empty()) problem(authority_line_, "tls_cert and tls_key go together");
        if (!s.client_ca.empty() && s.tls_cert.empty()) problem(authority_line_, "client_ca needs tls_cert and tls_key");
        std::set<std::string> groups;
        for (const auto& g : cfg_.groups) {
            groups.insert(g.name);
            if (g.hosts.empty() && g.labels.empty()) problem(g.line, "[group " + g.name + "] needs hosts or labels");
        }
        for (const auto& r : cfg_.rules) {
            if (r.groups.empty()) problem(r.line, "[rule " + r.name + "] needs groups");
            for (const auto& g : r.groups)
                if (!groups.count(g)) problem(r.line, "[rule " + r.name + "] names unknown group '" + g + "'");
            if (r.requesters.empty()) problem(r.line, "[rule " + r.name + "] needs requesters");
            if (r.approvals > 0 && r.approvers.empty()) problem(r.line, "[rule " + r.name + "] needs approvers (or approvals = 0)");
        }
    }

    Config cfg_;
    std::map<std::string, Handler> handlers_;
    std::string section_;
    std::set<std::string> names_;
    std::vector<std::string> problems_;
    int authority_line_ = 0;
};

}  // namespace

Result<Config> parse_config(std::string_view text, const std::string& file) { return Parser(file).run(text); }

Result<Config> load_config(const std::string& file) {
    std::ifstream in(file);
    if (!in) return make_error("config", file + ": cannot read");
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_config(ss.str(), file);
}

}  // namespace jit::authority
