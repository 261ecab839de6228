// Access rules as pure functions of (config, host, ask) -> verdict with a
// reason. The service calls them at submission and again at each approval
// (rules may have changed meanwhile).
#pragma once

#include <jit/authority/config.hpp>
#include <jit/grant.hpp>

#include <optional>
#include <string>
#include <vector>

namespace jit::authority {

struct AccessAsk {
    std::string host_id;
    std::vector<std::string> host_labels;  // "key=value"
    std::string requester;
    bool login = true;
    std::optional<SudoRule> sudo;
    std::int64_t duration = 0;             // seconds
    bool extension = false;                // `extends`: login/sudo are not asked again
};

struct Verdict {
    const Rule* rule = nullptr;  // the rule that allows it; nullptr = refused
    std::string error;           // stable code when refused: no_rule, duration, sudo, run_as, login, extend
    std::string message;         // shown to the requester
    explicit operator bool() const { return rule != nullptr; }
};

bool host_in_group(const HostGroup& g, const std::string& host_id, const std::vector<std::string>& labels);

// The first rule (in file order) that allows the ask; when none does, the
// reason from the first rule that applies to this host and requester, or
// "no_rule".
Verdict check_request(const Config& cfg, const AccessAsk& ask);

// Whether `approver` may approve under `rule`: never the requester, not twice,
// and one of the rule's approvers. Returns "" when allowed, else the reason.
std::string check_approver(const Rule& rule, const std::string& requester, const std::string& approver,
                           const std::vector<std::string>& approved_already);

}  // namespace jit::authority
