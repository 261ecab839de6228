// CachingAccounts: answers reused for the TTL, forgotten when a watched file
// changes (noticed within kRecheckMs), bounded in size, nothing kept with TTL
// 0, and an answer asked before everything was forgotten not kept.
#include <jit/helperd/accounts.hpp>

#include <gtest/gtest.h>

#include <fstream>

#include "test_util.hpp"

using namespace jit::helperd;
using jit::LocalAccount;

namespace {

struct Fixture {
    jit::test::TempDir dir;
    std::string watched = dir.path() + "/passwd";
    jit::test::FakeAccounts inner;
    std::int64_t now = 1000;
    CachingAccounts cache{5000, {watched}, [this] { return now; }};
    Fixture() {
        inner.users["alice"] = LocalAccount{70001, {"alice", "jit-users"}};
        write("v1\n");
    }
    void write(const std::string& text) { std::ofstream(watched, std::ios::trunc) << text; }
    // What LookupWorker does for a question, on one thread: the cache, else
    // the generation read, the answer asked, and remembered.
    LocalAccount lookup(const std::string& user) {
        if (auto hit = cache.cached_lookup(user)) return *hit;
        const auto generation = cache.generation();
        LocalAccount value = inner.lookup(user);
        cache.remember(user, value, generation);
        return value;
    }
    std::optional<std::string> name_of(uid_t uid) {
        if (auto hit = cache.cached_name_of(uid)) return *hit;
        const auto generation = cache.generation();
        auto value = inner.name_of(uid);
        cache.remember(uid, value, generation);
        return value;
    }
};

}  // namespace

TEST(CachingAccounts, ReusesAnswersWithinTheTtlAndAsksAgainAfter) {
    Fixture f;
    EXPECT_EQ(f.lookup("alice").uid, 70001u);
    f.inner.users["alice"].groups.push_back("wheel");  // not seen while cached
    f.now += 4999;
    EXPECT_EQ(f.lookup("alice").groups.size(), 2u);
    EXPECT_EQ(f.inner.lookups, 1);
    f.now += 1;
    EXPECT_EQ(f.lookup("alice").groups.size(), 3u);
    EXPECT_EQ(f.inner.lookups, 2);
}

TEST(CachingAccounts, NegativeAnswersAreCachedToo) {
    Fixture f;
    EXPECT_FALSE(f.lookup("bob").uid);
    EXPECT_FALSE(f.lookup("bob").uid);
    EXPECT_EQ(f.inner.lookups, 1);
    EXPECT_FALSE(f.name_of(4242));
    EXPECT_FALSE(f.name_of(4242));
    EXPECT_EQ(f.inner.names, 1);
}

TEST(CachingAccounts, AChangedWatchedFileForgetsEverythingAtOnce) {
    Fixture f;
    EXPECT_FALSE(f.lookup("bob").uid);
    EXPECT_EQ(f.name_of(70001), "alice");
    f.inner.users["bob"] = LocalAccount{70002, {"bob"}};
    f.write("v2 with bob\n");  // e.g. useradd rewrote /etc/passwd
    f.now += CachingAccounts::kRecheckMs - 1;  // the files are looked at every kRecheckMs
    EXPECT_FALSE(f.lookup("bob").uid);
    f.now += 1;
    EXPECT_EQ(f.lookup("bob").uid, 70002u);
    EXPECT_EQ(f.name_of(70002), "bob");
    EXPECT_EQ(f.inner.lookups, 2);
    // Removed (e.g. the NSS snapshot not there for a moment): a change as well.
    std::remove(f.watched.c_str());
    f.inner.users.erase("bob");
    f.now += CachingAccounts::kRecheckMs;
    EXPECT_FALSE(f.lookup("bob").uid);
}

TEST(CachingAccounts, FailedLookupsAreNotRemembered) {
    Fixture f;
    f.inner.users["ldapuser"] = LocalAccount{std::nullopt, {}, true};  // e.g. the directory is down
    EXPECT_TRUE(f.lookup("ldapuser").lookup_failed);
    f.inner.users["ldapuser"] = LocalAccount{80001, {"ldapuser", "jit-users"}};  // back
    EXPECT_EQ(f.lookup("ldapuser").uid, 80001u);
    EXPECT_EQ(f.inner.lookups, 2);
}

TEST(CachingAccounts, TtlZeroAsksEveryTime) {
    Fixture f;
    f.cache.configure(0, {f.watched});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(f.lookup("alice").uid, 70001u);
    EXPECT_EQ(f.inner.lookups, 3);
}

TEST(CachingAccounts, ConfigureForgetsAndAFloodOfNamesStaysBounded) {
    Fixture f;
    EXPECT_EQ(f.lookup("alice").uid, 70001u);
    f.cache.configure(5000, {f.watched});
    EXPECT_EQ(f.lookup("alice").uid, 70001u);
    EXPECT_EQ(f.inner.lookups, 2);
    for (std::size_t i = 0; i < 3 * CachingAccounts::kMaxEntries; ++i) {
        ++f.now;  // distinct ages: the oldest half goes
        EXPECT_FALSE(f.lookup("u" + std::to_string(i)).uid);
    }
    const auto before = f.inner.lookups;
    // The newest are still cached, the oldest are not.
    EXPECT_FALSE(f.lookup("u" + std::to_string(3 * CachingAccounts::kMaxEntries - 1)).uid);
    EXPECT_EQ(f.inner.lookups, before);
    EXPECT_FALSE(f.lookup("u0").uid);
    EXPECT_EQ(f.inner.lookups, before + 1);
}

TEST(CachingAccounts, AnAnswerAskedBeforeAForgetIsNotKept) {
    Fixture f;
    const auto generation = f.cache.generation();  // the question goes to a worker thread
    f.write("v2\n");                               // meanwhile /etc/passwd changes
    f.now += CachingAccounts::kRecheckMs;
    f.cache.remember("alice", f.inner.lookup("alice"), generation);
    EXPECT_FALSE(f.cache.cached_lookup("alice"));
    f.cache.remember("alice", f.inner.lookup("alice"), f.cache.generation());
    EXPECT_TRUE(f.cache.cached_lookup("alice"));
}
