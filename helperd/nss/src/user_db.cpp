#include <jit/nss_user_db.hpp>

#include "local_accounts.hpp"
#include "read_file.hpp"
#include "snapshot_reader.h"
#include "snapshot_writer.hpp"
#include "uid_state.hpp"
#include "user_plan.hpp"

#include <jit/durable_file.hpp>
#include <jit/names.hpp>

#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace jit::nss {

namespace {

std::string dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? std::string("/") : path.substr(0, slash);
}

jit::Status ensure_dir(const std::string& dir, mode_t mode) {
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return make_error("io", dir + " is not a directory");
        return Ok{};
    }
    if (errno != ENOENT) return make_error("io", "cannot stat " + dir + ": " + std::strerror(errno));
    auto parent = ensure_dir(dir_of(dir), 0755);
    if (!parent) return parent;
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
        return make_error("io", "cannot create " + dir + ": " + std::strerror(errno));
    return Ok{};
}

}  // namespace

std::string uid_state_path(const NssPolicy& policy) { return policy.state_dir + "/nss-uids"; }

jit::Result<UserDb> UserDb::open(NssPolicy policy) {
    auto bad = [](const std::string& what) { return make_error("nss.policy", what); };
    if (policy.uid_min < 1000u || policy.uid_max > 2147483646u || policy.uid_min > policy.uid_max)
        return bad("uid range " + std::to_string(policy.uid_min) + "-" + std::to_string(policy.uid_max) +
                   " must lie within 1000-2147483646 with min <= max");
    if (policy.uid_max - policy.uid_min >= (1u << 24)) return bad("uid range is larger than 16777216 ids");
    if (policy.retention_seconds < 0 || policy.uid_quarantine_seconds < 0)
        return bad("retention and quarantine must not be negative");
    for (const std::string* p : {&policy.db_path, &policy.state_dir, &policy.home_base, &policy.default_shell,
                                 &policy.nologin_shell, &policy.passwd_file, &policy.group_file})
        if (!absolute_path(*p)) return bad("path '" + *p + "' must be absolute, without ':' or newline");
    if (!policy.recording_shell.empty() && !absolute_path(policy.recording_shell))
        return bad("recording shell '" + policy.recording_shell + "' must be absolute, without ':' or newline");
    while (policy.home_base.size() > 1 && policy.home_base.back() == '/') policy.home_base.pop_back();

    UserDb pub(std::move(policy));
    const std::string state_path = uid_state_path(pub.policy_);
    auto state = read_file(state_path);
    if (state) {
        auto decoded = decode_state(*state, state_path);
        if (!decoded) return decoded.error();
        std::set<std::uint32_t> seen;
        for (const auto& [name, r] : decoded->records)
            if (r.has_uid && !seen.insert(r.uid).second)
                return make_error("nss.state", state_path + ": uid " + std::to_string(r.uid) + " is held twice");
        for (const auto& [uid, r] : decoded->released)
            if (!seen.insert(uid).second)
                return make_error("nss.state", state_path + ": uid " + std::to_string(uid) + " is held twice");
        pub.records_ = std::move(decoded->records);
        pub.released_ = std::move(decoded->released);
        pub.last_state_ = std::move(*state);
    } else if (state.error().code != "io.missing") {
        return make_error("nss.state", state.error().message);
    }

    // Keep generations increasing across restarts, and skip rewriting an
    // unchanged snapshot.
    auto existing = read_file(pub.policy_.db_path);
    if (existing) {
        jit_snap snap;
        if (jit_snap_from_memory(existing->data(), existing->size(), &snap) == JIT_SNAP_OK) {
            if (!state) {
                // No state file: the snapshot's users keep the uids their files carry.
                jit_pw_view v;
                for (std::uint32_t i = 0; jit_snap_user_at(&snap, i, &v) == JIT_SNAP_OK; ++i) {
                    std::string name(v.name, v.name_len);
                    if (!is_posix_name(name) || !id_in_bounds(v.uid) || reserved_id(v.uid)) continue;
                    Record r;
                    r.uid = v.uid;
                    r.has_uid = true;
                    r.present = true;
                    r.gecos = sanitize_gecos(std::string(v.gecos, v.gecos_len));
                    pub.records_.emplace(std::move(name), std::move(r));
                }
            }
            pub.generation_ = snapshot_generation(*existing);
            stamp_snapshot(*existing, 0, 0);
            pub.last_snapshot_ = std::move(*existing);
        }
    }
    return pub;
}

std::string UserDb::home_of(const std::string& user) const { return home_path(policy_, user); }

std::optional<std::uint32_t> UserDb::uid_of(const std::string& user) const {
    auto it = records_.find(user);
    if (it == records_.end() || !it->second.has_uid) return std::nullopt;
    return it->second.uid;
}

bool UserDb::manages(const std::string& user) const {
    return records_.count(user) != 0 && local_names_.count(user) == 0;
}

jit::UnixTime UserDb::next_change(const std::vector<jit::Grant>& grants, jit::UnixTime now) const {
    jit::UnixTime best = 0;
    auto consider = [&](jit::UnixTime t) {
        if (t > now && (best == 0 || t < best)) best = t;
    };
    const std::int64_t keep = policy_.retention_seconds;
    for (const auto& g : grants) {
        consider(g.not_before);
        consider(g.not_after);
        if (keep > 0) consider(g.not_after + keep);
    }
    if (keep > 0)
        for (const auto& [name, r] : records_)
            if (r.present) consider(r.active_end + keep);
    return best;
}

jit::Status UserDb::publish(const std::vector<jit::Grant>& grants, jit::UnixTime now) {
    warnings_.clear();
    last_wrote_ = false;
    auto local = load_local_accounts(policy_.passwd_file, policy_.group_file);
    if (!local) return local.error();
    local_names_ = local->user_names;

    UserPlan plan = plan_users(policy_, grants, *local, UidState{records_, released_}, now);
    warnings_ = std::move(plan.warnings);
    std::vector<SnapUser> users;
    users.reserve(plan.users.size());
    for (const PublishedUser& u : plan.users)
        users.push_back(SnapUser{u.name, u.uid, u.uid, u.gecos, u.home, u.shell, u.groups});
    auto bytes = encode_snapshot(std::move(users), std::move(plan.groups));
    if (!bytes) return bytes.error();

    // Allocations become durable before any snapshot names them.
    auto dirs = ensure_dir(policy_.state_dir, 0700);
    if (!dirs) return dirs;
    const std::string state = encode_state(plan.state.records, plan.state.released);
    if (state != last_state_) {
        auto st = durable::write_file_durably(uid_state_path(policy_), state, {.mode = 0600, .owner_root = ::geteuid() == 0});
        if (!st) return st;
        last_state_ = state;
    }
    records_ = std::move(plan.state.records);
    released_ = std::move(plan.state.released);
    published_ = std::move(plan.users);

    // Unprivileged processes must reach the snapshot: the directory needs
    // search permission for others (not listing).
    const std::string db_dir = dir_of(policy_.db_path);
    dirs = ensure_dir(db_dir, 0755);
    if (!dirs) return dirs;
    struct stat dst;
    if (::stat(db_dir.c_str(), &dst) == 0 && (dst.st_mode & 0111) != 0111 &&
        ::chmod(db_dir.c_str(), (dst.st_mode & 07777) | 0111) != 0)
        return make_error("io", "cannot make " + db_dir + " searchable: " + std::strerror(errno));

    struct stat fst;
    if (*bytes == last_snapshot_ && ::stat(policy_.db_path.c_str(), &fst) == 0) return Ok{};
    std::string stamped = *bytes;
    stamp_snapshot(stamped, generation_ + 1, now);
    auto st = replace_snapshot_file(policy_.db_path, stamped, 0644);
    if (!st) return st;
    generation_++;
    last_snapshot_ = std::move(*bytes);
    last_wrote_ = true;
    return Ok{};
}

}  // namespace jit::nss
