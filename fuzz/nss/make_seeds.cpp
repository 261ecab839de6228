// Writes seed snapshots for fuzz_nss_snapshot with the real writer into the
// directory given as argv[1]: empty, small, with groups, many users, long fields.
#include "snapshot_writer.hpp"

#include <cstdio>
#include <fstream>
#include <string>

using jit::nss::SnapGroup;
using jit::nss::SnapUser;

static int write_seed(const std::string& dir, const std::string& name, std::vector<SnapUser> users,
                      std::vector<SnapGroup> groups) {
    auto bytes = jit::nss::encode_snapshot(std::move(users), std::move(groups));
    if (!bytes) {
        std::fprintf(stderr, "%s: %s\n", name.c_str(), bytes.error().message.c_str());
        return 1;
    }
    jit::nss::stamp_snapshot(*bytes, 1, 1800000000);
    std::ofstream(dir + "/" + name, std::ios::binary) << *bytes;
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const std::string dir = argv[1];
    int rc = write_seed(dir, "empty", {}, {});
    std::vector<SnapUser> users = {{"alice", 70001, 70001, "Alice", "/home/alice", "/bin/bash", {4, 27}},
                                   {"bob", 70002, 70002, "", "/home/bob", "/usr/sbin/nologin", {}}};
    rc |= write_seed(dir, "two-users", users, {{"alice", 70001, {}}, {"bob", 70002, {}}});
    rc |= write_seed(dir, "group-members", users, {{"team", 90000, {"alice", "bob", "carol"}}});
    std::vector<SnapUser> many;
    for (int i = 0; i < 40; i++)
        many.push_back({"u" + std::to_string(i), static_cast<std::uint32_t>(100000 + i),
                        static_cast<std::uint32_t>(100000 + i), "User " + std::to_string(i),
                        "/home/u" + std::to_string(i), "/bin/sh", {static_cast<std::uint32_t>(i)}});
    rc |= write_seed(dir, "forty-users", many, {});
    rc |= write_seed(dir, "long-fields",
                     {{"carol", 5000, 5000, std::string(300, 'c'), "/home/" + std::string(200, 'd'), "/bin/zsh",
                       std::vector<std::uint32_t>(64, 4)}},
                     {});
    return rc;
}
