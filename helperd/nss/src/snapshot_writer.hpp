// Encodes the NSS snapshot (nss_module/snapshot_format.h) from typed entries.
#pragma once

#include <jit/result.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace jit::nss {

struct SnapUser {
    std::string name;
    std::uint32_t uid = 0, gid = 0;
    std::string gecos, home, shell;
    std::vector<std::uint32_t> groups;  // supplementary gids
};

struct SnapGroup {
    std::string name;
    std::uint32_t gid = 0;
    std::vector<std::string> members;
};

// The file bytes with generation and published_at zero (see stamp_snapshot).
// Users and groups are sorted by id here; duplicate names or ids, names that
// are not POSIX names, ids outside 1000..2147483646 and strings with NUL,
// ':' or newline are errors (the publisher filters before this).
jit::Result<std::string> encode_snapshot(std::vector<SnapUser> users, std::vector<SnapGroup> groups);

// Sets generation and published_at in encoded bytes and re-checksums the header.
void stamp_snapshot(std::string& bytes, std::uint64_t generation, std::int64_t published_at);

// For bytes read back from disk: generation, or nullopt-like 0 when not a valid header.
std::uint64_t snapshot_generation(const std::string& bytes);

// Publishes `bytes` at `path` (durably, see jit/durable_file.hpp) and then marks
// the file it replaced as superseded, in place, so that processes mapping it
// switch to the new one at their next lookup without a stat() (snapshot_format.h).
jit::Status replace_snapshot_file(const std::string& path, const std::string& bytes, unsigned mode = 0644);

}  // namespace jit::nss
