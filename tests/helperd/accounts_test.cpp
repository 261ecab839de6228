// CachingAccounts: answers reused for the TTL, forgotten when a watched file
// changes (noticed within kRecheckMs), bounded in size, and a pass-through with TTL 0.
#include <jit/helperd/daemon.hpp>

#include <gtest/gtest.h>

#include <fstream>

#include "test_util.hpp"

using namespace jit::helperd;
using jit::LocalAccount;

namespace {

class CountingAccounts final : public Accounts {
public:
    LocalAccount lookup(const std::string& user) override {
        ++lookups;
        auto it = users.find(user);
        return it == users.end() ? LocalAccount{} : it->second;
    }
    std::optional<std::string> name_of(uid_t uid) override {
        ++names;
        for (const auto& [name, acct] : users)
            if (acct.uid && *acct.uid == uid) return name;
        return std::nullopt;
    }
    std::map<std::string, LocalAccount> users;
    int lookups = 0, names = 0;
};

struct Fixture {
    jit::test::TempDir dir;
    std::string watched = dir.path() + "/passwd";
    CountingAccounts inner;
    std::int64_t now = 1000;
    CachingAccounts cache{inner, 5000, {watched}, [this] { return now; }};
    Fixture() {
        inner.users["alice"] = LocalAccount{70001, {"alice", "jit-users"}};
        write("v1\n");
    }
    void write(const std::string& text) { std::ofstream(watched, std::ios::trunc) << text; }
};

}  // namespace

TEST(CachingAccounts, ReusesAnswersWithinTheTtlAndAsksAgainAfter) {
    Fixture f;
    EXPECT_EQ(f.cache.lookup("alice").uid, 70001u);
    f.inner.users["alice"].groups.push_back("wheel");  // not seen while cached
    f.now += 4999;
    EXPECT_EQ(f.cache.lookup("alice").groups.size(), 2u);
    EXPECT_EQ(f.inner.lookups, 1);
    f.now += 1;
    EXPECT_EQ(f.cache.lookup("alice").groups.size(), 3u);
    EXPECT_EQ(f.inner.lookups, 2);
}

TEST(CachingAccounts, NegativeAnswersAreCachedToo) {
    Fixture f;
    EXPECT_FALSE(f.cache.lookup("bob").uid);
    EXPECT_FALSE(f.cache.lookup("bob").uid);
    EXPECT_EQ(f.inner.lookups, 1);
    EXPECT_FALSE(f.cache.name_of(4242));
    EXPECT_FALSE(f.cache.name_of(4242));
    EXPECT_EQ(f.inner.names, 1);
}

TEST(CachingAccounts, AChangedWatchedFileForgetsEverythingAtOnce) {
    Fixture f;
    EXPECT_FALSE(f.cache.lookup("bob").uid);
    EXPECT_EQ(f.cache.name_of(70001), "alice");
    f.inner.users["bob"] = LocalAccount{70002, {"bob"}};
    f.write("v2 with bob\n");  // e.g. useradd rewrote /etc/passwd
    f.now += CachingAccounts::kRecheckMs - 1;  // the files are looked at every kRecheckMs
    EXPECT_FALSE(f.cache.lookup("bob").uid);
    f.now += 1;
    EXPECT_EQ(f.cache.lookup("bob").uid, 70002u);
    EXPECT_EQ(f.cache.name_of(70002), "bob");
    EXPECT_EQ(f.inner.lookups, 2);
    // Removed (e.g. the NSS snapshot not there for a moment): a change as well.
    std::remove(f.watched.c_str());
    f.inner.users.erase("bob");
    f.now += CachingAccounts::kRecheckMs;
    EXPECT_FALSE(f.cache.lookup("bob").uid);
}

TEST(CachingAccounts, FailedLookupsAreNotRemembered) {
    Fixture f;
    f.inner.users["ldapuser"] = LocalAccount{std::nullopt, {}, true};  // e.g. the directory is down
    EXPECT_TRUE(f.cache.lookup("ldapuser").lookup_failed);
    f.inner.users["ldapuser"] = LocalAccount{80001, {"ldapuser", "jit-users"}};  // back
    EXPECT_EQ(f.cache.lookup("ldapuser").uid, 80001u);
    EXPECT_EQ(f.inner.lookups, 2);
}

TEST(CachingAccounts, TtlZeroAsksEveryTime) {
    Fixture f;
    f.cache.configure(0, {f.watched});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(f.cache.lookup("alice").uid, 70001u);
    EXPECT_EQ(f.inner.lookups, 3);
}

TEST(CachingAccounts, ConfigureForgetsAndAFloodOfNamesStaysBounded) {
    Fixture f;
    EXPECT_EQ(f.cache.lookup("alice").uid, 70001u);
    f.cache.configure(5000, {f.watched});
    EXPECT_EQ(f.cache.lookup("alice").uid, 70001u);
    EXPECT_EQ(f.inner.lookups, 2);
    for (std::size_t i = 0; i < 3 * CachingAccounts::kMaxEntries; ++i) {
        ++f.now;  // distinct ages: the oldest half goes
        EXPECT_FALSE(f.cache.lookup("u" + std::to_string(i)).uid);
    }
    const int before = f.inner.lookups;
    // The newest are still cached, the oldest are not.
    EXPECT_FALSE(f.cache.lookup("u" + std::to_string(3 * CachingAccounts::kMaxEntries - 1)).uid);
    EXPECT_EQ(f.inner.lookups, before);
    EXPECT_FALSE(f.cache.lookup("u0").uid);
    EXPECT_EQ(f.inner.lookups, before + 1);
}
