// Table tests of "which grant rules a user" (policy/include/jit/ruling_grant.hpp):
// active, admitted, latest not_after, ties to the smallest id, whatever the
// order of the bundle.
#include <jit/ruling_grant.hpp>
#include <jit/test/grants.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

namespace jit {
namespace {

using test::grant;

constexpr UnixTime T0 = 1'800'000'000;
constexpr std::int64_t H = 3600;

const std::function<bool(const Grant&)> kAny;
const std::function<bool(const Grant&)> kLogin = [](const Grant& g) { return g.login; };

struct Row {
    const char* name;
    std::vector<Grant> grants;
    std::string user;
    UnixTime now;
    std::function<bool(const Grant&)> admit;
    std::string want;  // "" = none
};

std::vector<Row> rows() {
    return {
        {"none", {}, "alice", T0, kAny, ""},
        {"one active", {grant("g-1", "alice", T0 - H, T0 + H)}, "alice", T0, kAny, "g-1"},
        {"another user's grant", {grant("g-1", "bob", T0 - H, T0 + H)}, "alice", T0, kAny, ""},
        {"not yet", {grant("g-1", "alice", T0 + 1, T0 + H)}, "alice", T0, kAny, ""},
        {"starts now (half-open window)", {grant("g-1", "alice", T0, T0 + H)}, "alice", T0, kAny, "g-1"},
        {"ends now (half-open window)", {grant("g-1", "alice", T0 - H, T0)}, "alice", T0, kAny, ""},
        {"latest not_after wins",
         {grant("g-1", "alice", T0 - H, T0 + H), grant("g-2", "alice", T0 - 2 * H, T0 + 2 * H),
          grant("g-3", "alice", T0 - H, T0 + H / 2)},
         "alice", T0, kAny, "g-2"},
        {"a later start does not matter",
         {grant("g-1", "alice", T0 - 10, T0 + H), grant("g-2", "alice", T0 - H, T0 + H)}, "alice", T0, kAny, "g-1"},
        {"tie: the smallest id",
         {grant("g-b", "alice", T0 - H, T0 + H), grant("g-a", "alice", T0 - 10, T0 + H),
          grant("g-c", "alice", T0 - H, T0 + H)},
         "alice", T0, kAny, "g-a"},
        {"tie: byte order, not numeric", {grant("g-10", "alice", T0 - H, T0 + H), grant("g-9", "alice", T0 - H, T0 + H)},
         "alice", T0, kAny, "g-10"},
        {"admit filters before ranking",
         {grant("g-1", "alice", T0 - H, T0 + 2 * H, false), grant("g-2", "alice", T0 - H, T0 + H)}, "alice", T0,
         kLogin, "g-2"},
        {"nothing admitted", {grant("g-1", "alice", T0 - H, T0 + H, false)}, "alice", T0, kLogin, ""},
        {"an ended grant with a later end is not active",
         {grant("g-1", "alice", T0 - H, T0 + H), grant("g-2", "alice", T0 + 2 * H, T0 + 3 * H)}, "alice", T0, kAny,
         "g-1"},
    };
}

TEST(RulingGrant, Table) {
    for (const Row& row : rows()) {
        // Every order of the bundle gives the same answer.
        std::vector<Grant> grants = row.grants;
        std::sort(grants.begin(), grants.end(), [](const Grant& a, const Grant& b) { return a.id < b.id; });
        do {
            const Grant* got = ruling_grant(grants, row.user, row.now, row.admit);
            EXPECT_EQ(got ? got->id : std::string(), row.want) << row.name;
        } while (std::next_permutation(grants.begin(), grants.end(),
                                       [](const Grant& a, const Grant& b) { return a.id < b.id; }));
    }
}

TEST(RulingGrant, RulesOverIsAStrictOrder) {
    const Grant a = grant("g-a", "alice", T0, T0 + H);
    const Grant b = grant("g-b", "alice", T0, T0 + H);
    const Grant later = grant("g-0", "alice", T0, T0 + 2 * H);
    EXPECT_FALSE(rules_over(a, a));
    EXPECT_TRUE(rules_over(a, b));
    EXPECT_FALSE(rules_over(b, a));
    EXPECT_TRUE(rules_over(later, a));
    EXPECT_FALSE(rules_over(a, later));
}

}  // namespace
}  // namespace jit
