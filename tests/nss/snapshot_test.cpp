// The snapshot format end to end: the C++ writer encodes, the C reader
// validates and looks up; every corruption is detected, never answered.
#include "snapshot_reader.h"
#include "snapshot_format.h"
#include "snapshot_writer.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

namespace jit::nss {
namespace {

using test::TempDir;

std::vector<SnapUser> sample_users(std::size_t n = 3) {
    std::vector<SnapUser> users;
    users.push_back({"alice", 70001, 70001, "Alice Liddell", "/home/alice", "/bin/bash", {4, 27}});
    users.push_back({"bob", 70002, 70002, "", "/home/bob", "/usr/sbin/nologin", {}});
    users.push_back({"carol_x-1", 5000, 5000, "Carol, Room 1", "/home/carol_x-1", "/bin/zsh", {100}});
    for (std::size_t i = 3; i < n; i++) {
        auto name = "u" + std::to_string(i);
        users.push_back({name, static_cast<std::uint32_t>(100000 + i), static_cast<std::uint32_t>(100000 + i), "",
                         "/home/" + name, "/bin/sh", {}});
    }
    return users;
}

std::vector<SnapGroup> groups_for(const std::vector<SnapUser>& users) {
    std::vector<SnapGroup> groups;
    for (const auto& u : users) groups.push_back({u.name, u.gid, {}});
    groups.push_back({"projx", 90000, {"alice", "bob"}});
    return groups;
}

std::string encode(std::size_t n = 3) {
    auto users = sample_users(n);
    auto bytes = encode_snapshot(users, groups_for(users));
    EXPECT_TRUE(bytes.ok()) << (bytes ? "" : bytes.error().message);
    return bytes ? *bytes : std::string();
}

jit_nss_header header_of(const std::string& b) {
    jit_nss_header h;
    std::memcpy(&h, b.data(), sizeof h);
    return h;
}

void put_header(std::string& b, jit_nss_header h, bool fix_checksum = true) {
    if (fix_checksum) h.header_checksum = jit_nss_hash(&h, offsetof(jit_nss_header, header_checksum));
    std::memcpy(b.data(), &h, sizeof h);
}

int load(const std::string& b, jit_snap& s) { return jit_snap_from_memory(b.data(), b.size(), &s); }

// Every lookup on a damaged snapshot either fails or (for parts the damage
// did not touch) returns the original data: never something else.
void expect_no_wrong_answer(const std::string& bytes) {
    jit_snap s;
    if (load(bytes, s) != JIT_SNAP_OK) return;
    for (const auto& u : sample_users()) {
        jit_pw_view v;
        int rc = jit_snap_user_by_name(&s, u.name.c_str(), &v);
        if (rc == JIT_SNAP_OK) {
            EXPECT_EQ(v.uid, u.uid);
            EXPECT_EQ(std::string(v.name), u.name);
            EXPECT_EQ(std::string(v.dir), u.home);
            EXPECT_EQ(std::string(v.shell), u.shell);
            EXPECT_EQ(std::string(v.gecos), u.gecos);
        }
        rc = jit_snap_user_by_uid(&s, u.uid, &v);
        if (rc == JIT_SNAP_OK) {
            EXPECT_EQ(std::string(v.name), u.name);
        }
    }
    for (std::uint32_t i = 0; i < 8; i++) {
        jit_pw_view v;
        jit_gr_view g;
        (void)jit_snap_user_at(&s, i, &v);
        (void)jit_snap_group_at(&s, i, &g);
    }
}

TEST(Snapshot, RoundTripsUsersAndGroups) {
    auto bytes = encode();
    jit_snap s;
    ASSERT_EQ(load(bytes, s), JIT_SNAP_OK);
    EXPECT_EQ(s.user_count, 3u);

    jit_pw_view v;
    ASSERT_EQ(jit_snap_user_by_name(&s, "alice", &v), JIT_SNAP_OK);
    EXPECT_EQ(v.uid, 70001u);
    EXPECT_EQ(v.gid, 70001u);
    EXPECT_STREQ(v.gecos, "Alice Liddell");
    EXPECT_STREQ(v.dir, "/home/alice");
    EXPECT_STREQ(v.shell, "/bin/bash");
    ASSERT_EQ(v.ngroups, 2u);
    EXPECT_EQ(jit_pw_group(&v, 0), 4u);
    EXPECT_EQ(jit_pw_group(&v, 1), 27u);

    ASSERT_EQ(jit_snap_user_by_uid(&s, 5000, &v), JIT_SNAP_OK);
    EXPECT_STREQ(v.name, "carol_x-1");
    EXPECT_EQ(jit_snap_user_by_uid(&s, 70003, &v), JIT_SNAP_NOTFOUND);
    EXPECT_EQ(jit_snap_user_by_name(&s, "mallory", &v), JIT_SNAP_NOTFOUND);
    EXPECT_EQ(jit_snap_user_by_name(&s, "Alice", &v), JIT_SNAP_NOTFOUND);
    EXPECT_EQ(jit_snap_user_by_name(&s, "alic", &v), JIT_SNAP_NOTFOUND);

    jit_gr_view g;
    ASSERT_EQ(jit_snap_group_by_name(&s, "projx", &g), JIT_SNAP_OK);
    EXPECT_EQ(g.gid, 90000u);
    ASSERT_EQ(g.nmembers, 2u);
    std::size_t len;
    EXPECT_STREQ(jit_gr_member(&g, 0, &len), "alice");
    EXPECT_STREQ(jit_gr_member(&g, 1, &len), "bob");
    ASSERT_EQ(jit_snap_group_by_gid(&s, 70002, &g), JIT_SNAP_OK);
    EXPECT_STREQ(g.name, "bob");
    EXPECT_EQ(g.nmembers, 0u);
    EXPECT_EQ(jit_snap_group_by_name(&s, "adm", &g), JIT_SNAP_NOTFOUND);
}

TEST(Snapshot, EnumeratesInUidOrder) {
    auto bytes = encode();
    jit_snap s;
    ASSERT_EQ(load(bytes, s), JIT_SNAP_OK);
    std::vector<std::string> names;
    jit_pw_view v;
    for (std::uint32_t i = 0; jit_snap_user_at(&s, i, &v) == JIT_SNAP_OK; i++) names.emplace_back(v.name);
    EXPECT_EQ(names, (std::vector<std::string>{"carol_x-1", "alice", "bob"}));
    EXPECT_EQ(jit_snap_user_at(&s, 3, &v), JIT_SNAP_NOTFOUND);
}

TEST(Snapshot, EmptySnapshotIsValid) {
    auto bytes = encode_snapshot({}, {});
    ASSERT_TRUE(bytes.ok());
    jit_snap s;
    ASSERT_EQ(load(*bytes, s), JIT_SNAP_OK);
    jit_pw_view v;
    EXPECT_EQ(jit_snap_user_by_name(&s, "alice", &v), JIT_SNAP_NOTFOUND);
    EXPECT_EQ(jit_snap_user_by_uid(&s, 70001, &v), JIT_SNAP_NOTFOUND);
    EXPECT_EQ(jit_snap_user_at(&s, 0, &v), JIT_SNAP_NOTFOUND);
}

TEST(Snapshot, ManyUsersAllFoundByNameAndUid) {
    auto bytes = encode(5000);
    jit_snap s;
    ASSERT_EQ(load(bytes, s), JIT_SNAP_OK);
    for (std::size_t i = 3; i < 5000; i++) {
        jit_pw_view v;
        const auto name = "u" + std::to_string(i);
        ASSERT_EQ(jit_snap_user_by_name(&s, name.c_str(), &v), JIT_SNAP_OK) << name;
        ASSERT_EQ(v.uid, 100000 + i);
        ASSERT_EQ(jit_snap_user_by_uid(&s, static_cast<std::uint32_t>(100000 + i), &v), JIT_SNAP_OK);
        ASSERT_EQ(std::string(v.name), name);
    }
}

TEST(SnapshotWriter, RejectsWhatTheReaderWouldRefuse) {
    auto users = sample_users();
    auto bad = users;
    bad[0].name = "Root";
    EXPECT_FALSE(encode_snapshot(bad, {}).ok());
    bad = users;
    bad[1].uid = bad[0].uid;
    EXPECT_FALSE(encode_snapshot(bad, {}).ok());
    bad = users;
    bad[0].gecos = "a:b";
    EXPECT_FALSE(encode_snapshot(bad, {}).ok());
    bad = users;
    bad[0].shell = std::string("/bin/sh\0x", 9);
    EXPECT_FALSE(encode_snapshot(bad, {}).ok());
    bad = users;
    bad[0].uid = 999;
    EXPECT_FALSE(encode_snapshot(bad, {}).ok());
    bad = users;
    bad[2].name = "alice";
    EXPECT_FALSE(encode_snapshot(bad, {}).ok());
    EXPECT_FALSE(encode_snapshot(users, {{"g", 90000, {"Bad Name"}}}).ok());
}

TEST(SnapshotCorruption, BadMagicVersionSizeAndChecksum) {
    const auto good = encode();
    jit_snap s;
    auto b = good;
    b[0] = 'X';
    EXPECT_EQ(load(b, s), JIT_SNAP_CORRUPT);

    auto h = header_of(good);
    b = good;
    h.version = 2;
    put_header(b, h);
    EXPECT_EQ(load(b, s), JIT_SNAP_CORRUPT);

    h = header_of(good);
    b = good;
    h.header_size = 64;
    put_header(b, h);
    EXPECT_EQ(load(b, s), JIT_SNAP_CORRUPT);

    h = header_of(good);
    b = good;
    h.user_count += 1;
    put_header(b, h, false);  // checksum no longer matches
    EXPECT_EQ(load(b, s), JIT_SNAP_CORRUPT);

    b = good + std::string(8, '\0');  // trailing bytes: size differs from file_size
    EXPECT_EQ(load(b, s), JIT_SNAP_CORRUPT);
    EXPECT_EQ(jit_snap_from_memory(good.data(), 0, &s), JIT_SNAP_UNAVAIL);
    EXPECT_EQ(jit_snap_from_memory(nullptr, 128, &s), JIT_SNAP_UNAVAIL);
}

// A file cut anywhere (header, each section, mid-record) is refused.
TEST(SnapshotCorruption, TruncationAtEverySectionIsRefused) {
    const auto good = encode();
    const auto h = header_of(good);
    std::vector<std::size_t> cuts = {0, 1, 7, 64, 127, 128};
    for (const auto* sec : {&h.user_records, &h.user_offsets, &h.user_ids, &h.user_hash, &h.group_records,
                            &h.group_offsets, &h.group_ids, &h.group_hash}) {
        cuts.push_back(sec->off);
        cuts.push_back(sec->off + sec->size / 2);
        if (sec->size > 0) cuts.push_back(sec->off + sec->size - 1);
    }
    cuts.push_back(good.size() - 1);
    for (std::size_t cut : cuts) {
        ASSERT_LT(cut, good.size());
        jit_snap s;
        EXPECT_NE(jit_snap_from_memory(good.data(), cut, &s), JIT_SNAP_OK) << "cut at " << cut;
    }
}

// Re-checksummed headers with sections pointing outside the file, misaligned
// or with sizes that disagree with the counts.
TEST(SnapshotCorruption, OffsetsOutOfBoundsAreRefused) {
    const auto good = encode();
    auto mutate = [&](auto fn) {
        auto b = good;
        auto h = header_of(good);
        fn(h);
        put_header(b, h);
        jit_snap s;
        return load(b, s);
    };
    const auto size = static_cast<std::uint32_t>(good.size());
    EXPECT_EQ(mutate([&](jit_nss_header& h) { h.user_records.off = size; }), JIT_SNAP_CORRUPT);
    EXPECT_EQ(mutate([&](jit_nss_header& h) { h.user_records.size = size; }), JIT_SNAP_CORRUPT);
    EXPECT_EQ(mutate([&](jit_nss_header& h) { h.user_hash.off = 0xfffffff8u; }), JIT_SNAP_CORRUPT);
    EXPECT_EQ(mutate([&](jit_nss_header& h) { h.user_ids.off += 4; }), JIT_SNAP_CORRUPT);  // misaligned
    EXPECT_EQ(mutate([&](jit_nss_header& h) { h.group_offsets.off = 0; }), JIT_SNAP_CORRUPT);  // inside header
    EXPECT_EQ(mutate([&](jit_nss_header& h) { h.user_offsets.size -= 4; }), JIT_SNAP_CORRUPT);
    EXPECT_EQ(mutate([&](jit_nss_header& h) { h.user_hash_slots = 12; }), JIT_SNAP_CORRUPT);  // not 2^n
    EXPECT_EQ(mutate([&](jit_nss_header& h) { h.user_count = 0x7fffffffu; }), JIT_SNAP_CORRUPT);
    EXPECT_EQ(mutate([&](jit_nss_header& h) { h.file_size = 1; }), JIT_SNAP_CORRUPT);
}

// Record-level damage (offset tables, records, strings): found when read.
TEST(SnapshotCorruption, DamagedRecordsAndIndexesAreNeverAnswered) {
    const auto good = encode();
    const auto h = header_of(good);
    auto at = [&](std::string b, std::size_t pos, std::uint32_t value) {
        std::memcpy(b.data() + pos, &value, 4);
        return b;
    };
    jit_snap s;
    jit_pw_view v;
    // Offset of a user record pointing past its section.
    auto b = at(good, h.user_offsets.off, h.user_records.size + 8);
    ASSERT_EQ(load(b, s), JIT_SNAP_OK);
    EXPECT_EQ(jit_snap_user_at(&s, 0, &v), JIT_SNAP_CORRUPT);
    EXPECT_EQ(jit_snap_user_by_uid(&s, 5000, &v), JIT_SNAP_CORRUPT);
    // Misaligned record offset.
    b = at(good, h.user_offsets.off, 4);
    ASSERT_EQ(load(b, s), JIT_SNAP_OK);
    EXPECT_EQ(jit_snap_user_at(&s, 0, &v), JIT_SNAP_CORRUPT);
    // Hash slot pointing at a nonexistent index.
    b = good;
    for (std::uint32_t i = 0; i < h.user_hash_slots; i++) {
        std::uint32_t slot;
        std::memcpy(&slot, good.data() + h.user_hash.off + 4 * i, 4);
        if (slot != 0) b = at(b, h.user_hash.off + 4 * i, 77);
    }
    ASSERT_EQ(load(b, s), JIT_SNAP_OK);
    EXPECT_EQ(jit_snap_user_by_name(&s, "alice", &v), JIT_SNAP_CORRUPT);
    // A full hash table with no empty slot must not loop forever.
    b = good;
    for (std::uint32_t i = 0; i < h.user_hash_slots; i++) b = at(b, h.user_hash.off + 4 * i, 1);
    ASSERT_EQ(load(b, s), JIT_SNAP_OK);
    EXPECT_NE(jit_snap_user_by_name(&s, "nobody_here", &v), JIT_SNAP_OK);
    // uid index that disagrees with the record.
    b = at(good, h.user_ids.off, 4999);
    ASSERT_EQ(load(b, s), JIT_SNAP_OK);
    EXPECT_EQ(jit_snap_user_by_uid(&s, 4999, &v), JIT_SNAP_CORRUPT);
    // Record size larger than the section / string offset outside the record.
    const std::uint32_t rec0 = h.user_records.off;
    b = at(good, rec0 + 4, 0x10000u);
    ASSERT_EQ(load(b, s), JIT_SNAP_OK);
    EXPECT_EQ(jit_snap_user_at(&s, 0, &v), JIT_SNAP_CORRUPT);
    b = at(good, rec0 + offsetof(jit_nss_user_rec, shell_off), 0xffffu);
    ASSERT_EQ(load(b, s), JIT_SNAP_OK);
    EXPECT_EQ(jit_snap_user_at(&s, 0, &v), JIT_SNAP_CORRUPT);
    b = at(good, rec0 + offsetof(jit_nss_user_rec, ngroups), 1u << 20);
    ASSERT_EQ(load(b, s), JIT_SNAP_OK);
    EXPECT_EQ(jit_snap_user_at(&s, 0, &v), JIT_SNAP_CORRUPT);
}

// Flipping any single byte of the file never yields a wrong answer.
TEST(SnapshotCorruption, EverySingleByteFlipIsHarmless) {
    const auto good = encode();
    for (std::size_t i = 0; i < good.size(); i++) {
        auto b = good;
        b[i] = static_cast<char>(b[i] ^ 0x5a);
        expect_no_wrong_answer(b);
        if (HasFailure()) FAIL() << "wrong answer after flipping byte " << i;
    }
}

TEST(SnapshotCorruption, NoStringRunsPastItsRecord) {
    // Remove every NUL inside the records: strings are not terminated.
    auto b = encode();
    const auto h = header_of(b);
    for (std::uint32_t i = h.user_records.off + sizeof(jit_nss_user_rec); i < h.user_records.off + h.user_records.size; i++)
        if (b[i] == '\0') b[i] = 'x';
    jit_snap s;
    ASSERT_EQ(load(b, s), JIT_SNAP_OK);
    jit_pw_view v;
    for (std::uint32_t i = 0; i < 3; i++) EXPECT_NE(jit_snap_user_at(&s, i, &v), JIT_SNAP_OK);
}

class SnapshotFile : public ::testing::Test {
protected:
    TempDir dir;
    std::string path = dir / "nss.db";
    uid_t me = ::geteuid();
};

TEST_F(SnapshotFile, OpenChecksOwnerModeTypeAndSize) {
    test::write_text(path, encode(), 0644);
    jit_snap* s = nullptr;
    ASSERT_EQ(jit_snap_open(path.c_str(), me, &s), JIT_SNAP_OK);
    jit_snap_free(s);
    EXPECT_EQ(jit_snap_open(path.c_str(), me + 1, &s), JIT_SNAP_UNAVAIL);  // wrong owner
    ::chmod(path.c_str(), 0664);
    EXPECT_EQ(jit_snap_open(path.c_str(), me, &s), JIT_SNAP_UNAVAIL);  // group writable
    ::chmod(path.c_str(), 0646);
    EXPECT_EQ(jit_snap_open(path.c_str(), me, &s), JIT_SNAP_UNAVAIL);  // world writable
    ::chmod(path.c_str(), 0644);
    const auto link = dir / "link.db";
    ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
    EXPECT_EQ(jit_snap_open(link.c_str(), me, &s), JIT_SNAP_UNAVAIL);  // no symlinks
    EXPECT_EQ(jit_snap_open(dir.path().c_str(), me, &s), JIT_SNAP_UNAVAIL);  // a directory
    EXPECT_EQ(jit_snap_open((dir / "missing").c_str(), me, &s), JIT_SNAP_UNAVAIL);
    test::write_text(path, encode().substr(0, 100));
    EXPECT_EQ(jit_snap_open(path.c_str(), me, &s), JIT_SNAP_UNAVAIL);  // short
    test::write_text(path, "");
    EXPECT_EQ(jit_snap_open(path.c_str(), me, &s), JIT_SNAP_UNAVAIL);  // empty
}

TEST_F(SnapshotFile, RootOwnershipIsRequiredByDefault) {
    test::write_text(path, encode());
    jit_snap* s = nullptr;
    if (me == 0) {
        ASSERT_EQ(jit_snap_open(path.c_str(), 0, &s), JIT_SNAP_OK);
        jit_snap_free(s);
        ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);  // handed to nobody
    }
    EXPECT_EQ(jit_snap_open(path.c_str(), 0, &s), JIT_SNAP_UNAVAIL);
}

TEST_F(SnapshotFile, CacheFollowsReplacementWhileMapped) {
    jit_snap_cache cache = JIT_SNAP_CACHE_INIT(path.c_str(), me);
    jit_snap* s = nullptr;
    jit_pw_view v;
    EXPECT_EQ(jit_snap_cache_acquire(&cache, &s), JIT_SNAP_UNAVAIL);  // missing

    test::replace_file(path, encode());
    ASSERT_EQ(jit_snap_cache_acquire(&cache, &s), JIT_SNAP_OK);
    jit_snap* held = s;  // kept across the replacement, like an enumeration
    ASSERT_EQ(jit_snap_user_by_name(held, "bob", &v), JIT_SNAP_OK);

    auto users = sample_users();
    users.erase(users.begin() + 1);  // bob leaves
    users[0].shell = "/bin/zsh";
    auto next = encode_snapshot(users, {});
    ASSERT_TRUE(next.ok());
    test::replace_file(path, *next);

    jit_snap* fresh = nullptr;
    ASSERT_EQ(jit_snap_cache_acquire(&cache, &fresh), JIT_SNAP_OK);
    EXPECT_NE(fresh, held);
    EXPECT_EQ(jit_snap_user_by_name(fresh, "bob", &v), JIT_SNAP_NOTFOUND);
    ASSERT_EQ(jit_snap_user_by_name(fresh, "alice", &v), JIT_SNAP_OK);
    EXPECT_STREQ(v.shell, "/bin/zsh");
    // The old mapping stays readable until released.
    ASSERT_EQ(jit_snap_user_by_name(held, "bob", &v), JIT_SNAP_OK);
    EXPECT_STREQ(v.dir, "/home/bob");
    jit_snap_cache_release(&cache, held);
    jit_snap_cache_release(&cache, fresh);

    // Replaced by garbage, then removed: UNAVAIL, no stale answers.
    test::replace_file(path, std::string(4096, 'j'));
    EXPECT_EQ(jit_snap_cache_acquire(&cache, &s), JIT_SNAP_CORRUPT);
    test::replace_file(path, encode());
    ASSERT_EQ(jit_snap_cache_acquire(&cache, &s), JIT_SNAP_OK);
    jit_snap_cache_release(&cache, s);
    jit_snap_cache_reset(&cache);
}

// Acquires until the answer is `want` (true) or 5 s passed (false). For
// changes made behind the publisher's back, which the cache notices at its
// next periodic stat() (JIT_SNAP_RECHECK_NS).
bool eventually(jit_snap_cache& cache, int want) {
    for (int i = 0; i < 100; i++) {
        jit_snap* s = nullptr;
        int rc = jit_snap_cache_acquire(&cache, &s);
        if (rc == JIT_SNAP_OK) jit_snap_cache_release(&cache, s);
        if (rc == want) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

TEST_F(SnapshotFile, ChangesBehindThePublishersBackAreNoticedByTheRecheck) {
    jit_snap_cache cache = JIT_SNAP_CACHE_INIT(path.c_str(), me);
    test::replace_file(path, encode());
    jit_snap* s = nullptr;
    ASSERT_EQ(jit_snap_cache_acquire(&cache, &s), JIT_SNAP_OK);
    jit_snap_cache_release(&cache, s);
    ::unlink(path.c_str());  // removed
    EXPECT_TRUE(eventually(cache, JIT_SNAP_UNAVAIL));
    test::replace_file(path, encode());
    EXPECT_EQ(jit_snap_cache_acquire(&cache, &s), JIT_SNAP_OK);  // nothing mapped: opened at once
    jit_snap_cache_release(&cache, s);
    ::chmod(path.c_str(), 0664);  // made group-writable in place
    EXPECT_TRUE(eventually(cache, JIT_SNAP_UNAVAIL));
    ::chmod(path.c_str(), 0644);
    EXPECT_TRUE(eventually(cache, JIT_SNAP_OK));
    test::replace_file_unmarked(path, std::string(4096, 'j'));  // replaced by another tool
    EXPECT_TRUE(eventually(cache, JIT_SNAP_CORRUPT));
    jit_snap_cache_reset(&cache);
}

TEST_F(SnapshotFile, PublisherMarksTheReplacedFileSuperseded) {
    test::replace_file(path, encode());
    jit_snap* old = nullptr;
    ASSERT_EQ(jit_snap_open(path.c_str(), me, &old), JIT_SNAP_OK);
    std::uint32_t flag;
    std::memcpy(&flag, old->superseded, 4);
    EXPECT_EQ(flag, 0u);
    test::replace_file(path, encode());
    std::memcpy(&flag, old->superseded, 4);
    EXPECT_EQ(flag, 1u);  // seen through the existing mapping
    jit_snap_free(old);
    jit_snap* fresh = nullptr;
    ASSERT_EQ(jit_snap_open(path.c_str(), me, &fresh), JIT_SNAP_OK);
    std::memcpy(&flag, fresh->superseded, 4);
    EXPECT_EQ(flag, 0u);
    jit_snap_free(fresh);
}

// Threads look users up while another thread keeps republishing two
// alternating snapshots: every answer is one of the two, never a mix.
TEST_F(SnapshotFile, ConcurrentLookupsWhileRepublishing) {
    auto users_a = sample_users(200);
    auto users_b = users_a;
    for (auto& u : users_b) u.shell = "/bin/b-shell";
    const auto a = *encode_snapshot(users_a, {});
    const auto b = *encode_snapshot(users_b, {});
    test::replace_file(path, a);
    jit_snap_cache cache = JIT_SNAP_CACHE_INIT(path.c_str(), me);

    std::atomic<bool> stop{false};
    std::atomic<long> lookups{0}, wrong{0}, unavailable{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; t++) {
        readers.emplace_back([&, t] {
            for (std::uint32_t i = 0; !stop.load(); i++) {
                jit_snap* s = nullptr;
                if (jit_snap_cache_acquire(&cache, &s) != JIT_SNAP_OK) {
                    unavailable++;
                    continue;
                }
                const auto& u = users_a[(i + static_cast<std::uint32_t>(t) * 50) % users_a.size()];
                jit_pw_view v;
                if (jit_snap_user_by_name(s, u.name.c_str(), &v) != JIT_SNAP_OK || v.uid != u.uid ||
                    (std::strcmp(v.shell, u.shell.c_str()) != 0 && std::strcmp(v.shell, "/bin/b-shell") != 0))
                    wrong++;
                jit_snap_cache_release(&cache, s);
                lookups++;
            }
        });
    }
    for (int round = 0; round < 300; round++) test::replace_file(path, round % 2 ? a : b);
    while (lookups.load() < 2000) std::this_thread::yield();
    stop = true;
    for (auto& r : readers) r.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(unavailable.load(), 0);  // rename is atomic: never missing
    jit_snap_cache_reset(&cache);
}

}  // namespace
}  // namespace jit::nss
