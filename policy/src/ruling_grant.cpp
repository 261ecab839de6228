// The ruling grant (see ruling_grant.hpp).
#include <jit/ruling_grant.hpp>

namespace jit {

bool rules_over(const Grant& a, const Grant& b) {
    if (a.not_after != b.not_after) return a.not_after > b.not_after;
    return a.id < b.id;
}

const Grant* ruling_grant(const std::vector<Grant>& grants, const std::string& user, UnixTime now,
                          const std::function<bool(const Grant&)>& admit) {
    const Grant* best = nullptr;
    for (const Grant& g : grants) {
        if (g.user != user || !g.active_at(now) || (admit && !admit(g))) continue;
        if (best == nullptr || rules_over(g, *best)) best = &g;
    }
    return best;
}

}  // namespace jit
