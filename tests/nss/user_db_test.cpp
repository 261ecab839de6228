// The publisher's rules: who exists when, with which uid, shell and groups;
// what is never shadowed; durability of allocations; home directories.
#include <jit/nss_user_db.hpp>

#include "snapshot_reader.h"
#include "test_util.hpp"

#include <jit/test/grants.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <sys/stat.h>

namespace jit::nss {
namespace {

using test::TempDir;

constexpr UnixTime T0 = 1'800'000'000;
constexpr std::int64_t H = 3600;

using jit::test::grant;

class UserDbTest : public ::testing::Test {
protected:
    TempDir dir;
    NssPolicy policy;

    void SetUp() override {
        test::write_text(dir / "passwd",
                         "root:x:0:0:root:/root:/bin/bash\n"
                         "daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
                         "localbob:x:70000:70000::/home/localbob:/bin/bash\n"
                         "weird\n"
                         "+nisuser::::::\n");
        test::write_text(dir / "group",
                         "root:x:0:\nadm:x:4:syslog\nsudo:x:27:\nlocalbob:x:70000:\n"
                         "taken:x:70002:\nshared:x:70100:\n");
        policy.db_path = dir / "db/nss.db";
        policy.state_dir = dir / "state";
        policy.passwd_file = dir / "passwd";
        policy.group_file = dir / "group";
        policy.home_base = dir / "home";
        policy.uid_min = 70000;
        policy.uid_max = 70009;
    }

    UserDb open() {
        auto p = UserDb::open(policy);
        EXPECT_TRUE(p.ok()) << (p ? "" : p.error().message);
        return std::move(*p);
    }

    // What libnss_jit would answer for `name` from the published file.
    std::optional<std::pair<std::uint32_t, std::string>> lookup(const std::string& name,
                                                                std::vector<std::uint32_t>* groups = nullptr) {
        jit_snap* s = nullptr;
        if (jit_snap_open(policy.db_path.c_str(), ::geteuid(), &s) != JIT_SNAP_OK) return std::nullopt;
        jit_pw_view v;
        std::optional<std::pair<std::uint32_t, std::string>> out;
        if (jit_snap_user_by_name(s, name.c_str(), &v) == JIT_SNAP_OK) {
            out = std::make_pair(v.uid, std::string(v.shell));
            if (groups != nullptr) {
                groups->clear();
                for (std::uint32_t i = 0; i < v.ngroups; i++) groups->push_back(jit_pw_group(&v, i));
            }
        }
        jit_snap_free(s);
        return out;
    }

    bool has_warning(const UserDb& p, const std::string& code, const std::string& user) {
        return std::any_of(p.warnings().begin(), p.warnings().end(),
                           [&](const PublishWarning& w) { return w.code == code && w.user == user; });
    }
};

TEST_F(UserDbTest, UserExistsExactlyDuringTheWindow) {
    auto pub = open();
    std::vector<Grant> grants = {grant("g1", "alice", T0, T0 + H)};
    ASSERT_TRUE(pub.publish(grants, T0 - 1).ok());
    EXPECT_FALSE(lookup("alice"));
    ASSERT_TRUE(pub.uid_of("alice"));  // allocated ahead of the window
    ASSERT_TRUE(pub.publish(grants, T0).ok());
    auto alice = lookup("alice");
    ASSERT_TRUE(alice);
    EXPECT_EQ(alice->first, *pub.uid_of("alice"));
    EXPECT_EQ(alice->second, "/bin/bash");
    ASSERT_TRUE(pub.publish(grants, T0 + H).ok());  // not_after is exclusive
    EXPECT_FALSE(lookup("alice"));
    EXPECT_TRUE(pub.manages("alice"));
    EXPECT_FALSE(pub.manages("mallory"));
}

TEST_F(UserDbTest, FieldsFollowTheGrants) {
    auto pub = open();
    auto g = grant("g1", "alice", T0, T0 + H);
    g.display_name = "Alice: The\tLiddell";
    g.shell = "/bin/zsh";
    g.groups = {"adm", "sudo", "nosuchgroup"};
    ASSERT_TRUE(pub.publish({g}, T0).ok());
    ASSERT_EQ(pub.published().size(), 1u);
    const auto& u = pub.published()[0];
    EXPECT_EQ(u.name, "alice");
    EXPECT_EQ(u.gecos, "Alice  The Liddell");
    EXPECT_EQ(u.home, policy.home_base + "/alice");
    EXPECT_EQ(u.shell, "/bin/zsh");
    EXPECT_EQ(u.groups, (std::vector<std::uint32_t>{4, 27}));
    EXPECT_TRUE(has_warning(pub, "group.unknown", "alice"));
    std::vector<std::uint32_t> groups;
    ASSERT_TRUE(lookup("alice", &groups));
    EXPECT_EQ(groups, (std::vector<std::uint32_t>{4, 27}));

    // The primary group gid == uid, named after the user.
    jit_snap* s = nullptr;
    ASSERT_EQ(jit_snap_open(policy.db_path.c_str(), ::geteuid(), &s), JIT_SNAP_OK);
    jit_gr_view gv;
    ASSERT_EQ(jit_snap_group_by_name(s, "alice", &gv), JIT_SNAP_OK);
    EXPECT_EQ(gv.gid, u.uid);
    EXPECT_EQ(jit_snap_group_by_name(s, "adm", &gv), JIT_SNAP_NOTFOUND);  // local groups stay nss_files'
    jit_snap_free(s);
}

TEST_F(UserDbTest, LoginFalseGivesNologinShellAndGroupsOnlyForActiveGrants) {
    auto pub = open();
    auto sudo_only = grant("g1", "alice", T0, T0 + 2 * H, false);
    sudo_only.groups = {"adm"};
    auto later = grant("g2", "alice", T0 + H, T0 + 3 * H, true);
    later.groups = {"sudo"};
    std::vector<Grant> grants = {sudo_only, later};
    ASSERT_TRUE(pub.publish(grants, T0).ok());
    std::vector<std::uint32_t> groups;
    auto u = lookup("alice", &groups);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->second, "/usr/sbin/nologin");
    EXPECT_EQ(groups, (std::vector<std::uint32_t>{4}));
    ASSERT_TRUE(pub.publish(grants, T0 + H).ok());
    u = lookup("alice", &groups);
    EXPECT_EQ(u->second, "/bin/bash");
    EXPECT_EQ(groups, (std::vector<std::uint32_t>{4, 27}));
    ASSERT_TRUE(pub.publish(grants, T0 + 2 * H).ok());
    u = lookup("alice", &groups);
    EXPECT_EQ(groups, (std::vector<std::uint32_t>{27}));
    EXPECT_EQ(pub.next_change(grants, T0 + 2 * H), T0 + 3 * H);
    EXPECT_EQ(pub.next_change(grants, T0 - 10), T0);
    EXPECT_EQ(pub.next_change(grants, T0 + 3 * H), 0);
}

TEST_F(UserDbTest, RetentionKeepsANologinEntryWithoutGroupsThenRemovesIt) {
    policy.retention_seconds = 600;
    auto pub = open();
    auto g = grant("g1", "alice", T0, T0 + H);
    g.groups = {"adm"};
    ASSERT_TRUE(pub.publish({g}, T0).ok());
    const auto uid = *pub.uid_of("alice");
    // The authority drops the expired grant from the bundle; retention still applies.
    ASSERT_TRUE(pub.publish({}, T0 + H).ok());
    std::vector<std::uint32_t> groups;
    auto u = lookup("alice", &groups);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->first, uid);
    EXPECT_EQ(u->second, "/usr/sbin/nologin");
    EXPECT_TRUE(groups.empty());
    EXPECT_TRUE(pub.published()[0].retained);
    EXPECT_EQ(pub.next_change({}, T0 + H), T0 + H + 600);
    ASSERT_TRUE(pub.publish({}, T0 + H + 599).ok());
    EXPECT_TRUE(lookup("alice"));
    ASSERT_TRUE(pub.publish({}, T0 + H + 600).ok());
    EXPECT_FALSE(lookup("alice"));
    EXPECT_EQ(pub.uid_of("alice"), uid);  // remembered for quarantine and return
}

// ssh.users_group: every JIT user is a member while it exists, retention
// included (sshd's "Match Group" keeps home authorized_keys off for them).
TEST_F(UserDbTest, MemberGroupHoldsEveryPublishedUserIncludingRetained) {
    policy.retention_seconds = 600;
    policy.member_group = "shared";
    auto pub = open();
    auto g = grant("g1", "alice", T0, T0 + H);
    g.groups = {"adm"};
    ASSERT_TRUE(pub.publish({g, grant("g2", "bob", T0, T0 + H, false)}, T0).ok());
    std::vector<std::uint32_t> groups;
    ASSERT_TRUE(lookup("alice", &groups));
    EXPECT_EQ(groups, (std::vector<std::uint32_t>{4, 70100}));
    ASSERT_TRUE(lookup("bob", &groups));
    EXPECT_EQ(groups, (std::vector<std::uint32_t>{70100}));
    ASSERT_TRUE(pub.publish({}, T0 + H).ok());
    ASSERT_TRUE(lookup("alice", &groups));
    EXPECT_EQ(groups, (std::vector<std::uint32_t>{70100}));
    EXPECT_TRUE(pub.warnings().empty());

    policy.member_group = "nosuchgroup";
    auto other = UserDb::open(policy);
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE(other->publish({g}, T0).ok());
    EXPECT_TRUE(has_warning(*other, "group.unknown", "alice"));
}

// recording.sessions = on: every user with a login window gets the recording
// shell (jit-rec-session), whatever the grant asks; sudo-only and retained
// users keep nologin (nothing to record, no login).
TEST_F(UserDbTest, RecordingShellForEveryLoginWindow) {
    policy.retention_seconds = 600;
    policy.recording_shell = "/usr/libexec/jitlogin/jit-rec-session";
    auto pub = open();
    auto g = grant("g1", "alice", T0, T0 + H);
    g.shell = "/bin/sh";
    ASSERT_TRUE(pub.publish({g, grant("g2", "bob", T0, T0 + H, false), grant("g3", "carl", T0, T0 + H)}, T0).ok());
    EXPECT_EQ(lookup("alice")->second, "/usr/libexec/jitlogin/jit-rec-session");
    EXPECT_EQ(lookup("carl")->second, "/usr/libexec/jitlogin/jit-rec-session");
    EXPECT_EQ(lookup("bob")->second, "/usr/sbin/nologin");
    ASSERT_TRUE(pub.publish({}, T0 + H).ok());
    EXPECT_EQ(lookup("alice")->second, "/usr/sbin/nologin");

    policy.recording_shell = "relative/jit-rec-session";
    EXPECT_FALSE(UserDb::open(policy).ok());
}

TEST_F(UserDbTest, RevokedEarlyStartsRetentionAtRevocation) {
    policy.retention_seconds = 600;
    auto pub = open();
    ASSERT_TRUE(pub.publish({grant("g1", "alice", T0, T0 + 10 * H)}, T0).ok());
    ASSERT_TRUE(pub.publish({}, T0 + 60).ok());  // grant gone from the bundle: ended early
    auto u = lookup("alice");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->second, "/usr/sbin/nologin");
    ASSERT_TRUE(pub.publish({}, T0 + 660).ok());
    EXPECT_FALSE(lookup("alice"));
}

TEST_F(UserDbTest, UidsAreStableAcrossRestartsAndRenewals) {
    std::uint32_t alice, bob;
    {
        auto pub = open();
        ASSERT_TRUE(pub.publish({grant("g1", "alice", T0, T0 + H), grant("g2", "bob", T0, T0 + H)}, T0).ok());
        alice = *pub.uid_of("alice");
        bob = *pub.uid_of("bob");
        EXPECT_NE(alice, bob);
        struct stat st;
        ASSERT_EQ(::stat((policy.state_dir + "/nss-uids").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0600u);
        ASSERT_EQ(::stat(policy.db_path.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0644u);
    }
    auto pub = open();  // daemon restart
    EXPECT_EQ(pub.uid_of("alice"), alice);
    ASSERT_TRUE(pub.publish({grant("g3", "bob", T0 + 5 * H, T0 + 6 * H), grant("g4", "alice", T0 + 5 * H, T0 + 6 * H)},
                            T0 + 5 * H)
                    .ok());
    EXPECT_EQ(lookup("alice")->first, alice);
    EXPECT_EQ(lookup("bob")->first, bob);
}

TEST_F(UserDbTest, AllocationSkipsLocalIdsAndReservedOnes) {
    auto pub = open();
    // 70000 is localbob's uid, 70002 a local gid: never allocated.
    ASSERT_TRUE(pub.publish({grant("g1", "a1", T0, T0 + H), grant("g2", "a2", T0, T0 + H), grant("g3", "a3", T0, T0 + H)},
                            T0)
                    .ok());
    std::set<std::uint32_t> uids = {*pub.uid_of("a1"), *pub.uid_of("a2"), *pub.uid_of("a3")};
    EXPECT_EQ(uids, (std::set<std::uint32_t>{70001, 70003, 70004}));
}

TEST_F(UserDbTest, LocalNamesAndUidsAreNeverShadowed) {
    auto pub = open();
    auto root = grant("g1", "root", T0, T0 + H);
    auto local = grant("g2", "localbob", T0, T0 + H);
    auto uid_clash = grant("g3", "eve", T0, T0 + H);
    uid_clash.uid = 70000;  // localbob's uid
    auto gid_clash = grant("g4", "frank", T0, T0 + H);
    gid_clash.uid = 70100;  // group "shared"
    auto group_name = grant("g5", "adm", T0, T0 + H);
    ASSERT_TRUE(pub.publish({root, local, uid_clash, gid_clash, group_name, grant("g6", "alice", T0, T0 + H)}, T0).ok());
    EXPECT_FALSE(lookup("root"));
    EXPECT_FALSE(lookup("localbob"));
    EXPECT_FALSE(lookup("eve"));
    EXPECT_FALSE(lookup("frank"));
    EXPECT_FALSE(lookup("adm"));
    EXPECT_TRUE(lookup("alice"));  // the others do not stop the rest
    EXPECT_TRUE(has_warning(pub, "user.local_name", "root"));
    EXPECT_TRUE(has_warning(pub, "user.local_name", "localbob"));
    EXPECT_TRUE(has_warning(pub, "user.local_uid", "eve"));
    EXPECT_TRUE(has_warning(pub, "user.local_uid", "frank"));
    EXPECT_TRUE(has_warning(pub, "user.group_name", "adm"));
    EXPECT_FALSE(pub.manages("root"));
    EXPECT_FALSE(pub.manages("localbob"));
}

TEST_F(UserDbTest, AUserAddedLocallyLaterIsWithdrawnAndNoLongerManaged) {
    auto pub = open();
    ASSERT_TRUE(pub.publish({grant("g1", "alice", T0, T0 + H)}, T0).ok());
    ASSERT_TRUE(lookup("alice"));
    test::write_text(policy.passwd_file, test::read_text(policy.passwd_file) + "alice:x:1001:1001::/home/alice:/bin/sh\n");
    ASSERT_TRUE(pub.publish({grant("g1", "alice", T0, T0 + H)}, T0 + 1).ok());
    EXPECT_FALSE(lookup("alice"));
    EXPECT_FALSE(pub.manages("alice"));
    EXPECT_TRUE(has_warning(pub, "user.local_name", "alice"));
}

TEST_F(UserDbTest, GrantUidsAreUsedAndConflictsSkipped) {
    auto pub = open();
    auto a = grant("g1", "alice", T0, T0 + H);
    a.uid = 5000;
    auto b = grant("g2", "bob", T0, T0 + H);
    b.uid = 5000;  // same uid as alice
    auto c1 = grant("g3", "carol", T0, T0 + H);
    c1.uid = 5001;
    auto c2 = grant("g4", "carol", T0, T0 + 2 * H);
    c2.uid = 5002;  // carol's grants disagree
    ASSERT_TRUE(pub.publish({a, b, c1, c2}, T0).ok());
    EXPECT_EQ(lookup("alice")->first, 5000u);
    EXPECT_FALSE(lookup("bob"));
    EXPECT_TRUE(has_warning(pub, "user.uid_conflict", "bob"));
    EXPECT_FALSE(lookup("carol"));
    EXPECT_TRUE(has_warning(pub, "grant.uid_mismatch", "carol"));
}

TEST_F(UserDbTest, QuarantineDelaysReuseOfAUid) {
    policy.uid_max = 70001;  // one usable uid (70000 is local)
    policy.uid_quarantine_seconds = 1000;
    auto pub = open();
    ASSERT_TRUE(pub.publish({grant("g1", "alice", T0, T0 + H)}, T0).ok());
    EXPECT_EQ(pub.uid_of("alice"), 70001u);
    ASSERT_TRUE(pub.publish({grant("g2", "bob", T0 + H, T0 + 2 * H)}, T0 + H).ok());
    EXPECT_FALSE(lookup("bob"));
    EXPECT_TRUE(has_warning(pub, "user.uid_exhausted", "bob"));
    ASSERT_TRUE(pub.publish({grant("g2", "bob", T0 + H, T0 + 2 * H)}, T0 + H + 999).ok());
    EXPECT_FALSE(lookup("bob"));
    ASSERT_TRUE(pub.publish({grant("g2", "bob", T0 + H, T0 + 2 * H)}, T0 + H + 1000).ok());
    ASSERT_TRUE(lookup("bob"));
    EXPECT_EQ(lookup("bob")->first, 70001u);
    EXPECT_FALSE(pub.uid_of("alice"));  // alice lost it; she would get a new one
    EXPECT_TRUE(pub.manages("alice"));
}

TEST_F(UserDbTest, GrantUidOfAQuarantinedUserIsRefused) {
    policy.uid_quarantine_seconds = 1000;
    auto pub = open();
    ASSERT_TRUE(pub.publish({grant("g1", "alice", T0, T0 + H)}, T0).ok());
    const auto uid = *pub.uid_of("alice");
    ASSERT_TRUE(pub.publish({}, T0 + H).ok());
    auto b = grant("g2", "bob", T0 + H, T0 + 2 * H);
    b.uid = uid;
    ASSERT_TRUE(pub.publish({b}, T0 + H + 10).ok());
    EXPECT_FALSE(lookup("bob"));
    EXPECT_TRUE(has_warning(pub, "user.uid_conflict", "bob"));
}

// A grant that moves a user to another uid does not free the old one at
// once: files may still carry it, so it waits out the quarantine like any uid
// that left (kept across restarts), except for its own former user.
TEST_F(UserDbTest, AUidGivenUpByAGrantChangeIsQuarantined) {
    policy.uid_quarantine_seconds = 1000;
    auto pub = open();
    auto a = grant("g1", "alice", T0, T0 + H);
    a.uid = 5000;
    ASSERT_TRUE(pub.publish({a}, T0).ok());
    a.uid = 5001;  // the authority moved alice
    auto b = grant("g2", "bob", T0, T0 + H);
    b.uid = 5000;
    ASSERT_TRUE(pub.publish({a, b}, T0 + 10).ok());
    EXPECT_EQ(lookup("alice")->first, 5001u);
    EXPECT_FALSE(lookup("bob"));
    EXPECT_TRUE(has_warning(pub, "user.uid_conflict", "bob"));
    auto again = open();  // restart: the quarantine is remembered
    ASSERT_TRUE(again.publish({a, b}, T0 + 20).ok());
    EXPECT_FALSE(lookup("bob"));
    ASSERT_TRUE(again.publish({a, b}, T0 + 10 + 1000).ok());  // quarantine over
    ASSERT_TRUE(lookup("bob"));
    EXPECT_EQ(lookup("bob")->first, 5000u);
    // A range uid given up is not allocated to a newcomer either.
    policy.uid_min = 70003;  // two free uids (70000 and 70002 are local)
    policy.uid_max = 70004;
    auto ranged = UserDb::open(policy);
    ASSERT_TRUE(ranged.ok());
    ASSERT_TRUE(ranged->publish({grant("g3", "carol", T0, T0 + 5 * H)}, T0 + 2000).ok());
    const auto carol_uid = *ranged->uid_of("carol");
    auto c = grant("g3", "carol", T0, T0 + 5 * H);
    c.uid = 6000;
    ASSERT_TRUE(ranged->publish({c}, T0 + 2010).ok());
    ASSERT_TRUE(ranged->publish({c, grant("g4", "dan", T0, T0 + 5 * H)}, T0 + 2020).ok());
    ASSERT_TRUE(ranged->uid_of("dan"));
    EXPECT_NE(*ranged->uid_of("dan"), carol_uid);
    // ... but carol may have her own former uid back.
    c.uid = carol_uid;
    ASSERT_TRUE(ranged->publish({c}, T0 + 2030).ok());
    EXPECT_EQ(lookup("carol")->first, carol_uid);
}

// Without its state file, the publisher keeps the uids of the users in the
// published snapshot (jit-helperd sets a corrupt state file aside and opens
// again): nobody else gets them.
TEST_F(UserDbTest, UidsAreRebuiltFromTheSnapshotWithoutAStateFile) {
    {
        auto pub = open();
        ASSERT_TRUE(pub.publish({grant("g1", "alice", T0, T0 + H), grant("g2", "bob", T0, T0 + H)}, T0).ok());
    }
    const auto alice_uid = lookup("alice")->first, bob_uid = lookup("bob")->first;
    ASSERT_EQ(::unlink(uid_state_path(policy).c_str()), 0);
    auto pub = open();
    EXPECT_EQ(pub.uid_of("alice"), alice_uid);
    EXPECT_EQ(pub.uid_of("bob"), bob_uid);
    EXPECT_TRUE(pub.manages("bob"));
    ASSERT_TRUE(pub.publish({grant("g1", "alice", T0, T0 + H), grant("g3", "carol", T0, T0 + H)}, T0 + 10).ok());
    EXPECT_EQ(lookup("alice")->first, alice_uid);
    EXPECT_NE(lookup("carol")->first, alice_uid);
    EXPECT_NE(lookup("carol")->first, bob_uid);
}

TEST_F(UserDbTest, WritesOnlyWhenTheSetChanges) {
    auto pub = open();
    std::vector<Grant> grants = {grant("g1", "alice", T0, T0 + H)};
    ASSERT_TRUE(pub.publish(grants, T0).ok());
    EXPECT_TRUE(pub.last_publish_wrote());
    ASSERT_TRUE(pub.publish(grants, T0 + 10).ok());
    EXPECT_FALSE(pub.last_publish_wrote());
    auto again = open();  // restart: the file on disk is recognised as current
    ASSERT_TRUE(again.publish(grants, T0 + 20).ok());
    EXPECT_FALSE(again.last_publish_wrote());
    ::unlink(policy.db_path.c_str());
    ASSERT_TRUE(again.publish(grants, T0 + 30).ok());
    EXPECT_TRUE(again.last_publish_wrote());
    EXPECT_TRUE(lookup("alice"));
}

TEST_F(UserDbTest, RefusesBadPolicyAndBadState) {
    auto p = policy;
    p.uid_min = 500;
    EXPECT_FALSE(UserDb::open(p).ok());
    p = policy;
    p.uid_min = 80000;
    EXPECT_FALSE(UserDb::open(p).ok());
    p = policy;
    p.db_path = "relative/nss.db";
    EXPECT_FALSE(UserDb::open(p).ok());
    ::mkdir(policy.state_dir.c_str(), 0700);
    test::write_text(policy.state_dir + "/nss-uids", "jit-nss-uids 1\nalice\t70001\talloc\t0\t0\t0\t\nbob\t70001\talloc\t0\t0\t0\t\n", 0600);
    auto dup = UserDb::open(policy);
    ASSERT_FALSE(dup.ok());
    EXPECT_NE(dup.error().message.find("70001"), std::string::npos);
    test::write_text(policy.state_dir + "/nss-uids", "jit-nss-uids 9\n", 0600);
    EXPECT_FALSE(UserDb::open(policy).ok());
    test::write_text(policy.state_dir + "/nss-uids", "jit-nss-uids 1\nalice\t12\talloc\t0\t0\t0\t\n", 0600);
    EXPECT_FALSE(UserDb::open(policy).ok());
}

TEST_F(UserDbTest, MissingPasswdFileFailsWithoutWriting) {
    auto pub = open();
    ::unlink(policy.passwd_file.c_str());
    auto st = pub.publish({grant("g1", "alice", T0, T0 + H)}, T0);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("passwd"), std::string::npos);
    EXPECT_FALSE(lookup("alice"));
}

TEST_F(UserDbTest, PublishesOneHundredThousandUsers) {
    policy.uid_min = 100000;
    policy.uid_max = 299999;
    auto pub = open();
    std::vector<Grant> grants;
    for (int i = 0; i < 100000; i++) grants.push_back(grant("g" + std::to_string(i), "user" + std::to_string(i), T0, T0 + H));
    ASSERT_TRUE(pub.publish(grants, T0).ok());
    EXPECT_EQ(pub.published().size(), 100000u);
    EXPECT_TRUE(lookup("user99999"));
}

TEST_F(UserDbTest, MakesTheSnapshotDirectorySearchable) {
    policy.db_path = policy.state_dir + "/nss.db";  // the daemon's 0700 state dir
    ::mkdir(policy.state_dir.c_str(), 0700);
    auto pub = open();
    ASSERT_TRUE(pub.publish({grant("g1", "alice", T0, T0 + H)}, T0).ok());
    struct stat st;
    ASSERT_EQ(::stat(policy.state_dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0711u);
}

}  // namespace
}  // namespace jit::nss
