// Home-directory retention: after `days` without any grant, a home that
// jitlogin created is archived (tar.gz under the state dir, 0600, then
// removed) or deleted, as host policy says. Homes jitlogin did not create are
// never touched: only paths recorded with Enforcer::note_home_created().
#pragma once

#include <jit/grant.hpp>
#include <jit/result.hpp>

#include <sys/types.h>

#include <optional>
#include <string>

namespace jit::enforce {

struct RetentionPolicy {
    std::optional<int> days;            // nullopt: keep forever (the default)
    enum class Action { Archive, Delete } action = Action::Archive;
    std::string archive_dir = "/var/lib/jit/home-archives";
};

struct CreatedHome {
    std::string path;
    uid_t uid = 0;
    UnixTime created_at = 0;
};

// Checks that `home` is still the directory jitlogin created: a real directory
// (lstat, not a link), owned by `uid`, whose parent is a directory owned by
// root (or by the daemon's own uid) and not writable by group or others.
// Error code "enforce.home" naming the path and the failed check.
Status check_created_home(const CreatedHome& home);

// tar -czf into archive_dir/<user>-<unix time>.tar.gz (created 0600 with
// O_EXCL, the directory 0700), then removes the home. Returns the archive path.
// Error code "enforce.home".
Result<std::string> archive_home(const std::string& user, const CreatedHome& home, const std::string& archive_dir,
                                 UnixTime now);
// Removes the home recursively without following symbolic links. Error code "enforce.home".
Status delete_home(const CreatedHome& home);

}  // namespace jit::enforce
