// Table tests of the pure publishing plan (helperd/nss/src/user_plan.hpp):
// (policy, grants, local accounts, remembered uids, now) -> (users, groups,
// uids after the step, warnings). No files: the UserDb tests cover the I/O.
#include "user_plan.hpp"

#include <jit/test/grants.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

namespace jit::nss {
namespace {

using test::grant;

constexpr UnixTime T0 = 1'800'000'000;
constexpr std::int64_t H = 3600;

// root and localbob (uid and group 70000); groups adm (4) and taken (70002).
LocalAccounts host() {
    LocalAccounts l;
    l.user_names = {"root", "localbob"};
    l.uids = {0, 70000};
    l.groups = {{"root", 0}, {"adm", 4}, {"localbob", 70000}, {"taken", 70002}};
    l.gids = {0, 4, 70000, 70002};
    return l;
}

NssPolicy policy() {
    NssPolicy p;
    p.home_base = "/home";
    p.uid_min = 70000;
    p.uid_max = 70005;
    p.uid_quarantine_seconds = 1000;
    return p;
}

UserDb::Record record(std::uint32_t uid, bool present, UnixTime active_end, UnixTime gone_since = 0) {
    UserDb::Record r;
    r.uid = uid;
    r.has_uid = true;
    r.present = present;
    r.active_end = active_end;
    r.gone_since = gone_since;
    r.gecos = "Old";
    return r;
}

Grant with(Grant g, const std::function<void(Grant&)>& change) {
    change(g);
    return g;
}

struct Row {
    const char* name;
    std::vector<Grant> grants;
    std::vector<std::string> users;     // "name uid shell gids[ retained]"
    std::vector<std::string> warnings;  // "code user"
    std::vector<std::string> uids;      // "name uid" of every record after the step ("name -": none)
    std::function<void(NssPolicy&, UidState&)> before = nullptr;
    UnixTime now = T0;
};

std::string show(const PublishedUser& u) {
    std::string s = u.name + " " + std::to_string(u.uid) + " " + u.shell + " [";
    for (std::size_t i = 0; i < u.groups.size(); i++) s += (i ? "," : "") + std::to_string(u.groups[i]);
    return s + "]" + (u.retained ? " retained" : "");
}

std::vector<Row> rows() {
    return {
        {"no grants, nothing known", {}, {}, {}, {}},
        {"an active login grant: the first free uid (70000 is local)",
         {grant("g1", "alice", T0, T0 + H)}, {"alice 70001 /bin/bash []"}, {}, {"alice 70001"}},
        {"not yet active: allocated ahead, not published",
         {grant("g1", "alice", T0 + 1, T0 + H)}, {}, {}, {"alice 70001"}},
        {"login:false: nologin",
         {grant("g1", "alice", T0, T0 + H, false)}, {"alice 70001 /usr/sbin/nologin []"}, {}, {"alice 70001"}},
        {"taken gids and reserved ids are skipped",
         {grant("g1", "a", T0, T0 + H), grant("g2", "b", T0, T0 + H), grant("g3", "c", T0, T0 + H)},
         {"a 70001 /bin/bash []", "b 70003 /bin/bash []", "c 70004 /bin/bash []"}, {},
         {"a 70001", "b 70003", "c 70004"}},
        {"groups: union of the active grants; unknown ones warned",
         {with(grant("g1", "alice", T0, T0 + H), [](Grant& g) { g.groups = {"adm", "nosuch"}; }),
          with(grant("g2", "alice", T0, T0 + 2 * H, false), [](Grant& g) { g.groups = {"taken"}; }),
          with(grant("g3", "alice", T0 + H, T0 + 2 * H), [](Grant& g) { g.groups = {"root"}; })},
         {"alice 70001 /bin/bash [4,70002]"}, {"group.unknown alice"}, {"alice 70001"}},
        {"the ruling login grant gives the shell (ties: smallest id)",
         {with(grant("g-b", "alice", T0, T0 + H), [](Grant& g) { g.shell = "/bin/zsh"; }),
          with(grant("g-a", "alice", T0 - H, T0 + H), [](Grant& g) { g.shell = "/bin/sh"; }),
          with(grant("g-c", "alice", T0, T0 + 2 * H, false), [](Grant& g) { g.shell = "/bin/ksh"; })},
         {"alice 70001 /bin/sh []"}, {}, {"alice 70001"}},
        {"an unusable shell: default, warned",
         {with(grant("g1", "alice", T0, T0 + H), [](Grant& g) { g.shell = "bin/zsh"; })},
         {"alice 70001 /bin/bash []"}, {"grant.shell alice"}, {"alice 70001"}},
        {"recording: every login gets the recording shell",
         {with(grant("g1", "alice", T0, T0 + H), [](Grant& g) { g.shell = "/bin/zsh"; }),
          grant("g2", "bob", T0, T0 + H, false)},
         {"alice 70001 /usr/libexec/jit-rec-session []", "bob 70003 /usr/sbin/nologin []"}, {},
         {"alice 70001", "bob 70003"},
         [](NssPolicy& p, UidState&) { p.recording_shell = "/usr/libexec/jit-rec-session"; }},
        {"member group: everyone published, retained too",
         {grant("g1", "alice", T0, T0 + H)}, {"alice 70001 /bin/bash [4]", "bob 70003 /usr/sbin/nologin [4] retained"},
         {}, {"alice 70001", "bob 70003"},
         [](NssPolicy& p, UidState& s) {
             p.member_group = "adm";
             p.retention_seconds = 600;
             s.records["bob"] = record(70003, true, T0 - 10);
         }},
        {"local names, local groups and invalid names are never published",
         {grant("g1", "localbob", T0, T0 + H), grant("g2", "taken", T0, T0 + H), grant("g3", "Bad Name", T0, T0 + H)},
         {}, {"user.name Bad Name", "user.local_name localbob", "user.group_name taken"}, {}},
        {"a grant's uid is used; a local one is refused",
         {with(grant("g1", "alice", T0, T0 + H), [](Grant& g) { g.uid = 71000; }),
          with(grant("g2", "bob", T0, T0 + H), [](Grant& g) { g.uid = 70002; }),
          with(grant("g3", "carol", T0, T0 + H), [](Grant& g) { g.uid = 65534; })},
         {"alice 71000 /bin/bash []"}, {"user.local_uid bob", "user.local_uid carol"}, {"alice 71000"}},
        {"grants naming different uids: not published",
         {with(grant("g1", "alice", T0, T0 + H), [](Grant& g) { g.uid = 71000; }),
          with(grant("g2", "alice", T0 + H, T0 + 2 * H), [](Grant& g) { g.uid = 71001; })},
         {}, {"grant.uid_mismatch alice"}, {}},
        {"a grant's uid held by a present JIT user: conflict",
         {with(grant("g1", "alice", T0, T0 + H), [](Grant& g) { g.uid = 70003; }), grant("g2", "bob", T0, T0 + H)},
         {"bob 70003 /bin/bash []"}, {"user.uid_conflict alice"}, {"bob 70003"},
         [](NssPolicy&, UidState& s) { s.records["bob"] = record(70003, true, T0 + H); }},
        {"a grant's uid held by a user gone past quarantine: taken over",
         {with(grant("g1", "alice", T0, T0 + H), [](Grant& g) { g.uid = 70003; })},
         {"alice 70003 /bin/bash []"}, {}, {"alice 70003", "bob -"},
         [](NssPolicy&, UidState& s) { s.records["bob"] = record(70003, false, T0 - 2000, T0 - 1000); }},
        {"a uid another user gave up is in quarantine",
         {with(grant("g1", "alice", T0, T0 + H), [](Grant& g) { g.uid = 71000; })},
         {}, {"user.uid_conflict alice"}, {},
         [](NssPolicy&, UidState& s) { s.released[71000] = UserDb::Released{"bob", T0 - 10}; }},
        {"a grant moving a user to another uid: the old one waits in quarantine",
         {with(grant("g1", "alice", T0, T0 + H), [](Grant& g) { g.uid = 71000; }), grant("g2", "bob", T0, T0 + H)},
         {"alice 71000 /bin/bash []", "bob 70003 /bin/bash []"}, {}, {"alice 71000", "bob 70003"},
         [](NssPolicy&, UidState& s) { s.records["alice"] = record(70001, true, T0 + H); }},
        {"without quarantine the old uid is free at once",
         {with(grant("g1", "alice", T0, T0 + H), [](Grant& g) { g.uid = 71000; }), grant("g2", "bob", T0, T0 + H)},
         {"alice 71000 /bin/bash []", "bob 70001 /bin/bash []"}, {}, {"alice 71000", "bob 70001"},
         [](NssPolicy& p, UidState& s) {
             s.records["alice"] = record(70001, true, T0 + H);
             p.uid_quarantine_seconds = 0;
         }},
        {"a known user keeps their uid",
         {grant("g1", "alice", T0, T0 + H)}, {"alice 70004 /bin/bash []"}, {}, {"alice 70004"},
         [](NssPolicy&, UidState& s) { s.records["alice"] = record(70004, false, T0 - 5000, T0 - 4000); }},
        {"a known uid that became local: not published",
         {grant("g1", "alice", T0, T0 + H)}, {}, {"user.local_uid alice"}, {"alice 70002"},
         [](NssPolicy&, UidState& s) { s.records["alice"] = record(70002, false, T0 - 5000, T0 - 4000); }},
        {"retention: nologin, no groups, until it runs out",
         {}, {"alice 70001 /usr/sbin/nologin [] retained"}, {}, {"alice 70001"},
         [](NssPolicy& p, UidState& s) {
             p.retention_seconds = 600;
             s.records["alice"] = record(70001, true, T0 - 599);
         }},
        {"retention over: gone, uid remembered",
         {}, {}, {}, {"alice 70001"},
         [](NssPolicy& p, UidState& s) {
             p.retention_seconds = 600;
             s.records["alice"] = record(70001, true, T0 - 600);
         }},
        {"four free uids for four users",
         {grant("g1", "a", T0, T0 + H), grant("g2", "b", T0, T0 + H), grant("g3", "c", T0, T0 + H),
          grant("g4", "d", T0, T0 + H)},
         {"a 70001 /bin/bash []", "b 70003 /bin/bash []", "c 70004 /bin/bash []", "d 70005 /bin/bash []"}, {},
         {"a 70001", "b 70003", "c 70004", "d 70005"}},
        {"range full: the uid of the user gone the longest, once out of quarantine",
         {grant("g1", "e", T0, T0 + H)}, {"e 70003 /bin/bash []"}, {}, {"a 70001", "b -", "c 70004", "d 70005", "e 70003"},
         [](NssPolicy&, UidState& s) {
             s.records["a"] = record(70001, true, T0 + H);
             s.records["b"] = record(70003, false, T0 - 9000, T0 - 8000);
             s.records["c"] = record(70004, false, T0 - 9000, T0 - 5000);
             s.records["d"] = record(70005, false, T0 - 9000, T0 - 10);  // in quarantine
         }},
        {"range full and all in quarantine: exhausted",
         {grant("g1", "e", T0, T0 + H)}, {}, {"user.uid_exhausted e"}, {"a 70001", "b 70003", "c 70004", "d 70005"},
         [](NssPolicy&, UidState& s) {
             for (auto [n, uid] : {std::pair{"a", 70001u}, {"b", 70003u}, {"c", 70004u}, {"d", 70005u}})
                 s.records[n] = record(uid, false, T0 - 100, T0 - 10);
         }},
    };
}

TEST(UserPlan, Table) {
    for (const Row& row : rows()) {
        NssPolicy p = policy();
        UidState state;
        if (row.before) row.before(p, state);
        const UserPlan out = plan_users(p, row.grants, host(), state, row.now);

        std::vector<std::string> users, warnings, uids;
        for (const auto& u : out.users) users.push_back(show(u));
        for (const auto& w : out.warnings) warnings.push_back(w.code + " " + w.user);
        for (const auto& [name, r] : out.state.records)
            uids.push_back(name + " " + (r.has_uid ? std::to_string(r.uid) : "-"));
        std::sort(users.begin(), users.end());
        EXPECT_EQ(users, row.users) << row.name;
        EXPECT_EQ(warnings, row.warnings) << row.name;
        EXPECT_EQ(uids, row.uids) << row.name;

        // The primary groups: one per user, gid == uid, named after the user.
        ASSERT_EQ(out.groups.size(), out.users.size()) << row.name;
        for (std::size_t i = 0; i < out.users.size(); i++) {
            EXPECT_EQ(out.groups[i].name, out.users[i].name) << row.name;
            EXPECT_EQ(out.groups[i].gid, out.users[i].uid) << row.name;
            EXPECT_EQ(out.users[i].home, "/home/" + out.users[i].name) << row.name;
        }
    }
}

}  // namespace
}  // namespace jit::nss
