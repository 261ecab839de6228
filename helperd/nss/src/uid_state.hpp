// The publisher's durable memory (state_dir/nss-uids, 0600): which uid each
// JIT user has, when their last window ended and when they left the
// snapshot (for retention and quarantine). Text, one user per line:
//
//   jit-nss-uids 2
//   <user> TAB <uid or -> TAB <alloc|grant> TAB <present 0|1> TAB <active_end> TAB <gone_since> TAB <gecos>
//   !released TAB <uid> TAB <former user> TAB <since>
//
// Version 1 (no "!released" lines) is still read.
#pragma once

#include <jit/nss_user_db.hpp>
#include <jit/result.hpp>

#include <map>
#include <string>

namespace jit::nss {

using Records = std::map<std::string, UserDb::Record>;
using ReleasedUids = std::map<std::uint32_t, UserDb::Released>;

struct UidState {
    Records records;
    ReleasedUids released;
};

std::string encode_state(const Records& records, const ReleasedUids& released);
// Errors name the line; an unknown version, a bad field or a duplicate is an
// error (allocations are never silently forgotten).
jit::Result<UidState> decode_state(const std::string& text, const std::string& path);

}  // namespace jit::nss
