// The pure half of publishing the JIT user database: (policy, grants, the
// host's own accounts, the remembered uid allocations, now) -> (the users and
// groups to publish, the allocations after this step, warnings). Nothing here
// reads a clock or a file; UserDb::publish() loads the inputs, calls
// plan_users() and writes what it returns (docs/nss.md has the rules).
#pragma once

#include "local_accounts.hpp"
#include "snapshot_writer.hpp"
#include "uid_state.hpp"

#include <jit/grant.hpp>
#include <jit/nss_user_db.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace jit::nss {

struct UserPlan {
    UidState state;                        // the allocations after this step (persisted before the snapshot)
    std::vector<PublishedUser> users;      // by uid
    std::vector<SnapGroup> groups;         // each user's primary group (gid == uid, named after the user), by gid
    std::vector<PublishWarning> warnings;  // what could not be published, and why
};

UserPlan plan_users(const NssPolicy& policy, const std::vector<Grant>& grants, const LocalAccounts& local,
                    UidState state, UnixTime now);

// The rules plan_users() shares with UserDb::open():
// a uid or gid the publisher may use at all (1000..2147483646) ...
bool id_in_bounds(std::uint32_t id);
// ... and never hands out: nobody/nogroup and the 16-bit "no id" value.
bool reserved_id(std::uint32_t id);
// An absolute path without ':' or newline (safe in a passwd line).
bool absolute_path(const std::string& p);
// GECOS: control characters and ':' become spaces, at most 256 bytes.
std::string sanitize_gecos(const std::string& s);
// policy.home_base + "/" + user.
std::string home_path(const NssPolicy& policy, const std::string& user);

}  // namespace jit::nss
