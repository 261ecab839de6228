// jit::durable::write_file_durably, with failures injected at each step: this
// binary defines write, fsync and rename itself, so the library's calls reach
// these wrappers (the executable's definitions come before libc's) and a test
// can make one of them fail.
#include <jit/durable_file.hpp>

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <set>

#include "test_util.hpp"

namespace fault {
long write_budget = -1;  // bytes regular-file writes may still put down; then ENOSPC (-1: no limit)
int file_fsync_errno = 0;
int dir_fsync_errno = 0;
int rename_errno = 0;
int fsyncs = 0;

void reset() {
    write_budget = -1;
    file_fsync_errno = dir_fsync_errno = rename_errno = 0;
    fsyncs = 0;
}

bool is(int fd, mode_t type) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type;
}
}  // namespace fault

extern "C" ssize_t write(int fd, const void* buf, size_t n) {
    if (fault::write_budget >= 0 && fault::is(fd, S_IFREG)) {
        if (fault::write_budget == 0) {
            errno = ENOSPC;
            return -1;
        }
        n = std::min<size_t>(n, static_cast<size_t>(fault::write_budget));
        fault::write_budget -= static_cast<long>(n);
    }
    return ::syscall(SYS_write, fd, buf, n);
}

extern "C" int fsync(int fd) {
    ++fault::fsyncs;
    const int fail = fault::is(fd, S_IFDIR) ? fault::dir_fsync_errno : fault::file_fsync_errno;
    if (fail) {
        errno = fail;
        return -1;
    }
    return static_cast<int>(::syscall(SYS_fsync, fd));
}

extern "C" int rename(const char* from, const char* to) noexcept {
    if (fault::rename_errno) {
        errno = fault::rename_errno;
        return -1;
    }
    return ::renameat(AT_FDCWD, from, AT_FDCWD, to);
}

namespace {

using jit::durable::write_file_durably;
using jit::durable::WriteOptions;
using jit::test::TempDir;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::set<std::string> entries(const std::string& dir) {
    std::set<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    while (dirent* e = d ? ::readdir(d) : nullptr) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") out.insert(n);
    }
    if (d) ::closedir(d);
    return out;
}

class DurableFile : public ::testing::Test {
protected:
    void SetUp() override {
        fault::reset();
        path = dir.path() + "/state";
        ASSERT_TRUE(write_file_durably(path, "old").ok());
    }
    void TearDown() override { fault::reset(); }

    // The failed write left the old file as it was and no temporary file.
    void expect_untouched() {
        fault::reset();
        EXPECT_EQ(slurp(path), "old");
        EXPECT_EQ(entries(dir.path()), std::set<std::string>{"state"});
    }

    TempDir dir;
    std::string path;
};

TEST_F(DurableFile, ReplacesWithModeAndSyncsFileAndDirectory) {
    fault::fsyncs = 0;
    ASSERT_TRUE(write_file_durably(path, "new", {.mode = 0640}).ok());
    EXPECT_EQ(slurp(path), "new");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(fault::fsyncs, 2);  // the file, then the directory
    EXPECT_EQ(entries(dir.path()), std::set<std::string>{"state"});
}

TEST_F(DurableFile, WithoutSyncNothingIsFsyncedButTheSwapIsAtomic) {
    fault::fsyncs = 0;
    ASSERT_TRUE(write_file_durably(path, "new", {.sync = false}).ok());
    EXPECT_EQ(slurp(path), "new");
    EXPECT_EQ(fault::fsyncs, 0);
}

TEST_F(DurableFile, ModeAndOwnerAreSetBeforeTheRename) {
    struct stat seen {};
    std::string temp;
    WriteOptions o{.mode = 0440, .owner_root = ::geteuid() == 0};
    o.check = [&](const std::string& t) -> jit::Status {
        temp = t;
        EXPECT_EQ(::stat(t.c_str(), &seen), 0);
        EXPECT_EQ(slurp(t), "checked");
        return jit::Ok{};
    };
    ASSERT_TRUE(write_file_durably(path, "checked", o).ok());
    EXPECT_EQ(seen.st_mode & 07777, 0440u);
    if (::geteuid() == 0) {
        EXPECT_EQ(seen.st_uid, 0u);
    }
    EXPECT_EQ(temp.rfind(dir.path() + "/.tmp.state.", 0), 0u) << temp;
    EXPECT_TRUE(jit::durable::is_temp_file_name(temp.substr(dir.path().size() + 1)));
    EXPECT_EQ(slurp(path), "checked");
}

TEST_F(DurableFile, RefusedByTheCheckKeepsTheOldFile) {
    WriteOptions o;
    o.check = [](const std::string&) -> jit::Status { return jit::make_error("sudoers.invalid", "line 7"); };
    auto st = write_file_durably(path, "bad", o);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, "sudoers.invalid");
    expect_untouched();
}

TEST_F(DurableFile, FullDiskMidWriteLeavesNoPartialFile) {
    fault::write_budget = 4;  // "0123" fits, then ENOSPC
    auto st = write_file_durably(path, "0123456789");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, "io");
    EXPECT_NE(st.error().message.find("cannot write " + dir.path() + "/.tmp.state."), std::string::npos)
        << st.error().message;
    EXPECT_NE(st.error().message.find(std::strerror(ENOSPC)), std::string::npos) << st.error().message;
    expect_untouched();
}

TEST_F(DurableFile, FailedFileFsyncLeavesNoPartialFile) {
    fault::file_fsync_errno = EIO;
    auto st = write_file_durably(path, "new");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("cannot fsync " + dir.path() + "/.tmp.state."), std::string::npos)
        << st.error().message;
    expect_untouched();
}

TEST_F(DurableFile, FailedRenameLeavesNoTemporaryFile) {
    fault::rename_errno = EXDEV;
    auto st = write_file_durably(path, "new");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("over " + path + ": "), std::string::npos) << st.error().message;
    expect_untouched();
}

TEST_F(DurableFile, FailedDirectoryFsyncIsReported) {
    fault::dir_fsync_errno = EIO;
    auto st = write_file_durably(path, "new");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().message, "cannot fsync directory " + dir.path() + ": " + std::strerror(EIO));
    fault::reset();
    // The rename happened: the new file is in place, only its durability is in doubt.
    EXPECT_EQ(slurp(path), "new");
    EXPECT_EQ(entries(dir.path()), std::set<std::string>{"state"});
}

TEST_F(DurableFile, MissingOrNonDirectoryParentIsNamed) {
    auto missing = write_file_durably(dir.path() + "/missing/f", "x");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find("in " + dir.path() + "/missing for"), std::string::npos)
        << missing.error().message;
    auto not_dir = write_file_durably(path + "/f", "x");
    ASSERT_FALSE(not_dir.ok());
    EXPECT_NE(not_dir.error().message.find(std::strerror(ENOTDIR)), std::string::npos) << not_dir.error().message;
    expect_untouched();
}

TEST_F(DurableFile, LeftoversOfOneFileAreRemovedOthersKept) {
    const std::set<std::string> others = {".tmp.statefile.AbC123", ".tmp.state.too-long", "state.tmp", "other"};
    for (const auto& n : others) std::ofstream(dir.path() + "/" + n) << "x";
    std::ofstream(dir.path() + "/.tmp.state.AbC123") << "torn";
    jit::durable::remove_temp_files(path);
    std::set<std::string> want = others;
    want.insert("state");
    EXPECT_EQ(entries(dir.path()), want);
}

}  // namespace
