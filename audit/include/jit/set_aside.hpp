// A state file jit-helperd cannot use at start (truncated, garbage, not a
// regular file, unreadable) is never a reason not to start: with
// Restart=always that would be a crash loop in which nobody logs in and no
// window is enforced. It is moved aside, kept for forensics, and the caller
// starts from what it can rebuild (docs/audit.md, JIT_ALERT=state_corrupt).
#pragma once

#include <jit/audit.hpp>

#include <cstdint>
#include <string>

namespace jit::audit {

// Renames `path` to "<path>.corrupt-<YYYYmmddTHHMMSSZ>" (UTC of `now`; "-2",
// "-3"... when that name is taken) in the same directory and returns the
// security.alert for the caller to emit: JIT_ALERT=state_corrupt, JIT_PATH
// (the file), JIT_ARCHIVE (where it is now; absent when it could not be
// moved), JIT_ERROR (`problem`) and JIT_REASON (`instead`: what the daemon
// does without it). The daemon never deletes a set-aside file.
// `keep_original`: the file stays where it is too (a hard link is made
// instead of a rename), for a file whose readable part is still used.
Event set_aside(const std::string& path, const std::string& problem, const std::string& instead, std::int64_t now,
                bool keep_original = false);

}  // namespace jit::audit
