// Reading /proc, and the fallback session-process discovery (docs/enforcement.md).
#include <jit/enforce/procfs.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <map>

namespace jit::enforce {
namespace {

constexpr unsigned kPfKthread = 0x00200000;  // include/linux/sched.h
constexpr std::size_t kMaxEnvironBytes = 256 * 1024;

std::optional<std::string> read_small(const std::string& path, std::size_t limit) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() >= limit) break;
    }
    ::close(fd);
    return out;
}

template <class T>
bool to_num(std::string_view s, T& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parse_uids(const std::string& status, ProcInfo& p) {
    auto pos = status.find("\nUid:");
    if (pos == std::string::npos) return false;
    auto end = status.find('\n', pos + 1);
    std::string_view line(status.data() + pos + 5, (end == std::string::npos ? status.size() : end) - pos - 5);
    uid_t v[4];
    int n = 0;
    std::size_t i = 0;
    while (n < 4 && i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        std::size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
        if (j == i || !to_num(line.substr(i, j - i), v[n])) return false;
        ++n;
        i = j;
    }
    if (n != 4) return false;
    p.ruid = v[0];
    p.euid = v[1];
    p.suid = v[2];
    p.fsuid = v[3];
    return true;
}

using Attribution = std::map<pid_t, FoundBy>;

// Rules 1-3 of docs/enforcement.md for one session: the registered leader, its
// descendants of the user, and the user's processes sharing a session id or
// process group, or the SSH_CONNECTION / XDG_SESSION_ID of the session.
Attribution attribute(const ProcTable& procs, const Session& s, const DiscoveryOptions& opts,
                      const std::vector<FoundProcess>& seeds = {}) {
    Attribution found;
    const uid_t u = s.uid;
    if (u < opts.min_uid || s.pid <= 1 || s.pid_start == 0) return found;
    const ProcInfo* leader = procs.find(s.pid);
    if (leader && leader->start == s.pid_start) found[s.pid] = FoundBy::Leader;  // else gone, or the pid was reused
    for (const FoundProcess& f : seeds) {
        const ProcInfo* p = procs.find(f.pid);
        if (p && p->start == f.start && p->owned_by(u) && !found.count(f.pid)) found[f.pid] = f.by;
    }
    if (found.empty()) return found;
    std::vector<pid_t> roots;
    for (const auto& [pid, by] : found) roots.push_back(pid);

    auto add_tree = [&](pid_t root, FoundBy by) {
        std::vector<pid_t> stack{root};
        std::set<pid_t> seen;
        while (!stack.empty()) {
            pid_t p = stack.back();
            stack.pop_back();
            if (!seen.insert(p).second) continue;
            for (const ProcInfo* c : procs.children(p)) {
                if (c->kernel_thread) continue;
                if (c->owned_by(u) && !found.count(c->pid)) found[c->pid] = by;
                stack.push_back(c->pid);  // walk through other users' processes (e.g. sudo) too
            }
        }
    };
    for (pid_t r : roots) add_tree(r, FoundBy::Tree);

    // Never the daemon's own session or process group (a leader that shares it
    // must not turn every process of ours into "the session's").
    const pid_t own_sid = ::getsid(0), own_pgid = ::getpgrp();
    std::set<std::string> ssh_connections;
    for (int round = 0; round < 8; ++round) {
        std::set<pid_t> marks;
        for (const auto& [pid, by] : found) {
            const ProcInfo* p = procs.find(pid);
            if (!p || !p->owned_by(u)) continue;
            if (p->sid > 1) marks.insert(p->sid);
            if (p->pgid > 1) marks.insert(p->pgid);
            if (ssh_connections.size() < 16)
                if (auto v = procs.environ_value(pid, "SSH_CONNECTION"); v && !v->empty()) ssh_connections.insert(*v);
        }
        marks.erase(own_sid);
        marks.erase(own_pgid);
        std::vector<pid_t> added;
        for (const ProcInfo& p : procs.all()) {
            if (p.kernel_thread || !p.owned_by(u) || found.count(p.pid)) continue;
            if (marks.count(p.sid) || marks.count(p.pgid)) {
                found[p.pid] = FoundBy::SessionOrGroup;
                added.push_back(p.pid);
                continue;
            }
            bool env_match = false;
            if (!ssh_connections.empty())
                if (auto v = procs.environ_value(p.pid, "SSH_CONNECTION"); v && ssh_connections.count(*v))
                    env_match = true;
            if (!env_match && !s.logind_id.empty())
                if (auto v = procs.environ_value(p.pid, "XDG_SESSION_ID"); v && *v == s.logind_id) env_match = true;
            if (env_match) {
                found[p.pid] = FoundBy::Environment;
                added.push_back(p.pid);
            }
        }
        for (pid_t p : added) add_tree(p, FoundBy::Tree);
        if (added.empty()) break;
    }
    return found;
}

}  // namespace

std::optional<ProcInfo> parse_proc_stat(std::string_view text) {
    ProcInfo p;
    auto open = text.find('(');
    auto close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
    if (!to_num(text.substr(0, open > 0 ? open - 1 : 0), p.pid)) return std::nullopt;
    std::string_view rest = text.substr(close + 1);
    std::vector<std::string_view> f;  // f[0] is field 3 (state)
    std::size_t i = 0;
    while (i < rest.size() && f.size() < 20) {
        while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n')) ++i;
        std::size_t j = i;
        while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
        if (j > i) f.push_back(rest.substr(i, j - i));
        i = j;
    }
    if (f.size() < 20) return std::nullopt;
    unsigned flags = 0;
    if (!to_num(f[1], p.ppid) || !to_num(f[2], p.pgid) || !to_num(f[3], p.sid) || !to_num(f[4], p.tty_nr) ||
        !to_num(f[6], flags) || !to_num(f[19], p.start))
        return std::nullopt;
    p.kernel_thread = (flags & kPfKthread) != 0;
    p.state = f[0].empty() ? '?' : f[0][0];
    return p;
}

ProcTable ProcTable::read(const std::string& proc_root) {
    ProcTable procs;
    procs.root_ = proc_root;
    DIR* d = ::opendir(proc_root.c_str());
    if (!d) return procs;
    while (dirent* e = ::readdir(d)) {
        pid_t pid = 0;
        if (!to_num(std::string_view(e->d_name), pid) || pid <= 0) continue;
        const std::string base = proc_root + "/" + e->d_name;
        auto stat = read_small(base + "/stat", 4096);
        auto status = read_small(base + "/status", 16384);
        if (!stat || !status) continue;  // exited meanwhile
        auto p = parse_proc_stat(*stat);
        if (!p || p->pid != pid || !parse_uids("\n" + *status, *p)) continue;
        if (p->state == 'Z' || p->state == 'X') continue;  // dead: nothing to signal, nothing alive
        procs.procs_.push_back(*p);
    }
    ::closedir(d);
    std::sort(procs.procs_.begin(), procs.procs_.end(), [](const ProcInfo& a, const ProcInfo& b) { return a.pid < b.pid; });
    return procs;
}

ProcTable ProcTable::from(std::vector<ProcInfo> procs, std::string proc_root) {
    ProcTable table;
    table.root_ = std::move(proc_root);
    table.procs_ = std::move(procs);
    std::sort(table.procs_.begin(), table.procs_.end(), [](const ProcInfo& a, const ProcInfo& b) { return a.pid < b.pid; });
    return table;
}

const ProcInfo* ProcTable::find(pid_t pid) const {
    auto it = std::lower_bound(procs_.begin(), procs_.end(), pid, [](const ProcInfo& p, pid_t v) { return p.pid < v; });
    return it != procs_.end() && it->pid == pid ? &*it : nullptr;
}

std::vector<const ProcInfo*> ProcTable::children(pid_t pid) const {
    std::vector<const ProcInfo*> out;
    for (const ProcInfo& p : procs_)
        if (p.ppid == pid && p.pid != pid) out.push_back(&p);
    return out;
}

std::optional<std::string> ProcTable::environ_value(pid_t pid, std::string_view name) const {
    auto env = read_small(root_ + "/" + std::to_string(pid) + "/environ", kMaxEnvironBytes);
    if (!env) return std::nullopt;
    std::string_view all(*env);
    std::size_t i = 0;
    while (i < all.size()) {
        auto end = all.find('\0', i);
        if (end == std::string_view::npos) end = all.size();
        std::string_view kv = all.substr(i, end - i);
        if (kv.size() > name.size() && kv.substr(0, name.size()) == name && kv[name.size()] == '=')
            return std::string(kv.substr(name.size() + 1));
        i = end + 1;
    }
    return std::nullopt;
}

const char* to_string(FoundBy by) {
    switch (by) {
    case FoundBy::Leader: return "leader";
    case FoundBy::Tree: return "tree";
    case FoundBy::SessionOrGroup: return "sid-or-pgid";
    case FoundBy::Environment: return "environment";
    case FoundBy::Orphan: return "orphan";
    }
    return "?";
}

std::vector<FoundProcess> discover_session_processes(const ProcTable& procs, const Session& target,
                                                     const std::vector<Session>& staying,
                                                     const DiscoveryOptions& opts,
                                                     const std::vector<FoundProcess>& seeds) {
    std::vector<FoundProcess> out;
    const uid_t u = target.uid;
    if (u < opts.min_uid) return out;
    Attribution mine = attribute(procs, target, opts, seeds);
    if (mine.empty()) return out;  // the leader is gone and nothing seeds the search: see docs (limits)

    std::set<pid_t> spared;
    for (const Session& s : staying) {
        if (s.uid != u || s.key == target.key) continue;
        for (const auto& [pid, by] : attribute(procs, s, opts))
            if (pid != target.pid) spared.insert(pid);
    }
    auto staying_before = [&](std::uint64_t start) {
        for (const Session& s : staying)
            if (s.uid == u && s.key != target.key && s.pid_start <= start) return true;
        return false;
    };

    // Rule 4: orphans of the user (reparented to PID 1 or to a subreaper that
    // predates the session) started after the session, that nothing else claims.
    std::vector<pid_t> orphans;
    for (const ProcInfo& p : procs.all()) {
        if (p.kernel_thread || !p.owned_by(u) || mine.count(p.pid) || spared.count(p.pid)) continue;
        if (p.start < target.pid_start || staying_before(p.start)) continue;
        const ProcInfo* parent = procs.find(p.ppid);
        bool orphan = p.ppid == 1;
        if (!orphan && parent && !parent->owned_by(u) && parent->start < target.pid_start && !mine.count(parent->pid) &&
            !spared.count(parent->pid))
            orphan = true;
        if (orphan) orphans.push_back(p.pid);
    }
    for (pid_t root : orphans) {
        std::vector<pid_t> stack{root};
        while (!stack.empty()) {
            pid_t p = stack.back();
            stack.pop_back();
            const ProcInfo* info = procs.find(p);
            if (!info || mine.count(p) || spared.count(p) || !info->owned_by(u)) continue;
            mine[p] = FoundBy::Orphan;
            for (const ProcInfo* c : procs.children(p)) stack.push_back(c->pid);
        }
    }

    for (const auto& [pid, by] : mine) {
        if (pid <= 1 || opts.protected_pids.count(pid)) continue;
        if (by != FoundBy::Leader && spared.count(pid)) continue;
        const ProcInfo* p = procs.find(pid);
        if (!p) continue;
        if (by != FoundBy::Leader && !p->owned_by(u)) continue;
        out.push_back({pid, p->start, by});
    }
    return out;
}

std::vector<std::string> session_terminals(const ProcTable& procs, const Session& target) {
    std::set<std::string> ttys;
    DiscoveryOptions opts;
    opts.min_uid = 0;
    for (const auto& [pid, by] : attribute(procs, target, opts)) {
        if (by != FoundBy::Leader && by != FoundBy::Tree) continue;
        const ProcInfo* p = procs.find(pid);
        if (!p || p->tty_nr == 0) continue;
        const unsigned dev = static_cast<unsigned>(p->tty_nr);
        const unsigned major = (dev >> 8) & 0xfff;
        const unsigned minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
        if (major >= 136 && major <= 143)
            ttys.insert("/dev/pts/" + std::to_string((major - 136) * 256 + minor));
        else if (major == 4 && minor >= 1 && minor < 64)
            ttys.insert("/dev/tty" + std::to_string(minor));
    }
    return {ttys.begin(), ttys.end()};
}

}  // namespace jit::enforce
