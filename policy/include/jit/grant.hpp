// The typed form of an authority grants payload (PROTOCOL.md §1). Everything
// inside the project works on these structures; raw JSON stops at the parser.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jit {

using UnixTime = std::int64_t;  // seconds since the epoch, UTC

struct SudoRule {
    std::string run_as;                 // e.g. "root"
    std::vector<std::string> commands;  // "ALL" or absolute paths, optionally with arguments
};

struct Grant {
    std::string id;
    std::string user;
    std::optional<std::uint32_t> uid;
    std::string display_name;           // empty when absent
    std::string shell;                  // empty when absent
    bool login = false;
    std::optional<SudoRule> sudo;
    std::vector<std::string> groups;
    UnixTime not_before = 0;
    UnixTime not_after = 0;
    std::string reason;
    std::string ticket;                 // empty when absent
    std::string requested_by;
    std::vector<std::string> approved_by;
    std::vector<std::string> ssh_authorized_keys;

    bool active_at(UnixTime now) const { return not_before <= now && now < not_after; }
};

struct Revocation {
    std::string id;
    UnixTime at = 0;
    std::string by;
    std::string reason;
};

struct GrantsPayload {
    std::string type;                   // "jit.grants.v1"
    std::string host_id;
    std::int64_t revision = 0;
    UnixTime issued_at = 0;
    UnixTime expires_at = 0;
    std::vector<Grant> grants;
    std::vector<Revocation> revoked;
};

}  // namespace jit
