// The JIT user database, the writer side of libnss_jit: computes which JIT
// users exist at a given time from the daemon's grants (the pure half is
// src/user_plan.hpp), allocates and remembers their UIDs, and publishes the
// mmap'd snapshot that libnss_jit.so.2 reads (docs/nss.md).
//
// Used by jit-helperd only (single-threaded event loop): call publish() when
// the accepted grants change and again at next_change(); nothing here is
// thread-safe. No PAM/NSS headers; the filesystem paths are injected through
// NssPolicy so tests run without root and without touching /etc.
#pragma once

#include <jit/grant.hpp>
#include <jit/paths.h>
#include <jit/result.hpp>

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace jit::nss {

struct NssPolicy {
    std::string db_path = JIT_NSS_DB_PATH;         // the module's built-in path
    std::string state_dir = JIT_STATE_DIR;         // nss-uids: uid allocations, 0600, atomic writes
    std::uint32_t uid_min = JIT_DEFAULT_UID_MIN, uid_max = JIT_DEFAULT_UID_MAX;  // allocation range for grants without uid
    std::int64_t retention_seconds = 0;            // passwd entry kept this long after the last window
                                                   // ends, with nologin_shell and no supplementary groups
    std::int64_t uid_quarantine_seconds = 90 * 86400;  // an allocated uid is not given to another
                                                       // user before this long after its last use
    std::string home_base = "/home";
    std::string default_shell = "/bin/bash";       // for login:true grants without `shell`
    std::string nologin_shell = "/usr/sbin/nologin";
    std::string member_group;                      // a local group every published user (active or
                                                   // retained) belongs to, "" = none: sshd's "Match
                                                   // Group" turns off home authorized_keys for them
    std::string recording_shell;                   // "" = sessions not recorded; else every user with a
                                                   // login window gets this shell (jit-rec-session, which
                                                   // starts the recorded shell under tlog-rec-session)
    std::string passwd_file = "/etc/passwd", group_file = "/etc/group";  // injected for tests
};

// Something publish() could not do for one user or group; the rest was
// published. The daemon logs each one (they are configuration problems the
// host admin must see: a JIT name that clashes with a local account, ...).
struct PublishWarning {
    std::string code;     // stable: "user.local_name", "user.local_uid", "user.uid_conflict",
                          // "user.uid_exhausted", "user.group_name", "group.unknown", "grant.uid_mismatch"
    std::string user;     // the JIT user concerned
    std::string message;  // human-readable, names what and where
};

// One user as published (for jitctl/status and tests).
struct PublishedUser {
    std::string name;
    std::uint32_t uid = 0;                 // gid == uid (per-user primary group named `name`)
    std::string gecos, home, shell;
    std::vector<std::uint32_t> groups;     // supplementary gids (empty during retention)
    bool retained = false;                 // no active window: kept for retention with nologin shell
};

// The publisher's uid allocation state: state_dir + "/nss-uids".
std::string uid_state_path(const NssPolicy& policy);

class UserDb {
public:
    // Loads the uid allocations from state_dir (creates nothing yet). Fails
    // on a bad policy (empty range, uid_min < 1000, ...) or an unreadable or
    // malformed state file (never silently forgets allocations: error code
    // "nss.state"; jit-helperd then sets the file aside and opens again).
    // Without a state file, the users of a valid snapshot at db_path are
    // taken as allocated (their uids, present, window end unknown), so that
    // a lost state file does not give their uids to someone else.
    static jit::Result<UserDb> open(NssPolicy policy);

    // Recomputes the user set for `now` from the complete list of accepted
    // grants, persists new allocations (before the snapshot names them) and
    // writes the snapshot if its contents changed (temp file, fsync, rename,
    // fsync of the directory; root-owned 0644 when run as root). Users that
    // cannot be published are skipped and listed in warnings(); an error is
    // returned only when nothing could be written (I/O, state).
    jit::Status publish(const std::vector<jit::Grant>& grants, jit::UnixTime now);

    // Warnings of the last publish() call (empty when everything was published).
    const std::vector<PublishWarning>& warnings() const { return warnings_; }
    // The users of the last published set, in snapshot order (by uid).
    const std::vector<PublishedUser>& published() const { return published_; }
    // Whether the last publish() wrote a new snapshot file.
    bool last_publish_wrote() const { return last_wrote_; }

    // The next time (> now) at which the published set would change (a
    // window start or end, a retention end); 0 if none.
    jit::UnixTime next_change(const std::vector<jit::Grant>& grants, jit::UnixTime now) const;

    // The uid given by a grant or allocated for `user` (also while retained
    // or quarantined); nullopt for a user never seen.
    std::optional<std::uint32_t> uid_of(const std::string& user) const;
    // Ever allocated/known (the state file remembers it): the daemon treats
    // such users as JIT-managed.
    bool manages(const std::string& user) const;
    // home_base + "/" + user.
    std::string home_of(const std::string& user) const;

    const NssPolicy& policy() const { return policy_; }

    // Persistent record per known user (state_dir/nss-uids). Public for the
    // state-file code and tests; not part of the daemon's interface.
    struct Record {
        std::uint32_t uid = 0;
        bool has_uid = false;            // false after the uid went to someone else (quarantine over)
        bool from_grant = false;         // uid came from a grant's `uid`, not the range
        bool present = false;            // in the last published snapshot
        jit::UnixTime active_end = 0;    // end of the last window seen (clamped when it ended early)
        jit::UnixTime gone_since = 0;    // when it left the snapshot (0: never published)
        std::string gecos;               // for retention entries, when grants are gone
    };
    // A uid a user gave up when their grant named another one: held for
    // uid_quarantine_seconds from `since` like any uid that left, given back
    // only to `user`.
    struct Released {
        std::string user;
        jit::UnixTime since = 0;
    };

private:
    explicit UserDb(NssPolicy policy) : policy_(std::move(policy)) {}

    NssPolicy policy_;
    std::map<std::string, Record> records_;
    std::map<std::uint32_t, Released> released_;  // by uid
    std::string last_state_;             // the state file as last saved
    std::string last_snapshot_;          // the last written snapshot, unstamped (generation 0)
    std::set<std::string> local_names_;  // names found in passwd_file at the last publish
    std::uint64_t generation_ = 0;
    std::vector<PublishWarning> warnings_;
    std::vector<PublishedUser> published_;
    bool last_wrote_ = false;
};

}  // namespace jit::nss
