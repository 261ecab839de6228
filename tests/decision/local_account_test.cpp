// jit::lookup_local_account and friends (policy/local/) through real NSS, with
// cwrap's nss_wrapper serving passwd/group files this test writes (LD_PRELOAD
// and NSS_WRAPPER_* are set by ctest; without them the test skips): entries
// far larger than any first buffer are read whole, nothing is dropped.
#include <jit/local_account.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace {

class LocalAccount : public ::testing::Test {
protected:
    void SetUp() override {
        passwd_ = std::getenv("NSS_WRAPPER_PASSWD") ? std::getenv("NSS_WRAPPER_PASSWD") : "";
        group_ = std::getenv("NSS_WRAPPER_GROUP") ? std::getenv("NSS_WRAPPER_GROUP") : "";
        if (passwd_.empty() || group_.empty()) GTEST_SKIP() << "run through ctest (nss_wrapper)";
        std::string members;  // ~200 KiB of members: far beyond the first 16 KiB buffer
        for (int i = 0; i < 20000; ++i) members += "member" + std::to_string(i) + ",";
        members += "bigstaff";
        std::ofstream(passwd_) << "root:x:0:0:root:/root:/bin/sh\n"
                               << "bigstaff:*:64600:64600:" << std::string(40000, 'g') << ":/nonexistent:/bin/sh\n"
                               << "plain:*:64601:64601::/nonexistent:/bin/sh\n";
        std::ofstream(group_) << "root:x:0:\n"
                              << "bigstaff:x:64600:\n"
                              << "plain:x:64601:\n"
                              << "jitusers:x:64700:" << members << "\n";
    }
    std::string passwd_, group_;
};

TEST_F(LocalAccount, LongEntriesAndBigGroupsAreReadWhole) {
    const jit::LocalAccount a = jit::lookup_local_account("bigstaff");
    ASSERT_TRUE(a.uid.has_value());
    EXPECT_EQ(*a.uid, 64600u);
    EXPECT_FALSE(a.lookup_failed);
    EXPECT_NE(std::find(a.groups.begin(), a.groups.end(), "jitusers"), a.groups.end())
        << "a managed group with a long member list must not be dropped";
    bool failed = true;
    EXPECT_EQ(jit::gid_of_group("jitusers", &failed), std::optional<gid_t>(64700));
    EXPECT_FALSE(failed);
    EXPECT_EQ(jit::user_name_of(64600), std::optional<std::string>("bigstaff"));
}

TEST_F(LocalAccount, UnknownIsNotAFailure) {
    const jit::LocalAccount a = jit::lookup_local_account("nobody-here");
    EXPECT_FALSE(a.uid.has_value());
    EXPECT_FALSE(a.lookup_failed);
    bool failed = true;
    EXPECT_EQ(jit::gid_of_group("no-such-group", &failed), std::nullopt);
    EXPECT_FALSE(failed);
    const jit::LocalAccount p = jit::lookup_local_account("plain");
    EXPECT_EQ(p.groups, std::vector<std::string>{"plain"});
}

}  // namespace
