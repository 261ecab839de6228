// libnss_jit's entry points called the way glibc calls them, through dlopen:
// tiny buffers (ERANGE/TRYAGAIN, pointers inside the buffer), huge buffers,
// errno handling, enumeration, initgroups_dyn, and UNAVAIL without a snapshot.
#include "snapshot_writer.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <set>
#include <thread>
#include <vector>

namespace jit::nss {
namespace {

using test::TempDir;

using getpwnam_fn = enum nss_status (*)(const char*, struct passwd*, char*, size_t, int*);
using getpwuid_fn = enum nss_status (*)(uid_t, struct passwd*, char*, size_t, int*);
using getgrnam_fn = enum nss_status (*)(const char*, struct group*, char*, size_t, int*);
using getgrgid_fn = enum nss_status (*)(gid_t, struct group*, char*, size_t, int*);
using initgroups_fn = enum nss_status (*)(const char*, gid_t, long*, long*, gid_t**, long, int*);
using setent_fn = enum nss_status (*)(int);
using endent_fn = enum nss_status (*)();
using getpwent_fn = enum nss_status (*)(struct passwd*, char*, size_t, int*);
using getgrent_fn = enum nss_status (*)(struct group*, char*, size_t, int*);
using configure_fn = void (*)(const char*, uid_t);

struct Module {
    void* handle = nullptr;
    getpwnam_fn getpwnam;
    getpwuid_fn getpwuid;
    getgrnam_fn getgrnam;
    getgrgid_fn getgrgid;
    initgroups_fn initgroups;
    setent_fn setpwent, setgrent;
    endent_fn endpwent, endgrent;
    getpwent_fn getpwent;
    getgrent_fn getgrent;
    configure_fn configure;

    template <class F>
    void sym(F& f, const char* name) {
        f = reinterpret_cast<F>(::dlsym(handle, name));
        ASSERT_NE(f, nullptr) << name;
    }
    void load() {
        handle = ::dlopen(JIT_NSS_TEST_MODULE, RTLD_NOW | RTLD_LOCAL);
        ASSERT_NE(handle, nullptr) << ::dlerror();
        sym(getpwnam, "_nss_jit_getpwnam_r");
        sym(getpwuid, "_nss_jit_getpwuid_r");
        sym(getgrnam, "_nss_jit_getgrnam_r");
        sym(getgrgid, "_nss_jit_getgrgid_r");
        sym(initgroups, "_nss_jit_initgroups_dyn");
        sym(setpwent, "_nss_jit_setpwent");
        sym(setgrent, "_nss_jit_setgrent");
        sym(endpwent, "_nss_jit_endpwent");
        sym(endgrent, "_nss_jit_endgrent");
        sym(getpwent, "_nss_jit_getpwent_r");
        sym(getgrent, "_nss_jit_getgrent_r");
        sym(configure, "jit_nss_test_configure");
    }
};

Module& module() {
    static Module m;
    if (m.handle == nullptr) m.load();
    return m;
}

std::string snapshot(bool with_bob = true, std::string alice_shell = "/bin/bash") {
    std::vector<SnapUser> users = {
        {"alice", 70001, 70001, "Alice Liddell", "/home/alice", alice_shell, {4, 27, 100}},
        {"carol", 70003, 70003, std::string(3000, 'c'), "/home/carol", "/bin/sh", {}}};
    if (with_bob) users.push_back({"bob", 70002, 70002, "", "/home/bob", "/usr/sbin/nologin", {}});
    std::vector<SnapGroup> groups;
    for (const auto& u : users) groups.push_back({u.name, u.gid, {}});
    groups.push_back({"team", 90000, {"alice", "bob", "carol"}});
    return *encode_snapshot(users, groups);
}

bool inside(const void* p, const std::vector<char>& buf) {
    auto c = static_cast<const char*>(p);
    return c >= buf.data() && c < buf.data() + buf.size();
}

class ModuleTest : public ::testing::Test {
protected:
    TempDir dir;
    std::string path = dir / "nss.db";
    void SetUp() override {
        module();
        if (HasFatalFailure()) return;
        test::replace_file(path, snapshot());
        module().configure(path.c_str(), ::geteuid());
    }
    void TearDown() override { module().configure("/nonexistent/jit-nss-test.db", 0); }
};

TEST_F(ModuleTest, GetpwnamFillsEveryFieldInsideTheBuffer) {
    auto& m = module();
    struct passwd pw;
    std::vector<char> buf(1024);
    int err = 0;
    ASSERT_EQ(m.getpwnam("alice", &pw, buf.data(), buf.size(), &err), NSS_STATUS_SUCCESS);
    EXPECT_STREQ(pw.pw_name, "alice");
    EXPECT_STREQ(pw.pw_passwd, "*");
    EXPECT_EQ(pw.pw_uid, 70001u);
    EXPECT_EQ(pw.pw_gid, 70001u);
    EXPECT_STREQ(pw.pw_gecos, "Alice Liddell");
    EXPECT_STREQ(pw.pw_dir, "/home/alice");
    EXPECT_STREQ(pw.pw_shell, "/bin/bash");
    for (const char* p : {pw.pw_name, pw.pw_passwd, pw.pw_gecos, pw.pw_dir, pw.pw_shell}) EXPECT_TRUE(inside(p, buf));

    ASSERT_EQ(m.getpwuid(70002, &pw, buf.data(), buf.size(), &err), NSS_STATUS_SUCCESS);
    EXPECT_STREQ(pw.pw_name, "bob");
    EXPECT_STREQ(pw.pw_shell, "/usr/sbin/nologin");
}

TEST_F(ModuleTest, NotFoundAndNamesThatCannotBeOurs) {
    auto& m = module();
    struct passwd pw;
    struct group gr;
    char buf[512];
    int err = 0;
    EXPECT_EQ(m.getpwnam("mallory", &pw, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND);
    EXPECT_EQ(err, ENOENT);
    for (const char* name : {"", "Alice", "root@x", "a b", "-x", "1abc", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a/../b"}) {
        err = 0;
        EXPECT_EQ(m.getpwnam(name, &pw, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND) << name;
        EXPECT_EQ(m.getgrnam(name, &gr, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND) << name;
        EXPECT_EQ(err, ENOENT);
    }
    EXPECT_EQ(m.getpwuid(0, &pw, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND);
    EXPECT_EQ(m.getpwuid(999, &pw, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND);
    EXPECT_EQ(m.getpwuid(static_cast<uid_t>(-1), &pw, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND);
    EXPECT_EQ(m.getpwuid(70009, &pw, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND);
    EXPECT_EQ(m.getgrgid(4, &gr, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND);
}

TEST_F(ModuleTest, ErrnoIsPreservedWhenErrnopIsSeparate) {
    auto& m = module();
    struct passwd pw;
    char buf[512];
    int err = 0;
    errno = 1234;
    ASSERT_EQ(m.getpwnam("alice", &pw, buf, sizeof buf, &err), NSS_STATUS_SUCCESS);
    EXPECT_EQ(errno, 1234);
    EXPECT_EQ(err, 0);  // untouched on success
    errno = 1234;
    ASSERT_EQ(m.getpwnam("nobody_here", &pw, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND);
    EXPECT_EQ(errno, 1234);
    module().configure((dir / "missing.db").c_str(), ::geteuid());
    errno = 1234;
    EXPECT_EQ(m.getpwnam("alice", &pw, buf, sizeof buf, &err), NSS_STATUS_UNAVAIL);
    EXPECT_EQ(errno, 1234);
    EXPECT_EQ(err, ENOENT);
}

// Every buffer size from 0 up: either ERANGE/TRYAGAIN with nothing returned,
// or success with every pointer inside the buffer.
TEST_F(ModuleTest, EveryBufferSizeIsEitherErangeOrComplete) {
    auto& m = module();
    bool ok_seen = false;
    for (std::size_t size = 0; size < 200; size++) {
        std::vector<char> buf(size + 1);
        struct passwd pw {};
        int err = 0;
        auto st = m.getpwnam("alice", &pw, buf.data(), size, &err);
        if (st == NSS_STATUS_TRYAGAIN) {
            EXPECT_EQ(err, ERANGE) << size;
            EXPECT_FALSE(ok_seen) << "shrank back to ERANGE at " << size;
            continue;
        }
        ASSERT_EQ(st, NSS_STATUS_SUCCESS) << size;
        ok_seen = true;
        for (const char* p : {pw.pw_name, pw.pw_passwd, pw.pw_gecos, pw.pw_dir, pw.pw_shell})
            ASSERT_TRUE(p >= buf.data() && p + std::strlen(p) < buf.data() + size) << size;
    }
    EXPECT_TRUE(ok_seen);
    for (std::size_t size = 0; size < 400; size++) {
        std::vector<char> buf(size + 1);
        struct group gr {};
        int err = 0;
        auto st = m.getgrnam("team", &gr, buf.data(), size, &err);
        if (st == NSS_STATUS_TRYAGAIN) {
            EXPECT_EQ(err, ERANGE);
            continue;
        }
        ASSERT_EQ(st, NSS_STATUS_SUCCESS) << size;
        const char* end = buf.data() + size;
        ASSERT_TRUE(reinterpret_cast<char*>(gr.gr_mem) >= buf.data() && reinterpret_cast<char*>(gr.gr_mem + 4) <= end);
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(gr.gr_mem) % alignof(char*), 0u);
        std::vector<std::string> members;
        for (char** p = gr.gr_mem; *p != nullptr; p++) {
            ASSERT_TRUE(*p >= buf.data() && *p + std::strlen(*p) < end);
            members.emplace_back(*p);
        }
        EXPECT_EQ(members, (std::vector<std::string>{"alice", "bob", "carol"}));
        EXPECT_TRUE(gr.gr_name >= buf.data() && gr.gr_name < end);
    }
}

TEST_F(ModuleTest, HugeBuffersAndLongFields) {
    auto& m = module();
    std::vector<char> buf(64 * 1024 * 1024);
    struct passwd pw;
    int err = 0;
    ASSERT_EQ(m.getpwnam("carol", &pw, buf.data(), buf.size(), &err), NSS_STATUS_SUCCESS);
    EXPECT_EQ(std::string(pw.pw_gecos), std::string(3000, 'c'));
    std::vector<char> small(1000);
    EXPECT_EQ(m.getpwnam("carol", &pw, small.data(), small.size(), &err), NSS_STATUS_TRYAGAIN);
    EXPECT_EQ(err, ERANGE);
}

TEST_F(ModuleTest, GroupsByNameAndGid) {
    auto& m = module();
    struct group gr;
    char buf[1024];
    int err = 0;
    ASSERT_EQ(m.getgrnam("alice", &gr, buf, sizeof buf, &err), NSS_STATUS_SUCCESS);
    EXPECT_EQ(gr.gr_gid, 70001u);
    EXPECT_STREQ(gr.gr_passwd, "*");
    EXPECT_EQ(gr.gr_mem[0], nullptr);
    ASSERT_EQ(m.getgrgid(90000, &gr, buf, sizeof buf, &err), NSS_STATUS_SUCCESS);
    EXPECT_STREQ(gr.gr_name, "team");
    EXPECT_EQ(m.getgrnam("adm", &gr, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND);
}

TEST_F(ModuleTest, InitgroupsAddsWindowGroupsWithinLimits) {
    auto& m = module();
    int err = 0;
    long start = 1, size = 1;
    gid_t* groups = static_cast<gid_t*>(std::malloc(sizeof(gid_t)));
    groups[0] = 70001;  // glibc puts the primary group first
    ASSERT_EQ(m.initgroups("alice", 70001, &start, &size, &groups, 0, &err), NSS_STATUS_SUCCESS);
    EXPECT_EQ(std::vector<gid_t>(groups, groups + start), (std::vector<gid_t>{70001, 4, 27, 100}));
    EXPECT_GE(size, start);
    // Already present: not duplicated; primary skipped.
    ASSERT_EQ(m.initgroups("alice", 4, &start, &size, &groups, 0, &err), NSS_STATUS_SUCCESS);
    EXPECT_EQ(start, 4);
    std::free(groups);

    // With a limit, glibc's array never grows beyond it.
    start = 1;
    size = 1;
    groups = static_cast<gid_t*>(std::malloc(sizeof(gid_t)));
    groups[0] = 70001;
    ASSERT_EQ(m.initgroups("alice", 70001, &start, &size, &groups, 2, &err), NSS_STATUS_SUCCESS);
    EXPECT_EQ(start, 2);
    EXPECT_LE(size, 2);
    std::free(groups);

    start = 0;
    size = 0;
    groups = nullptr;
    EXPECT_EQ(m.initgroups("root", 0, &start, &size, &groups, 0, &err), NSS_STATUS_NOTFOUND);
    EXPECT_EQ(m.initgroups("bob", 70002, &start, &size, &groups, 0, &err), NSS_STATUS_SUCCESS);
    EXPECT_EQ(start, 0);
    std::free(groups);
}

TEST_F(ModuleTest, EnumerationIsStableAndPinnedToItsSnapshot) {
    auto& m = module();
    struct passwd pw;
    std::vector<char> buf(4096);
    int err = 0;
    ASSERT_EQ(m.setpwent(0), NSS_STATUS_SUCCESS);
    std::vector<std::string> names;
    ASSERT_EQ(m.getpwent(&pw, buf.data(), buf.size(), &err), NSS_STATUS_SUCCESS);
    names.emplace_back(pw.pw_name);
    // A republish in the middle does not disturb the running enumeration.
    test::replace_file(path, snapshot(false));
    // A too-small buffer does not skip the entry.
    char tiny[4];
    EXPECT_EQ(m.getpwent(&pw, tiny, sizeof tiny, &err), NSS_STATUS_TRYAGAIN);
    EXPECT_EQ(err, ERANGE);
    while (m.getpwent(&pw, buf.data(), buf.size(), &err) == NSS_STATUS_SUCCESS) names.emplace_back(pw.pw_name);
    EXPECT_EQ(err, ENOENT);
    EXPECT_EQ(names, (std::vector<std::string>{"alice", "bob", "carol"}));
    m.endpwent();
    // The next enumeration sees the new snapshot.
    names.clear();
    m.setpwent(0);
    while (m.getpwent(&pw, buf.data(), buf.size(), &err) == NSS_STATUS_SUCCESS) names.emplace_back(pw.pw_name);
    m.endpwent();
    EXPECT_EQ(names, (std::vector<std::string>{"alice", "carol"}));

    struct group gr;
    std::vector<std::string> groups;
    m.setgrent(0);
    while (m.getgrent(&gr, buf.data(), buf.size(), &err) == NSS_STATUS_SUCCESS) groups.emplace_back(gr.gr_name);
    m.endgrent();
    EXPECT_EQ(groups, (std::vector<std::string>{"alice", "carol", "team"}));
}

TEST_F(ModuleTest, MissingOrCorruptSnapshotIsUnavailable) {
    auto& m = module();
    struct passwd pw;
    struct group gr;
    char buf[1024];
    int err = 0;
    test::replace_file(path, "garbage");
    EXPECT_EQ(m.getpwnam("alice", &pw, buf, sizeof buf, &err), NSS_STATUS_UNAVAIL);
    EXPECT_EQ(err, ENOENT);
    EXPECT_EQ(m.getgrgid(70001, &gr, buf, sizeof buf, &err), NSS_STATUS_UNAVAIL);
    EXPECT_EQ(m.setpwent(0), NSS_STATUS_UNAVAIL);
    EXPECT_EQ(m.getpwent(&pw, buf, sizeof buf, &err), NSS_STATUS_UNAVAIL);
    m.endpwent();
    ::unlink(path.c_str());
    EXPECT_EQ(m.getpwnam("alice", &pw, buf, sizeof buf, &err), NSS_STATUS_UNAVAIL);
    test::replace_file(path, snapshot(), 0666);  // world-writable: untrusted
    EXPECT_EQ(m.getpwnam("alice", &pw, buf, sizeof buf, &err), NSS_STATUS_UNAVAIL);
    test::replace_file(path, snapshot());
    EXPECT_EQ(m.getpwnam("alice", &pw, buf, sizeof buf, &err), NSS_STATUS_SUCCESS);
}

TEST_F(ModuleTest, ReplacementIsSeenOnTheNextCall) {
    auto& m = module();
    struct passwd pw;
    char buf[1024];
    int err = 0;
    ASSERT_EQ(m.getpwnam("bob", &pw, buf, sizeof buf, &err), NSS_STATUS_SUCCESS);
    test::replace_file(path, snapshot(false, "/bin/zsh"));
    EXPECT_EQ(m.getpwnam("bob", &pw, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND);
    ASSERT_EQ(m.getpwnam("alice", &pw, buf, sizeof buf, &err), NSS_STATUS_SUCCESS);
    EXPECT_STREQ(pw.pw_shell, "/bin/zsh");
}

TEST_F(ModuleTest, ThreadsLookUpWhileTheSnapshotIsRepublished) {
    auto& m = module();
    const auto a = snapshot(true, "/bin/bash");
    const auto b = snapshot(true, "/bin/zsh");
    std::atomic<bool> stop{false};
    std::atomic<long> calls{0}, wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([&] {
            std::vector<char> buf(256);
            while (!stop.load()) {
                struct passwd pw;
                int err = 0;
                auto st = m.getpwnam("alice", &pw, buf.data(), buf.size(), &err);
                if (st != NSS_STATUS_SUCCESS || pw.pw_uid != 70001 ||
                    (std::string(pw.pw_shell) != "/bin/bash" && std::string(pw.pw_shell) != "/bin/zsh"))
                    wrong++;
                st = m.getpwuid(70002, &pw, buf.data(), buf.size(), &err);
                if (st != NSS_STATUS_SUCCESS || std::string(pw.pw_name) != "bob") wrong++;
                calls++;
            }
        });
    }
    for (int i = 0; i < 300; i++) test::replace_file(path, i % 2 ? a : b);
    while (calls.load() < 2000) std::this_thread::yield();
    stop = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace jit::nss
