// The names and ids of the host's own accounts (/etc/passwd, /etc/group),
// which JIT users must never shadow or duplicate.
#pragma once

#include <jit/result.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace jit::nss {

struct LocalAccounts {
    std::set<std::string> user_names;
    std::set<std::uint32_t> uids;
    std::map<std::string, std::uint32_t> groups;  // name -> gid
    std::set<std::uint32_t> gids;
};

// Reads both files; a file that cannot be read is an error (the publisher
// cannot know what it would collide with). Lines that are empty, comments or
// NIS compat entries (+/-) are skipped; a line whose id does not parse keeps
// its name reserved.
jit::Result<LocalAccounts> load_local_accounts(const std::string& passwd_file, const std::string& group_file);

}  // namespace jit::nss
