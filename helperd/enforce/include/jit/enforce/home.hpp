// Home directories of JIT users, made and unmade in one place.
//
// Creation: at a user's first session the daemon's enforcement adapter makes
// the home from the skeleton, on a worker thread, when nothing is at its
// path, and the Enforcer records it as one jitlogin created (record_home).
//
// Retention: after `days` without any grant, a home that jitlogin created is
// archived (tar.gz under the state dir, 0600, then removed) or deleted, as
// host policy says. Homes jitlogin did not create are never touched: only
// paths recorded by Enforcer::create_home() (or note_home_created()).
//
// The work (tar, rm) runs in child processes that the daemon's loop watches
// (Loop::watch_child): the user owns the contents and they can be huge, so the
// daemon never walks them itself.
#pragma once

#include <jit/grant.hpp>
#include <jit/paths.h>
#include <jit/result.hpp>

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace jit::enforce {

// Creates `home` for a JIT user at first session: only if nothing exists at
// that path (never follows or replaces anything), copying `skel` (regular
// files, directories, symlinks; nothing else), everything owned by uid:gid,
// the home itself with `mode`. The copy is built under a temporary root-owned
// 0700 name and renamed into place only when complete. The parent must
// exist, be a directory owned by root and not group/world writable. Returns
// true if it created the home, false if something was already there. Error
// codes "home" (a system call failed), "home.path", "home.parent".
struct HomeOptions {
    std::string skel = "/etc/skel";
    mode_t mode = 0700;
};
Result<bool> create_home(const std::string& home, std::uint32_t uid, std::uint32_t gid, const HomeOptions& options = {});

struct RetentionPolicy {
    std::optional<int> days;            // nullopt: keep forever (the default)
    enum class Action { Archive, Delete } action = Action::Archive;
    std::string archive_dir = JIT_STATE_DIR "/home-archives";
    // The archive may not grow beyond this (RLIMIT_FSIZE of the tar child).
    std::uint64_t max_archive_bytes = std::uint64_t(16) << 30;
    // A job (tar, rm) still running after this is killed and counted as failed.
    std::int64_t job_timeout_ms = std::int64_t(6) * 3600 * 1000;
    // Attempts (each recorded in the state file before it starts) before a
    // home whose job never finished (the daemon stopped or died during it) is
    // given up with an alert.
    int max_attempts = 3;
};

struct CreatedHome {
    CreatedHome() = default;
    CreatedHome(std::string p, uid_t u, UnixTime at) : path(std::move(p)), uid(u), created_at(at) {}
    std::string path;
    uid_t uid = 0;
    UnixTime created_at = 0;
    // Retention bookkeeping, persisted before each job starts.
    int attempts = 0;               // jobs started for this home
    std::string partial_archive;    // tar running into it (removed if the attempt did not finish)
    std::string archive;            // a finished archive: only the removal is left
};

// Checks that `home` is still the directory jitlogin created: a real directory
// (lstat, not a link), owned by `uid`, whose parent is a directory owned by
// root (or by the daemon's own uid) and not writable by group or others.
// Error code "enforce.home" naming the path and the failed check.
Status check_created_home(const CreatedHome& home);

// archive_dir/<user>-<unix time>.tar.gz: where start_archive() writes.
std::string archive_path_for(const std::string& archive_dir, const std::string& user, UnixTime now);
// Creates `archive` (0600, O_EXCL) in `archive_dir` (made 0700 if missing) and
// starts `tar --create --gzip --sparse --one-file-system` of the home into it,
// in a child process limited to `max_bytes` of output (RLIMIT_FSIZE), at lower
// CPU priority, killed if the daemon dies. Returns the child's pid.
// Error code "enforce.home".
Result<pid_t> start_archive(const CreatedHome& home, const std::string& archive_dir, const std::string& archive,
                            std::uint64_t max_bytes);
// Starts `rm --recursive --force --one-file-system` of the home (never follows
// links) in a child process. Returns its pid. Error code "enforce.home".
Result<pid_t> start_delete(const CreatedHome& home);
// "" when a child's wait status means success, else what went wrong.
std::string job_failure(const char* what, int wait_status);

}  // namespace jit::enforce
