// Pure access decisions (see decision.hpp for the rules, docs/pam.md for the
// user-visible messages).
#include <jit/decision.hpp>
#include <jit/ruling_grant.hpp>

#include <algorithm>
#include <ctime>
#include <initializer_list>
#include <string_view>

namespace jit {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// Does grant `g` give what `req` asks for (ignoring time)?
enum class Fit { Yes, NoLogin, NoSudo, RunAs };

Fit fits(const Grant& g, const AccessRequest& req) {
    switch (req.kind) {
    case AccessKind::Login:
    case AccessKind::Su:
        return g.login ? Fit::Yes : Fit::NoLogin;
    case AccessKind::Sudo:
        if (!g.sudo) return Fit::NoSudo;
        if (!req.run_as.empty() && g.sudo->run_as != req.run_as) return Fit::RunAs;
        return Fit::Yes;
    }
    return Fit::NoLogin;
}

std::string two(int v) {
    std::string s = std::to_string(v);
    return v < 10 ? "0" + s : s;
}

Decision make(Verdict v, std::string reason, std::string message, const Grant* g = nullptr) {
    Decision d;
    d.verdict = v;
    d.reason = std::move(reason);
    d.message = std::move(message);
    if (g) {
        d.grant_id = g->id;
        d.not_before = g->not_before;
        d.not_after = g->not_after;
    }
    return d;
}

// The notes host limits left on `grant_id`, and the last of them whose rule is
// one of `rules` (what took the asked-for right away), or null.
const LimitNote* last_note(const GrantView& view, const std::string& grant_id,
                           std::initializer_list<std::string_view> rules) {
    if (!view.limit_notes) return nullptr;
    const LimitNote* found = nullptr;
    for (const LimitNote& n : *view.limit_notes)
        if (n.grant_id == grant_id && std::find(rules.begin(), rules.end(), n.rule) != rules.end()) found = &n;
    return found;
}

// Decision::limits, and the rule that explains a denial (or a shortened
// window) appended to the user's message.
Decision with_limits(Decision d, const GrantView& view) {
    if (d.grant_id.empty() || !view.limit_notes) return d;
    for (const LimitNote& n : *view.limit_notes)
        if (n.grant_id == d.grant_id) d.limits += (d.limits.empty() ? "" : "; ") + describe(n);
    const LimitNote* why = nullptr;
    if (d.reason == "no_sudo")
        why = last_note(view, d.grant_id,
                        {"limits.min_sudo_approvers", "limits.allowed_run_as", "limits.allowed_sudo_commands"});
    else if (d.reason == "window_ended" || d.reason == "active_grant")
        why = last_note(view, d.grant_id, {"limits.max_window"});
    if (why) d.message += " (" + why->rule + " on this host)";
    return d;
}

}  // namespace

std::string format_duration(std::int64_t seconds) {
    if (seconds < 0) seconds = -seconds;
    if (seconds < 60) return "less than a minute";
    const std::int64_t minutes = seconds / 60;
    if (minutes < 60) return std::to_string(minutes) + " min";
    const std::int64_t hours = minutes / 60;
    if (hours < 24) {
        std::string s = std::to_string(hours) + " h";
        if (minutes % 60) s += " " + std::to_string(minutes % 60) + " min";
        return s;
    }
    std::string s = std::to_string(hours / 24) + " d";
    if (hours % 24) s += " " + std::to_string(hours % 24) + " h";
    return s;
}

std::string format_when(UnixTime when, UnixTime now) {
    std::tm w{}, n{};
    const std::time_t tw = static_cast<std::time_t>(when), tn = static_cast<std::time_t>(now);
    if (!localtime_r(&tw, &w) || !localtime_r(&tn, &n)) return std::to_string(when);
    std::string s;
    if (w.tm_year != n.tm_year || w.tm_yday != n.tm_yday)
        s = std::to_string(w.tm_year + 1900) + "-" + two(w.tm_mon + 1) + "-" + two(w.tm_mday) + " ";
    s += two(w.tm_hour) + ":" + two(w.tm_min);
    const std::int64_t delta = when - now;
    if (delta > 0)
        s += " (in " + format_duration(delta) + ")";
    else
        s += " (" + format_duration(delta) + " ago)";
    return s;
}

const char* to_string(Verdict verdict) {
    switch (verdict) {
    case Verdict::Allow: return "allow";
    case Verdict::Deny: return "deny";
    case Verdict::NotManaged: return "ignore";
    }
    return "deny";
}

const char* to_string(HostPolicy::StalePolicy policy) {
    return policy == HostPolicy::StalePolicy::Suspend ? "suspend" : "honour";
}

bool is_managed(const std::string& user, const LocalAccount& account, const GrantView& view,
                const HostPolicy& policy) {
    if (user.empty() || user == "root" || contains(policy.break_glass_users, user)) return false;
    if (account.uid && *account.uid == 0) return false;
    for (const std::vector<Grant>* list : {view.grants, view.refused}) {
        if (!list) continue;
        for (const Grant& g : *list)
            if (g.user == user) return true;
    }
    if (account.uid && *account.uid >= policy.managed_uid_min && *account.uid <= policy.managed_uid_max)
        return true;
    for (const std::string& grp : account.groups)
        if (contains(policy.managed_groups, grp)) return true;
    return false;
}

namespace {

// Refused grants of the user that are active and would have fitted.
const Grant* refused_fit(const AccessRequest& req, const GrantView& view) {
    if (!view.refused) return nullptr;
    for (const Grant& g : *view.refused)
        if (g.user == req.user && g.active_at(req.now) && fits(g, req) == Fit::Yes) return &g;
    return nullptr;
}

Decision decide_bounded(const AccessRequest& req, const GrantView& view, const HostPolicy& policy, bool managed);

}  // namespace

Decision decide(const AccessRequest& req, const GrantView& view, const HostPolicy& policy, bool managed) {
    return with_limits(decide_bounded(req, view, policy, managed), view);
}

namespace {

Decision decide_bounded(const AccessRequest& req, const GrantView& view, const HostPolicy& policy, bool managed) {
    if (contains(policy.break_glass_users, req.user))
        return make(Verdict::NotManaged, "break_glass", "");
    if (!managed) return make(Verdict::NotManaged, "not_managed", "");

    const std::string prefix = "jitlogin: ";
    if (!view.have_bundle || !view.grants)
        return make(Verdict::Deny, "no_bundle",
                    prefix + "no grants received from the authority yet; access for " + req.user + " is refused");
    if (grants_suspended(view.stale, policy))
        return make(Verdict::Deny, "stale",
                    prefix + "grants are stale (no recent update from the authority); access is suspended");

    // Fitting and active: the ruling grant (jit/ruling_grant.hpp).
    const Grant* allow =
        ruling_grant(*view.grants, req.user, req.now, [&](const Grant& g) { return fits(g, req) == Fit::Yes; });
    if (allow)
        return make(Verdict::Allow, "active_grant",
                    prefix + "access until " + format_when(allow->not_after, req.now) + ", grant " + allow->id, allow);

    // No grant allows it: which deny explains most.
    const Grant* misfit = nullptr;     // active but not fitting: latest not_after (ties: smallest id)
    Fit misfit_kind = Fit::NoLogin;
    const Grant* upcoming = nullptr;   // fitting, later: earliest not_before (ties: smallest id)
    const Grant* ended = nullptr;      // fitting, ended: latest not_after (ties: smallest id)
    for (const Grant& g : *view.grants) {
        if (g.user != req.user) continue;
        const Fit f = fits(g, req);
        const bool active = g.active_at(req.now);
        if (active) {
            // A run_as mismatch explains more than "no sudo at all": prefer it.
            const bool better = !misfit || (f == Fit::RunAs && misfit_kind != Fit::RunAs) ||
                                (f == misfit_kind && rules_over(g, *misfit));
            if (better) { misfit = &g; misfit_kind = f; }
        } else if (f == Fit::Yes && g.not_before > req.now) {
            if (!upcoming || g.not_before < upcoming->not_before ||
                (g.not_before == upcoming->not_before && g.id < upcoming->id))
                upcoming = &g;
        } else if (f == Fit::Yes) {
            if (!ended || rules_over(g, *ended)) ended = &g;
        }
    }

    if (const Grant* refused = refused_fit(req, view)) {
        const LimitNote* why = last_note(view, refused->id, {"limits.min_approvers"});
        return make(Verdict::Deny, "host_policy",
                    prefix + "grant " + refused->id + " for " + req.user + " is refused by this host's limits" +
                        (why ? " (" + why->rule + ": " + why->detail + ")" : std::string()),
                    refused);
    }
    if (misfit) {
        switch (misfit_kind) {
        case Fit::NoLogin:
            return make(Verdict::Deny, "no_login",
                        prefix + "grant " + misfit->id + " for " + req.user + " does not allow login", misfit);
        case Fit::NoSudo:
            return make(Verdict::Deny, "no_sudo",
                        prefix + "grant " + misfit->id + " for " + req.user + " does not allow sudo", misfit);
        case Fit::RunAs:
            return make(Verdict::Deny, "run_as",
                        prefix + "grant " + misfit->id + " allows sudo as " + misfit->sudo->run_as + ", not as " +
                            req.run_as, misfit);
        case Fit::Yes: break;
        }
    }
    if (upcoming)
        return make(Verdict::Deny, "not_yet",
                    prefix + to_string(req.kind) + " window opens at " + format_when(upcoming->not_before, req.now) +
                        ", grant " + upcoming->id, upcoming);
    if (ended)
        return make(Verdict::Deny, "window_ended",
                    prefix + "access window ended at " + format_when(ended->not_after, req.now) + ", grant " + ended->id,
                    ended);
    std::string msg = prefix + "no active " + (req.kind == AccessKind::Sudo ? "sudo " : "") + "grant for " + req.user;
    if (!policy.host_id.empty()) msg += " on " + policy.host_id;
    if (!policy.request_hint.empty()) msg += "; request one with " + policy.request_hint;
    return make(Verdict::Deny, "no_grant", msg);
}

}  // namespace
}  // namespace jit
