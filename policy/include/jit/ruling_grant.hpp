// Which grant rules a user at a given time. One rule, used wherever a single
// grant must be picked from several that cover the same user:
//   - the access decision: the grant an Allow names (decision.cpp);
//   - enforcement: the grant a login session is bound to (enforce/scheduler.cpp);
//   - the user database: whose display_name and login shell a published
//     passwd entry carries (helperd/nss/src/user_plan.cpp).
//
// The rule: among the user's grants active at `now` (not_before <= now <
// not_after) that the caller admits, the one with the latest not_after; when
// several end at the same second, the one with the smallest id (byte order).
// Grant ids are unique within an accepted bundle, so the answer never depends
// on the order in which the bundle lists its grants.
#pragma once

#include <jit/grant.hpp>

#include <functional>
#include <string>
#include <vector>

namespace jit {

// Whether `a` rules instead of `b` (both assumed to cover the same user at the
// same time): a ends later, or at the same second with a smaller id. A strict
// order: rules_over(g, g) is false.
bool rules_over(const Grant& a, const Grant& b);

// The ruling grant of `user` at `now` among the grants `admit` accepts (all
// when `admit` is empty); nullptr when none is active.
const Grant* ruling_grant(const std::vector<Grant>& grants, const std::string& user, UnixTime now,
                          const std::function<bool(const Grant&)>& admit = {});

}  // namespace jit
