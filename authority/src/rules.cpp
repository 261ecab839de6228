#include <jit/authority/rules.hpp>
#include <jit/decision.hpp>  // format_duration

#include <algorithm>
#include <fnmatch.h>

namespace jit::authority {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

bool rule_covers_host(const Config& cfg, const Rule& r, const AccessAsk& ask) {
    for (const auto& g : cfg.groups)
        if (contains(r.groups, g.name) && host_in_group(g, ask.host_id, ask.host_labels)) return true;
    return false;
}

// "" when the rule allows the ask, else "code\nmessage".
std::pair<std::string, std::string> refusal(const Rule& r, const AccessAsk& ask) {
    if (ask.extension) {
        if (!r.extend) return {"extend", "rule '" + r.name + "' does not allow extensions"};
        if (ask.duration > r.max_extension)
            return {"duration", "an extension may be at most " + format_duration(r.max_extension) + " (rule '" + r.name + "')"};
        return {};
    }
    if (ask.duration > r.max_duration)
        return {"duration", "access may last at most " + format_duration(r.max_duration) + " (rule '" + r.name + "')"};
    if (ask.login && !r.login) return {"login", "rule '" + r.name + "' does not allow logins"};
    if (ask.sudo) {
        if (r.sudo.empty()) return {"sudo", "rule '" + r.name + "' does not allow sudo"};
        if (!contains(r.run_as, ask.sudo->run_as))
            return {"run_as", "sudo as '" + ask.sudo->run_as + "' is not allowed (rule '" + r.name + "')"};
        if (!contains(r.sudo, "ALL"))
            for (const auto& c : ask.sudo->commands)
                if (!contains(r.sudo, c)) return {"sudo", "sudo command '" + c + "' is not allowed (rule '" + r.name + "')"};
    }
    return {};
}

}  // namespace

bool host_in_group(const HostGroup& g, const std::string& host_id, const std::vector<std::string>& labels) {
    if (!g.hosts.empty() &&
        std::none_of(g.hosts.begin(), g.hosts.end(),
                     [&](const std::string& p) { return fnmatch(p.c_str(), host_id.c_str(), 0) == 0; }))
        return false;
    return std::all_of(g.labels.begin(), g.labels.end(), [&](const std::string& l) { return contains(labels, l); });
}

Verdict check_request(const Config& cfg, const AccessAsk& ask) {
    Verdict first_refusal;
    for (const auto& r : cfg.rules) {
        if (!rule_covers_host(cfg, r, ask)) continue;
        if (!contains(r.requesters, "*") && !contains(r.requesters, ask.requester)) continue;
        auto [code, message] = refusal(r, ask);
        if (code.empty()) return Verdict{&r, "", ""};
        if (first_refusal.error.empty()) first_refusal = Verdict{nullptr, code, message};
    }
    if (!first_refusal.error.empty()) return first_refusal;
    return Verdict{nullptr, "no_rule", "no rule lets " + ask.requester + " request access to " + ask.host_id};
}

std::string check_approver(const Rule& rule, const std::string& requester, const std::string& approver,
                           const std::vector<std::string>& approved_already) {
    if (approver == requester) return "the requester cannot approve their own request";
    if (contains(approved_already, approver)) return approver + " has already approved this request";
    if (!contains(rule.approvers, "*") && !contains(rule.approvers, approver))
        return approver + " is not an approver under rule '" + rule.name + "'";
    return "";
}

}  // namespace jit::authority
