#include <jit/helperd/state_store.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

#include "test_util.hpp"

using namespace jit::helperd;
using jit::test::Signer;
using jit::test::TempDir;

namespace {

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(StateStore, EmptyDirHasNothing) {
    TempDir t;
    StateStore s(t.path() + "/state");
    ASSERT_TRUE(s.prepare().ok());
    struct stat st{};
    ASSERT_EQ(stat((t.path() + "/state").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    auto r = s.load();
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_value());
}

TEST(StateStore, SaveLoadRoundTripExactBytes) {
    TempDir t;
    StateStore s(t.path());
    ASSERT_TRUE(s.prepare().ok());
    const std::string env = "{\"key_id\":\"k\",\n\"payload\":\"x\\u0000\"}\n\n";
    ASSERT_TRUE(s.save(StoredState{7, 1764250000, env}).ok());
    struct stat st{};
    ASSERT_EQ(stat(s.file().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    auto r = s.load();
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ((*r)->revision, 7);
    EXPECT_EQ((*r)->accepted_at, 1764250000);
    EXPECT_EQ((*r)->envelope, env);
    // Replacing keeps exactly one file and no temp files.
    ASSERT_TRUE(s.save(StoredState{8, 1764250100, "new"}).ok());
    int files = 0;
    for (auto& e : std::filesystem::directory_iterator(t.path())) (void)e, ++files;
    EXPECT_EQ(files, 1);
    EXPECT_EQ((*s.load())->revision, 8);
}

TEST(StateStore, TornTempFilesAreIgnoredAndRemoved) {
    TempDir t;
    StateStore s(t.path());
    ASSERT_TRUE(s.prepare().ok());
    ASSERT_TRUE(s.save(StoredState{3, 100, "old-envelope"}).ok());
    // A crash between write and rename leaves a temp file with partial content.
    const std::string temp = t.path() + "/.tmp.grants.state.AbC123";
    { std::ofstream(temp) << "jit-helperd-state 1\nrevision=4\nlen"; }
    auto r = s.load();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)->envelope, "old-envelope");
    ASSERT_TRUE(s.prepare().ok());
    EXPECT_FALSE(std::filesystem::exists(temp));
}

TEST(StateStore, TruncatedFileIsRefused) {
    TempDir t;
    StateStore s(t.path());
    ASSERT_TRUE(s.prepare().ok());
    ASSERT_TRUE(s.save(StoredState{3, 100, "0123456789"}).ok());
    std::string data = read_all(s.file());
    {
        std::ofstream out(s.file(), std::ios::binary | std::ios::trunc);
        out << data.substr(0, data.size() - 3);
    }
    auto r = s.load();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "state");
    EXPECT_NE(r.error().message.find("length"), std::string::npos);
}

TEST(StateStore, ReverifyAcceptsGoodAndRefusesBadSignature) {
    Signer signer, other;
    const std::string payload = jit::test::payload_json("web-01", 5, 1000, 2000, {{"g-1", "alice", true, false, 1000, 5000}});
    StoredState good{5, 1000, signer.envelope(payload)};
    auto ok = reverify_stored(good, signer.keys(), "web-01");
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(ok->payload.grants.size(), 1u);

    // Signed by an untrusted key under the trusted key id.
    StoredState forged{5, 1000, other.envelope(payload)};
    auto bad = reverify_stored(forged, signer.keys(), "web-01");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, "signature");

    // Another host's bundle.
    auto wrong_host = reverify_stored(good, signer.keys(), "web-02");
    ASSERT_FALSE(wrong_host.ok());
    EXPECT_EQ(wrong_host.error().code, "host_id");

    // Header revision edited on disk.
    StoredState edited{6, 1000, good.envelope};
    auto r = reverify_stored(edited, signer.keys(), "web-01");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "state");
}

TEST(StateStore, PrepareTightensTheDirectoryMode) {
    TempDir t;
    const std::string d = t.path() + "/s";
    ASSERT_EQ(mkdir(d.c_str(), 0777), 0);
    chmod(d.c_str(), 0777);
    ASSERT_TRUE(StateStore(d).prepare().ok());
    struct stat st{};
    ASSERT_EQ(stat(d.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0711u);  // traversal kept for nss.db, nothing else
    chmod(d.c_str(), 0750);
    ASSERT_TRUE(StateStore(d).prepare().ok());
    ASSERT_EQ(stat(d.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
}
