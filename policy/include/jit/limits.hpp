// Host limits on grants: what the host owner allows any grant to do here,
// whatever the authority signed (docs/config.md [limits], docs/threat-model.md).
// A pure function of (grants, limits) -> the grants that take effect, the ones
// refused, and one note per thing dropped, clamped, replaced or refused.
//
// No clock: every bound is measured from the grant's own fields (the window
// from its not_before), so applying the limits again at any later time, after
// a restart or a reload, gives the same answer and a clamp never drifts.
#pragma once

#include <jit/grant.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jit {

// Groups that make their members root, or let them read secrets or the audit
// trail, on a stock Debian/RHEL host. Denied unless the host owner lists
// otherwise (limits.denied_groups).
std::vector<std::string> default_denied_groups();

struct GrantLimits {
    std::optional<std::vector<std::string>> allowed_groups;   // nullopt: any group not denied
    std::vector<std::string> denied_groups = default_denied_groups();
    std::optional<std::vector<std::string>> allowed_run_as;   // nullopt: any
    std::optional<std::vector<std::string>> allowed_sudo_commands;  // nullopt: any; "ALL" or paths with arguments
    std::int64_t max_window = 0;          // seconds from not_before; 0: no cap
    std::size_t min_approvers = 0;        // distinct approvers other than the requester
    std::size_t min_sudo_approvers = 0;
    std::string login_shell;              // "": the grant's own (or nss.default_shell)
};

enum class LimitAction { Dropped, Clamped, Replaced, Refused };
const char* to_string(LimitAction action);

struct LimitNote {
    std::string grant_id;
    std::string user;
    std::string rule;      // the config key: "limits.max_window", ...
    LimitAction action = LimitAction::Dropped;
    std::string detail;    // what changed: "group docker", "not_after 1795795200 -> 1795791600", ...
    bool operator==(const LimitNote&) const = default;
};

struct BoundedGrants {
    std::vector<Grant> grants;    // what takes effect, in the bundle's order
    std::vector<Grant> refused;   // as received; nothing of them takes effect
    std::vector<LimitNote> notes;
};

BoundedGrants apply_limits(const std::vector<Grant>& grants, const GrantLimits& limits);

// The commands both `granted` and `allowed` permit, in sudoers' terms: "ALL"
// permits everything; a path without arguments permits that path with any
// arguments; a path with arguments permits exactly those. "" when none.
std::optional<std::string> intersect_sudo_command(const std::string& granted, const std::string& allowed);

// Distinct approvers other than the requester (a self-approval counts for nothing).
std::size_t independent_approvers(const Grant& grant);

// "limits.max_window: clamped not_after ..." for messages and `jitctl check`.
std::string describe(const LimitNote& note);

}  // namespace jit
