// Host limits on grants (see limits.hpp; docs/config.md [limits]).
#include <jit/limits.hpp>

#include <algorithm>
#include <set>

namespace jit {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

std::string path_of(const std::string& command) { return command.substr(0, command.find(' ')); }

bool has_arguments(const std::string& command) { return command.find(' ') != std::string::npos; }

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

class Bounder {
public:
    Bounder(const Grant& g, std::vector<LimitNote>& notes) : grant_(g), notes_(notes) {}

    void note(const char* rule, LimitAction action, std::string detail) {
        notes_.push_back(LimitNote{grant_.id, grant_.user, rule, action, std::move(detail)});
    }

private:
    const Grant& grant_;
    std::vector<LimitNote>& notes_;
};

void bound_groups(Grant& g, const GrantLimits& limits, Bounder& b) {
    std::vector<std::string> kept;
    for (const std::string& group : g.groups) {
        if (contains(limits.denied_groups, group))
            b.note("limits.denied_groups", LimitAction::Dropped, "group " + group);
        else if (limits.allowed_groups && !contains(*limits.allowed_groups, group))
            b.note("limits.allowed_groups", LimitAction::Dropped, "group " + group);
        else if (!contains(kept, group))
            kept.push_back(group);
    }
    g.groups = std::move(kept);
}

void bound_sudo(Grant& g, const GrantLimits& limits, std::size_t approvers, Bounder& b) {
    if (!g.sudo) return;
    if (approvers < limits.min_sudo_approvers) {
        b.note("limits.min_sudo_approvers", LimitAction::Dropped,
               "sudo (" + std::to_string(approvers) + " independent approver(s), " +
                   std::to_string(limits.min_sudo_approvers) + " needed)");
        g.sudo.reset();
        return;
    }
    if (limits.allowed_run_as && !contains(*limits.allowed_run_as, g.sudo->run_as)) {
        b.note("limits.allowed_run_as", LimitAction::Dropped, "sudo as " + g.sudo->run_as);
        g.sudo.reset();
        return;
    }
    if (!limits.allowed_sudo_commands) return;
    std::vector<std::string> kept;
    for (const std::string& granted : g.sudo->commands) {
        bool any = false;
        for (const std::string& allowed : *limits.allowed_sudo_commands) {
            auto both = intersect_sudo_command(granted, allowed);
            if (!both) continue;
            any = true;
            if (!contains(kept, *both)) kept.push_back(*both);
        }
        if (!any) b.note("limits.allowed_sudo_commands", LimitAction::Dropped, "sudo command " + granted);
    }
    if (kept != g.sudo->commands && !kept.empty())
        b.note("limits.allowed_sudo_commands", LimitAction::Clamped,
               "sudo commands " + joined(g.sudo->commands) + " -> " + joined(kept));
    if (kept.empty()) {
        b.note("limits.allowed_sudo_commands", LimitAction::Dropped, "sudo (no granted command is allowed here)");
        g.sudo.reset();
        return;
    }
    g.sudo->commands = std::move(kept);
}

}  // namespace

std::vector<std::string> default_denied_groups() {
    // root, sudo, wheel, admin: root by sudoers/polkit; disk: raw block devices;
    // shadow: password hashes; docker, lxd, incus, libvirt: a container or VM
    // with the host's root file system; staff: writes /usr/local (Debian), ahead
    // of /usr in root's PATH; adm, systemd-journal: every log, the audit trail
    // included.
    return {"root",  "sudo",    "wheel",   "admin", "disk",  "shadow",
            "docker", "lxd",    "incus",   "libvirt", "staff", "adm", "systemd-journal"};
}

const char* to_string(LimitAction action) {
    switch (action) {
    case LimitAction::Dropped: return "dropped";
    case LimitAction::Clamped: return "clamped";
    case LimitAction::Replaced: return "replaced";
    case LimitAction::Refused: return "refused";
    }
    return "dropped";
}

std::optional<std::string> intersect_sudo_command(const std::string& granted, const std::string& allowed) {
    if (allowed == "ALL") return granted;
    if (granted == "ALL") return allowed;
    if (path_of(granted) != path_of(allowed)) return std::nullopt;
    if (!has_arguments(allowed)) return granted;
    if (!has_arguments(granted)) return allowed;
    if (granted == allowed) return granted;
    return std::nullopt;
}

std::size_t independent_approvers(const Grant& grant) {
    std::set<std::string> distinct;
    for (const std::string& a : grant.approved_by)
        if (!a.empty() && a != grant.requested_by) distinct.insert(a);
    return distinct.size();
}

std::string describe(const LimitNote& note) {
    return note.rule + ": " + to_string(note.action) + " " + note.detail;
}

BoundedGrants apply_limits(const std::vector<Grant>& grants, const GrantLimits& limits) {
    BoundedGrants out;
    out.grants.reserve(grants.size());
    for (const Grant& received : grants) {
        Bounder b(received, out.notes);
        const std::size_t approvers = independent_approvers(received);
        if (approvers < limits.min_approvers) {
            b.note("limits.min_approvers", LimitAction::Refused,
                   "grant (" + std::to_string(approvers) + " independent approver(s), " +
                       std::to_string(limits.min_approvers) + " needed)");
            out.refused.push_back(received);
            continue;
        }
        Grant g = received;
        if (limits.max_window > 0 && g.not_after - g.not_before > limits.max_window) {
            const UnixTime clamped = g.not_before + limits.max_window;
            b.note("limits.max_window", LimitAction::Clamped,
                   "not_after " + std::to_string(g.not_after) + " -> " + std::to_string(clamped));
            g.not_after = clamped;
        }
        bound_groups(g, limits, b);
        bound_sudo(g, limits, approvers, b);
        if (!limits.login_shell.empty() && g.shell != limits.login_shell) {
            if (!g.shell.empty())
                b.note("limits.login_shell", LimitAction::Replaced, "shell " + g.shell + " -> " + limits.login_shell);
            g.shell = limits.login_shell;
        }
        out.grants.push_back(std::move(g));
    }
    return out;
}

}  // namespace jit
