// Pure window scheduling (see scheduler.hpp and docs/enforcement.md).
#include <jit/enforce/scheduler.hpp>
#include <jit/ruling_grant.hpp>

#include <algorithm>
#include <unordered_map>

namespace jit::enforce {
namespace {

EndCause session_cause(const Session& s, const Grant* g, bool suspended) {
    if (s.grant_id.empty()) return EndCause::NoGrant;
    if (!g) return EndCause::Removed;
    if (suspended) return EndCause::Suspended;
    return EndCause::Expired;
}

}  // namespace

const Grant* binding_grant(const std::vector<Grant>& grants, const std::string& user, UnixTime now,
                           bool suspended) {
    if (suspended) return nullptr;
    return ruling_grant(grants, user, now, [](const Grant& g) { return g.login; });
}

UnixTime effective_end(const std::vector<Grant>& grants, const Grant& g, const Grant** last) {
    UnixTime end = g.not_after;
    const Grant* by = &g;
    // Each pass moves `end` strictly later, so at most grants.size() passes.
    for (std::size_t pass = 0; pass <= grants.size(); ++pass) {
        // The login grant ruling at the instant access would end carries it on.
        const Grant* next = ruling_grant(grants, g.user, end, [](const Grant& h) { return h.login; });
        if (!next) break;
        end = next->not_after;
        by = next;
    }
    if (last) *last = by;
    return end;
}

Plan plan(const ScheduleInput& in) {
    Plan out;
    if (!in.grants) return out;  // no bundle yet: nothing is known, nothing is announced or ended
    const std::vector<Grant>& grants = *in.grants;
    const UnixTime now = in.now;
    static const GrantStates kNoStates;
    static const SessionMap kNoSessions;
    const GrantStates& states = in.states ? *in.states : kNoStates;
    const SessionMap& sessions = in.sessions ? *in.sessions : kNoSessions;

    std::unordered_map<std::string, const Grant*> by_id;
    for (const Grant& g : grants) by_id.emplace(g.id, &g);

    // Grant edges.
    for (const Grant& g : grants) {
        const bool active = !in.suspended && g.active_at(now);
        auto st = states.find(g.id);
        const bool was_active = st != states.end() && st->second.phase == GrantPhase::Active;
        if (active && !was_active) {
            out.actions.push_back({ActionKind::ActivateGrant, g.id, {}, EndCause::Expired, g.not_after, 0});
        } else if (!active && was_active) {
            out.actions.push_back({ActionKind::EndGrant, g.id, {},
                                   in.suspended ? EndCause::Suspended : EndCause::Expired, g.not_after, 0});
        }
    }
    // Grants that left the bundle: ended at once (revoked early or deleted).
    for (const auto& [id, st] : states) {
        if (by_id.count(id) || st.phase == GrantPhase::Ended) continue;
        out.actions.push_back({ActionKind::EndGrant, id, {}, EndCause::Removed, st.not_after, 0});
    }

    // Sessions: keep, rebind, or terminate; then warnings.
    std::vector<Action> warnings;
    std::vector<std::int64_t> offsets = in.warn_offsets;
    std::sort(offsets.begin(), offsets.end());
    for (const auto& [key, s] : sessions) {
        if (s.ending) continue;
        auto it = by_id.find(s.grant_id);
        const Grant* g = (s.grant_id.empty() || it == by_id.end()) ? nullptr : it->second;
        const bool covered = g && !in.suspended && g->login && g->user == s.user && g->active_at(now);
        const Grant* bound = g;
        if (!covered) {
            bound = binding_grant(grants, s.user, now, in.suspended);
            if (bound) {
                out.actions.push_back({ActionKind::Rebind, bound->id, key, EndCause::Expired, bound->not_after, 0});
            } else {
                out.actions.push_back({ActionKind::Terminate, s.grant_id, key, session_cause(s, g, in.suspended),
                                       g ? g->not_after : 0, 0});
                continue;
            }
        }
        const Grant* last = nullptr;
        const UnixTime end = effective_end(grants, *bound, &last);
        const std::int64_t remaining = end - now;
        std::optional<std::int64_t> due;
        for (std::int64_t o : offsets)
            if (o > 0 && remaining <= o) { due = o; break; }  // the smallest offset already reached
        if (!due) continue;
        const bool fresh = s.warned_end != end;
        if (fresh || *due < s.warned_offset)
            warnings.push_back({ActionKind::Warn, last->id, key, EndCause::Expired, end, *due});
    }
    out.actions.insert(out.actions.end(), warnings.begin(), warnings.end());

    // Next edge strictly after now.
    auto consider = [&](UnixTime t) {
        if (t > now && (!out.next_wakeup || t < *out.next_wakeup)) out.next_wakeup = t;
    };
    for (const Grant& g : grants) {
        consider(g.not_before);
        consider(g.not_after);
        for (std::int64_t o : offsets)
            if (o > 0) consider(g.not_after - o);
    }
    return out;
}

const char* to_string(ActionKind kind) {
    switch (kind) {
    case ActionKind::ActivateGrant: return "activate";
    case ActionKind::EndGrant: return "end";
    case ActionKind::Warn: return "warn";
    case ActionKind::Rebind: return "rebind";
    case ActionKind::Terminate: return "terminate";
    }
    return "?";
}

const char* to_string(EndCause cause) {
    switch (cause) {
    case EndCause::Expired: return "window_ended";
    case EndCause::Removed: return "revoked";
    case EndCause::Suspended: return "stale";
    case EndCause::NoGrant: return "no_active_grant";
    }
    return "?";
}

}  // namespace jit::enforce
