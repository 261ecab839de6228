// Who exists in the JIT user database at `now` (see user_plan.hpp, docs/nss.md).
#include "user_plan.hpp"

#include <jit/names.hpp>
#include <jit/ruling_grant.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace jit::nss {

bool id_in_bounds(std::uint32_t id) { return id >= 1000u && id <= 2147483646u; }

bool reserved_id(std::uint32_t id) { return id == 65534u || id == 65535u; }

bool absolute_path(const std::string& p) {
    return !p.empty() && p[0] == '/' && p.find_first_of(std::string_view(":\n\0", 3)) == std::string::npos;
}

std::string sanitize_gecos(const std::string& s) {
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f || c == ':') ? ' ' : c;
    }
    if (out.size() > 256) out.resize(256);
    return out;
}

std::string home_path(const NssPolicy& policy, const std::string& user) {
    return (policy.home_base == "/" ? std::string() : policy.home_base) + "/" + user;
}

namespace {

bool shell_ok(const std::string& s) {
    if (!absolute_path(s) || s.size() > 4096) return false;
    return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

// What the grants say about one user at `now`.
struct UserGrants {
    bool active = false;
    UnixTime active_end = 0;
    const Grant* gecos_grant = nullptr;  // the ruling active grant
    const Grant* login_grant = nullptr;  // the ruling active login:true grant
    std::set<std::string> groups;        // union over active grants
    std::set<std::uint32_t> grant_uids;  // over all of the user's grants
};

using Record = UserDb::Record;
using Released = UserDb::Released;

// One plan_users() call: the three steps share the allocations and warnings.
class Planner {
public:
    Planner(const NssPolicy& policy, const LocalAccounts& local, UidState state, UnixTime now)
        : policy_(policy), local_(local), now_(now), recs_(std::move(state.records)),
          released_(std::move(state.released)) {
        for (auto it = released_.begin(); it != released_.end();)
            it = it->second.since + policy_.uid_quarantine_seconds <= now_ ? released_.erase(it) : std::next(it);
        for (const auto& [name, r] : recs_)
            if (r.has_uid) holder_[r.uid] = name;
    }

    // Step 1: the grants, user by user.
    void summarize(const std::vector<Grant>& grants) {
        for (const auto& g : grants) {
            if (!is_posix_name(g.user)) {
                warn("user.name", g.user, "grant " + g.id + " names an invalid user; skipped");
                continue;
            }
            UserGrants& u = users_[g.user];
            if (g.uid) u.grant_uids.insert(*g.uid);
            if (!g.active_at(now_)) continue;
            u.active = true;
            u.active_end = std::max(u.active_end, g.not_after);
            // The ruling grant (jit/ruling_grant.hpp), folded in this one pass over all users.
            if (u.gecos_grant == nullptr || rules_over(g, *u.gecos_grant)) u.gecos_grant = &g;
            if (g.login && (u.login_grant == nullptr || rules_over(g, *u.login_grant))) u.login_grant = &g;
            u.groups.insert(g.groups.begin(), g.groups.end());
        }
    }

    // Step 2: a uid for every user the grants name, or a warning why not.
    void assign_uids() {
        for (const auto& [name, u] : users_)
            if (auto why = assign_uid(name, u)) {
                warn(why->first, name, why->second);
                skipped_.insert(name);
            }
    }

    // Step 3: the entries of everyone who has a uid, active or retained.
    UserPlan entries() {
        UserPlan out;
        for (auto& [name, r] : recs_) {
            auto u = users_.find(name);
            auto entry = entry_of(name, r, u == users_.end() ? nullptr : &u->second);
            if (!entry) continue;
            out.groups.push_back(SnapGroup{entry->name, entry->uid, {}});
            out.users.push_back(std::move(*entry));
        }
        std::sort(out.users.begin(), out.users.end(),
                  [](const PublishedUser& a, const PublishedUser& b) { return a.uid < b.uid; });
        std::sort(out.groups.begin(), out.groups.end(),
                  [](const SnapGroup& a, const SnapGroup& b) { return a.gid < b.gid; });
        out.state = UidState{std::move(recs_), std::move(released_)};
        out.warnings = std::move(warnings_);
        return out;
    }

private:
    using Why = std::optional<std::pair<std::string, std::string>>;  // warning code, message

    void warn(std::string code, const std::string& user, std::string message) {
        warnings_.push_back(PublishWarning{std::move(code), user, std::move(message)});
    }
    bool locally_used(std::uint32_t id) const { return local_.uids.count(id) != 0 || local_.gids.count(id) != 0; }
    // A record whose uid may go to someone else: not named by any grant, not
    // published, and out of quarantine.
    bool reusable(const std::string& name, const Record& r) const {
        if (users_.count(name) != 0 || r.present) return false;
        return r.gone_since == 0 || r.gone_since + policy_.uid_quarantine_seconds <= now_;
    }

    std::optional<std::uint32_t> allocate() {
        while (!range_scanned_) {
            const std::uint32_t candidate = cursor_;
            if (candidate == policy_.uid_max)
                range_scanned_ = true;
            else
                cursor_++;
            if (!holder_.count(candidate) && !released_.count(candidate) && !locally_used(candidate) &&
                !reserved_id(candidate))
                return candidate;
        }
        // Range full: reuse the uid of the user gone the longest, once quarantine is over.
        const std::string* oldest = nullptr;
        for (auto it = holder_.lower_bound(policy_.uid_min); it != holder_.end() && it->first <= policy_.uid_max;
             ++it) {
            const Record& r = recs_[it->second];
            if (locally_used(it->first) || !reusable(it->second, r)) continue;
            if (oldest == nullptr || r.gone_since < recs_[*oldest].gone_since) oldest = &it->second;
        }
        if (oldest == nullptr) return std::nullopt;
        Record& prev = recs_[*oldest];
        std::uint32_t uid = prev.uid;
        prev.has_uid = false;
        holder_.erase(uid);
        return uid;
    }

    Why assign_uid(const std::string& name, const UserGrants& u) {
        auto why = [](std::string code, std::string message) { return Why{{std::move(code), std::move(message)}}; };
        if (local_.user_names.count(name))
            return why("user.local_name", "user " + name + " exists in " + policy_.passwd_file + "; not published");
        if (local_.groups.count(name))
            return why("user.group_name", "a group " + name + " exists in " + policy_.group_file +
                                              "; the user's primary group would clash; not published");
        if (u.grant_uids.size() > 1)
            return why("grant.uid_mismatch", "grants for " + name + " name different uids; not published");
        if (u.grant_uids.size() == 1) return take_grant_uid(name, *u.grant_uids.begin());
        auto rec = recs_.find(name);
        if (rec != recs_.end() && rec->second.has_uid) {
            if (locally_used(rec->second.uid))
                return why("user.local_uid", "uid " + std::to_string(rec->second.uid) + " of " + name +
                                                 " now exists in " + policy_.passwd_file + " or " +
                                                 policy_.group_file + "; not published");
            return std::nullopt;
        }
        auto uid = allocate();
        if (!uid)
            return why("user.uid_exhausted", "no free uid in " + std::to_string(policy_.uid_min) + "-" +
                                                 std::to_string(policy_.uid_max) + " for " + name + "; not published");
        Record& r = recs_[name];
        r.uid = *uid;
        r.has_uid = true;
        r.from_grant = false;
        holder_[*uid] = name;
        return std::nullopt;
    }

    // The grants name `uid` for `name`.
    Why take_grant_uid(const std::string& name, std::uint32_t uid) {
        auto why = [](std::string code, std::string message) { return Why{{std::move(code), std::move(message)}}; };
        if (!id_in_bounds(uid) || reserved_id(uid) || locally_used(uid))
            return why("user.local_uid", "uid " + std::to_string(uid) + " of " + name + " is reserved or exists in " +
                                             policy_.passwd_file + " or " + policy_.group_file + "; not published");
        if (auto q = released_.find(uid); q != released_.end()) {
            if (q->second.user != name)
                return why("user.uid_conflict", "uid " + std::to_string(uid) + " of " + name +
                                                    " was given up by JIT user " + q->second.user +
                                                    " and is in quarantine; not published");
            released_.erase(q);  // the user's own former uid, back
        }
        auto h = holder_.find(uid);
        if (h != holder_.end() && h->second != name) {
            if (!reusable(h->second, recs_[h->second]))
                return why("user.uid_conflict", "uid " + std::to_string(uid) + " of " + name +
                                                    " belongs to JIT user " + h->second +
                                                    " (in use or in quarantine); not published");
            recs_[h->second].has_uid = false;
            holder_.erase(h);
        }
        Record& r = recs_[name];
        if (r.has_uid && r.uid != uid) {
            // The grant names another uid: the old one may still own files; it
            // waits out the quarantine like any uid that left.
            holder_.erase(r.uid);
            if (policy_.uid_quarantine_seconds > 0) released_[r.uid] = Released{name, now_};
        }
        r.uid = uid;
        r.has_uid = true;
        r.from_grant = true;
        holder_[uid] = name;
        return std::nullopt;
    }

    // The entry of `name` (active, or retained), updating its record; nullopt
    // when it is not published now.
    std::optional<PublishedUser> entry_of(const std::string& name, Record& r, const UserGrants* grants) {
        const bool usable = r.has_uid && !skipped_.count(name) && !local_.user_names.count(name) &&
                            !local_.groups.count(name) && !locally_used(r.uid);
        PublishedUser u;
        u.name = name;
        u.uid = r.uid;
        u.home = home_path(policy_, name);
        if (usable && grants != nullptr && grants->active) {
            r.active_end = grants->active_end;
            r.gecos = sanitize_gecos(grants->gecos_grant->display_name);
            u.shell = shell_of(name, grants->login_grant);
            for (const auto& gname : grants->groups) {
                auto g = local_.groups.find(gname);
                if (g == local_.groups.end() || g->second == UINT32_MAX) {
                    warn("group.unknown", name, "group " + gname + " is not in " + policy_.group_file + "; not added");
                    continue;
                }
                if (g->second != r.uid) u.groups.push_back(g->second);
            }
        } else {
            if (r.present && r.active_end > now_) r.active_end = now_;  // the window ended early
            const bool retained = usable && r.present && policy_.retention_seconds > 0 &&
                                  now_ < r.active_end + policy_.retention_seconds;
            if (!retained) {
                if (r.present) {
                    r.present = false;
                    r.gone_since = now_;
                }
                return std::nullopt;
            }
            u.shell = policy_.nologin_shell;
            u.retained = true;
        }
        if (!policy_.member_group.empty()) {
            auto g = local_.groups.find(policy_.member_group);
            if (g == local_.groups.end() || g->second == UINT32_MAX)
                warn("group.unknown", name,
                     "group " + policy_.member_group + " (ssh.users_group) is not in " + policy_.group_file +
                         "; not added");
            else if (g->second != r.uid)
                u.groups.push_back(g->second);
        }
        r.present = true;
        u.gecos = r.gecos;
        std::sort(u.groups.begin(), u.groups.end());
        u.groups.erase(std::unique(u.groups.begin(), u.groups.end()), u.groups.end());
        return u;
    }

    // An active user's shell: from the ruling login grant (nologin without
    // one), replaced by the recording shell when sessions are recorded.
    std::string shell_of(const std::string& name, const Grant* login_grant) {
        if (login_grant == nullptr) return policy_.nologin_shell;
        std::string shell = policy_.default_shell;
        if (shell_ok(login_grant->shell))
            shell = login_grant->shell;
        else if (!login_grant->shell.empty())
            warn("grant.shell", name,
                 "grant " + login_grant->id + " has an unusable shell; using " + policy_.default_shell);
        return policy_.recording_shell.empty() ? shell : policy_.recording_shell;
    }

    const NssPolicy& policy_;
    const LocalAccounts& local_;
    const UnixTime now_;
    Records recs_;
    ReleasedUids released_;
    std::map<std::uint32_t, std::string> holder_;  // uid -> the record holding it
    std::map<std::string, UserGrants> users_;      // every valid user a grant names
    std::set<std::string> skipped_;                // named by grants, not published (warned)
    std::vector<PublishWarning> warnings_;
    std::uint32_t cursor_ = policy_.uid_min;
    bool range_scanned_ = false;
};

}  // namespace

UserPlan plan_users(const NssPolicy& policy, const std::vector<Grant>& grants, const LocalAccounts& local,
                    UidState state, UnixTime now) {
    Planner planner(policy, local, std::move(state), now);
    planner.summarize(grants);
    planner.assign_uids();
    return planner.entries();
}

}  // namespace jit::nss
