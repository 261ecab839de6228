#include <jit/nss_publisher.hpp>

#include "local_accounts.hpp"
#include "read_file.hpp"
#include "snapshot_reader.h"
#include "snapshot_writer.hpp"
#include "uid_state.hpp"

#include <jit/durable_file.hpp>
#include <jit/names.hpp>
#include <jit/ruling_grant.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace jit::nss {

namespace {

bool id_ok(std::uint32_t id) { return id >= 1000u && id <= 2147483646u; }

// Never handed out: nobody/nogroup and the 16-bit "no id" value.
bool reserved_id(std::uint32_t id) { return id == 65534u || id == 65535u; }

bool absolute_path(const std::string& p) {
    return !p.empty() && p[0] == '/' && p.find_first_of(std::string_view(":\n\0", 3)) == std::string::npos;
}

std::string dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? std::string("/") : path.substr(0, slash);
}

// GECOS: control characters and ':' would break passwd(5) consumers.
std::string sanitize_gecos(const std::string& s) {
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f || c == ':') ? ' ' : c;
    }
    if (out.size() > 256) out.resize(256);
    return out;
}

bool shell_ok(const std::string& s) {
    if (!absolute_path(s) || s.size() > 4096) return false;
    return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
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

// What the grants say about one user at `now`.
struct Plan {
    bool active = false;
    jit::UnixTime active_end = 0;
    const Grant* gecos_grant = nullptr;  // the ruling active grant
    const Grant* login_grant = nullptr;  // the ruling active login:true grant
    std::set<std::string> groups;        // union over active grants
    std::set<std::uint32_t> grant_uids;  // over all of the user's grants
};

// The ruling grant (jit/ruling_grant.hpp), folded in one pass over all users.
bool later(const Grant* candidate, const Grant* current) {
    return current == nullptr || rules_over(*candidate, *current);
}

}  // namespace

std::string uid_state_path(const NssPolicy& policy) { return policy.state_dir + "/nss-uids"; }

jit::Result<Publisher> Publisher::open(NssPolicy policy) {
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

    Publisher pub(std::move(policy));
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
                    if (!is_posix_name(name) || !id_ok(v.uid) || reserved_id(v.uid)) continue;
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

std::string Publisher::home_of(const std::string& user) const {
    return (policy_.home_base == "/" ? std::string() : policy_.home_base) + "/" + user;
}

std::optional<std::uint32_t> Publisher::uid_of(const std::string& user) const {
    auto it = records_.find(user);
    if (it == records_.end() || !it->second.has_uid) return std::nullopt;
    return it->second.uid;
}

bool Publisher::manages(const std::string& user) const {
    return records_.count(user) != 0 && local_names_.count(user) == 0;
}

jit::UnixTime Publisher::next_change(const std::vector<jit::Grant>& grants, jit::UnixTime now) const {
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

jit::Status Publisher::publish(const std::vector<jit::Grant>& grants, jit::UnixTime now) {
    warnings_.clear();
    last_wrote_ = false;
    auto warn = [&](std::string code, const std::string& user, std::string message) {
        warnings_.push_back(PublishWarning{std::move(code), user, std::move(message)});
    };
    auto local = load_local_accounts(policy_.passwd_file, policy_.group_file);
    if (!local) return local.error();
    local_names_ = local->user_names;

    std::map<std::string, Plan> plans;
    for (const auto& g : grants) {
        if (!is_posix_name(g.user)) {
            warn("user.name", g.user, "grant " + g.id + " names an invalid user; skipped");
            continue;
        }
        Plan& p = plans[g.user];
        if (g.uid) p.grant_uids.insert(*g.uid);
        if (!g.active_at(now)) continue;
        p.active = true;
        p.active_end = std::max(p.active_end, g.not_after);
        if (later(&g, p.gecos_grant)) p.gecos_grant = &g;
        if (g.login && later(&g, p.login_grant)) p.login_grant = &g;
        p.groups.insert(g.groups.begin(), g.groups.end());
    }

    Records recs = records_;
    ReleasedUids released = released_;
    for (auto it = released.begin(); it != released.end();)
        it = it->second.since + policy_.uid_quarantine_seconds <= now ? released.erase(it) : std::next(it);
    std::map<std::uint32_t, std::string> holder;  // uid -> the record holding it
    for (const auto& [name, r] : recs)
        if (r.has_uid) holder[r.uid] = name;
    auto locally_used = [&](std::uint32_t id) { return local->uids.count(id) != 0 || local->gids.count(id) != 0; };
    auto reusable = [&](const std::string& name, const Record& r) {
        if (plans.count(name) != 0 || r.present) return false;
        return r.gone_since == 0 || r.gone_since + policy_.uid_quarantine_seconds <= now;
    };

    std::uint32_t cursor = policy_.uid_min;
    bool range_scanned = false;
    auto allocate = [&]() -> std::optional<std::uint32_t> {
        while (!range_scanned) {
            const std::uint32_t candidate = cursor;
            if (candidate == policy_.uid_max)
                range_scanned = true;
            else
                cursor++;
            if (!holder.count(candidate) && !released.count(candidate) && !locally_used(candidate) &&
                !reserved_id(candidate))
                return candidate;
        }
        // Range full: reuse the uid of the user gone the longest, once quarantine is over.
        const std::string* oldest = nullptr;
        for (auto it = holder.lower_bound(policy_.uid_min); it != holder.end() && it->first <= policy_.uid_max; ++it) {
            const Record& r = recs[it->second];
            if (locally_used(it->first) || !reusable(it->second, r)) continue;
            if (oldest == nullptr || r.gone_since < recs[*oldest].gone_since) oldest = &it->second;
        }
        if (oldest == nullptr) return std::nullopt;
        Record& prev = recs[*oldest];
        std::uint32_t uid = prev.uid;
        prev.has_uid = false;
        holder.erase(uid);
        return uid;
    };

    std::set<std::string> skipped;
    for (auto& plan_entry : plans) {
        const std::string& name = plan_entry.first;
        Plan& p = plan_entry.second;
        auto skip = [&](std::string code, std::string message) {
            warn(std::move(code), name, std::move(message));
            skipped.insert(name);
        };
        if (local->user_names.count(name)) {
            skip("user.local_name", "user " + name + " exists in " + policy_.passwd_file + "; not published");
            continue;
        }
        if (local->groups.count(name)) {
            skip("user.group_name", "a group " + name + " exists in " + policy_.group_file +
                                        "; the user's primary group would clash; not published");
            continue;
        }
        if (p.grant_uids.size() > 1) {
            skip("grant.uid_mismatch", "grants for " + name + " name different uids; not published");
            continue;
        }
        auto rec = recs.find(name);
        if (p.grant_uids.size() == 1) {
            const std::uint32_t uid = *p.grant_uids.begin();
            if (!id_ok(uid) || reserved_id(uid) || locally_used(uid)) {
                skip("user.local_uid", "uid " + std::to_string(uid) + " of " + name + " is reserved or exists in " +
                                           policy_.passwd_file + " or " + policy_.group_file + "; not published");
                continue;
            }
            if (auto q = released.find(uid); q != released.end()) {
                if (q->second.user != name) {
                    skip("user.uid_conflict", "uid " + std::to_string(uid) + " of " + name + " was given up by JIT user " +
                                                  q->second.user + " and is in quarantine; not published");
                    continue;
                }
                released.erase(q);  // the user's own former uid, back
            }
            auto h = holder.find(uid);
            if (h != holder.end() && h->second != name) {
                if (!reusable(h->second, recs[h->second])) {
                    skip("user.uid_conflict", "uid " + std::to_string(uid) + " of " + name + " belongs to JIT user " +
                                                  h->second + " (in use or in quarantine); not published");
                    continue;
                }
                recs[h->second].has_uid = false;
                holder.erase(h);
            }
            Record& r = recs[name];
            if (r.has_uid && r.uid != uid) {
                // The grant names another uid: the old one may still own
                // files; it waits out the quarantine like any uid that left.
                holder.erase(r.uid);
                if (policy_.uid_quarantine_seconds > 0) released[r.uid] = Released{name, now};
            }
            r.uid = uid;
            r.has_uid = true;
            r.from_grant = true;
            holder[uid] = name;
            continue;
        }
        if (rec != recs.end() && rec->second.has_uid) {
            if (locally_used(rec->second.uid))
                skip("user.local_uid", "uid " + std::to_string(rec->second.uid) + " of " + name +
                                           " now exists in " + policy_.passwd_file + " or " + policy_.group_file +
                                           "; not published");
            continue;
        }
        auto uid = allocate();
        if (!uid) {
            skip("user.uid_exhausted", "no free uid in " + std::to_string(policy_.uid_min) + "-" +
                                           std::to_string(policy_.uid_max) + " for " + name + "; not published");
            continue;
        }
        Record& r = recs[name];
        r.uid = *uid;
        r.has_uid = true;
        r.from_grant = false;
        holder[*uid] = name;
    }

    std::vector<SnapUser> users;
    std::vector<SnapGroup> groups;
    std::vector<PublishedUser> published;
    for (auto& [name, r] : recs) {
        auto plan = plans.find(name);
        const bool usable = r.has_uid && !skipped.count(name) && !local->user_names.count(name) &&
                            !local->groups.count(name) && !locally_used(r.uid);
        PublishedUser u;
        u.name = name;
        u.uid = r.uid;
        u.home = home_of(name);
        if (usable && plan != plans.end() && plan->second.active) {
            const Plan& p = plan->second;
            r.active_end = p.active_end;
            r.gecos = sanitize_gecos(p.gecos_grant->display_name);
            u.shell = policy_.nologin_shell;
            if (p.login_grant != nullptr) {
                const std::string& want = p.login_grant->shell;
                if (want.empty()) {
                    u.shell = policy_.default_shell;
                } else if (shell_ok(want)) {
                    u.shell = want;
                } else {
                    warn("grant.shell", name, "grant " + p.login_grant->id + " has an unusable shell; using " +
                                                  policy_.default_shell);
                    u.shell = policy_.default_shell;
                }
                if (!policy_.recording_shell.empty()) u.shell = policy_.recording_shell;
            }
            for (const auto& gname : p.groups) {
                auto g = local->groups.find(gname);
                if (g == local->groups.end() || g->second == UINT32_MAX) {
                    warn("group.unknown", name, "group " + gname + " is not in " + policy_.group_file + "; not added");
                    continue;
                }
                if (g->second != r.uid) u.groups.push_back(g->second);
            }
        } else {
            if (r.present && r.active_end > now) r.active_end = now;  // the window ended early
            const bool retained = usable && r.present && policy_.retention_seconds > 0 &&
                                  now < r.active_end + policy_.retention_seconds;
            if (!retained) {
                if (r.present) {
                    r.present = false;
                    r.gone_since = now;
                }
                continue;
            }
            u.shell = policy_.nologin_shell;
            u.retained = true;
        }
        if (!policy_.member_group.empty()) {
            auto g = local->groups.find(policy_.member_group);
            if (g == local->groups.end() || g->second == UINT32_MAX)
                warn("group.unknown", name,
                     "group " + policy_.member_group + " (ssh.users_group) is not in " + policy_.group_file + "; not added");
            else if (g->second != r.uid)
                u.groups.push_back(g->second);
        }
        r.present = true;
        u.gecos = r.gecos;
        std::sort(u.groups.begin(), u.groups.end());
        u.groups.erase(std::unique(u.groups.begin(), u.groups.end()), u.groups.end());
        users.push_back(SnapUser{u.name, u.uid, u.uid, u.gecos, u.home, u.shell, u.groups});
        groups.push_back(SnapGroup{u.name, u.uid, {}});
        published.push_back(std::move(u));
    }
    std::sort(published.begin(), published.end(),
              [](const PublishedUser& a, const PublishedUser& b) { return a.uid < b.uid; });

    auto bytes = encode_snapshot(std::move(users), std::move(groups));
    if (!bytes) return bytes.error();

    // Allocations become durable before any snapshot names them.
    auto dirs = ensure_dir(policy_.state_dir, 0700);
    if (!dirs) return dirs;
    const std::string state = encode_state(recs, released);
    if (state != last_state_) {
        auto st = durable::write_file_durably(uid_state_path(policy_), state, {.mode = 0600, .owner_root = ::geteuid() == 0});
        if (!st) return st;
        last_state_ = state;
    }
    records_ = std::move(recs);
    released_ = std::move(released);
    published_ = std::move(published);

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
