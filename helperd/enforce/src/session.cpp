// Session table persistence (atomic JSON file) and /proc start times.
#include <jit/enforce/session.hpp>
#include <jit/enforce/procfs.hpp>

#include <jit/durable_file.hpp>
#include <jit/json_text.hpp>

#include <json/json.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace jit::enforce {
namespace {

constexpr int kStateVersion = 1;
constexpr std::size_t kMaxStateBytes = 16 * 1024 * 1024;

Error state_error(const std::string& path, const std::string& what) {
    return make_error("enforce.state", path + ": " + what);
}

const char* phase_name(GrantPhase p) { return to_string(p); }

std::optional<GrantPhase> parse_phase(const std::string& s) {
    if (s == "pending") return GrantPhase::Pending;
    if (s == "active") return GrantPhase::Active;
    if (s == "ended") return GrantPhase::Ended;
    return std::nullopt;
}

// Typed reads that fail with the field's name.
struct Reader {
    const std::string& path;
    std::string where;
    std::optional<Error> err;

    std::string str(const Json::Value& o, const char* k) {
        const Json::Value& v = o[k];
        if (v.isNull()) return {};
        if (!v.isString()) { fail(k, "not a string"); return {}; }
        return v.asString();
    }
    std::int64_t i64(const Json::Value& o, const char* k) {
        const Json::Value& v = o[k];
        if (v.isNull()) return 0;
        if (!v.isInt64()) { fail(k, "not an integer"); return 0; }
        return v.asInt64();
    }
    std::uint64_t u64(const Json::Value& o, const char* k) {
        const Json::Value& v = o[k];
        if (v.isNull()) return 0;
        if (!v.isUInt64()) { fail(k, "not an unsigned integer"); return 0; }
        return v.asUInt64();
    }
    void fail(const char* k, const char* what) {
        if (!err) err = state_error(path, where + "." + k + ": " + what);
    }
};

}  // namespace

std::string session_key(const std::string& logind_id, pid_t pid, const std::string& tty) {
    if (!logind_id.empty()) return "logind:" + logind_id;
    return "pid:" + std::to_string(pid) + ":" + tty;
}

const char* to_string(GrantPhase phase) {
    switch (phase) {
    case GrantPhase::Pending: return "pending";
    case GrantPhase::Active: return "active";
    case GrantPhase::Ended: return "ended";
    }
    return "pending";
}

Result<PersistedState> load_state(const std::string& path) {
    PersistedState st;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return st;
        return state_error(path, std::string("cannot open: ") + std::strerror(errno));
    }
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            ::close(fd);
            return state_error(path, std::string("read failed: ") + std::strerror(e));
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxStateBytes) {
            ::close(fd);
            return state_error(path, "larger than " + std::to_string(kMaxStateBytes) + " bytes");
        }
    }
    ::close(fd);

    Json::CharReaderBuilder b;
    b["collectComments"] = false;
    b["rejectDupKeys"] = true;
    Json::Value root;
    std::string errs;
    std::unique_ptr<Json::CharReader> reader(b.newCharReader());
    if (!reader->parse(text.data(), text.data() + text.size(), &root, &errs) || !root.isObject())
        return state_error(path, "not a JSON object: " + errs);
    if (!root["version"].isInt() || root["version"].asInt() != kStateVersion)
        return state_error(path, "version: expected " + std::to_string(kStateVersion));

    Reader r{path, {}, std::nullopt};
    const Json::Value& sessions = root["sessions"];
    if (!sessions.isNull() && !sessions.isArray()) return state_error(path, "sessions: not an array");
    for (Json::ArrayIndex i = 0; i < sessions.size(); ++i) {
        const Json::Value& o = sessions[i];
        r.where = "sessions[" + std::to_string(i) + "]";
        if (!o.isObject()) return state_error(path, r.where + ": not an object");
        Session s;
        s.logind_id = r.str(o, "logind_id");
        s.user = r.str(o, "user");
        s.uid = static_cast<std::uint32_t>(r.u64(o, "uid"));
        s.service = r.str(o, "service");
        s.tty = r.str(o, "tty");
        s.rhost = r.str(o, "rhost");
        s.pid = static_cast<pid_t>(r.i64(o, "pid"));
        s.pid_start = r.u64(o, "pid_start");
        s.opened_at = r.i64(o, "opened_at");
        s.grant_id = r.str(o, "grant_id");
        s.warned_end = r.i64(o, "warned_end");
        s.warned_offset = r.i64(o, "warned_offset");
        const Json::Value& ending = o["ending"];
        if (!ending.isNull()) {
            r.where += ".ending";
            if (!ending.isObject()) return state_error(path, r.where + ": not an object");
            s.ending = true;
            s.end_reason = r.str(ending, "reason");
            s.end_grant_id = r.str(ending, "grant_id");
            s.end_not_after = r.i64(ending, "not_after");
            s.end_decided_at = r.i64(ending, "decided_at");
            s.end_how = r.str(ending, "how");
            s.end_error = r.str(ending, "error");
            if (!r.err && s.end_reason.empty()) r.fail("reason", "missing");
        }
        if (r.err) return *r.err;
        if (s.user.empty()) return state_error(path, r.where + ".user: missing");
        s.key = session_key(s.logind_id, s.pid, s.tty);
        st.sessions[s.key] = std::move(s);
    }
    const Json::Value& grants = root["grants"];
    if (!grants.isNull() && !grants.isObject()) return state_error(path, "grants: not an object");
    for (const std::string& id : grants.getMemberNames()) {
        const Json::Value& o = grants[id];
        r.where = "grants." + id;
        if (!o.isObject()) return state_error(path, r.where + ": not an object");
        GrantState g;
        auto phase = parse_phase(r.str(o, "phase"));
        if (!phase) return state_error(path, r.where + ".phase: not pending|active|ended");
        g.phase = *phase;
        g.user = r.str(o, "user");
        g.not_before = r.i64(o, "not_before");
        g.not_after = r.i64(o, "not_after");
        if (r.err) return *r.err;
        st.grants[id] = g;
    }
    const Json::Value& users = root["user_last_grant"];
    if (!users.isNull() && !users.isObject()) return state_error(path, "user_last_grant: not an object");
    for (const std::string& u : users.getMemberNames()) {
        if (!users[u].isInt64()) return state_error(path, "user_last_grant." + u + ": not an integer");
        st.user_last_grant[u] = users[u].asInt64();
    }
    const Json::Value& homes = root["homes"];
    if (!homes.isNull() && !homes.isObject()) return state_error(path, "homes: not an object");
    for (const std::string& u : homes.getMemberNames()) {
        const Json::Value& o = homes[u];
        r.where = "homes." + u;
        if (!o.isObject()) return state_error(path, r.where + ": not an object");
        CreatedHome h;
        h.path = r.str(o, "path");
        h.uid = static_cast<uid_t>(r.u64(o, "uid"));
        h.created_at = r.i64(o, "created_at");
        h.attempts = static_cast<int>(r.i64(o, "attempts"));
        h.partial_archive = r.str(o, "partial_archive");
        h.archive = r.str(o, "archive");
        if (!r.err && (h.attempts < 0 || h.attempts > 1000)) r.fail("attempts", "out of range 0-1000");
        if (r.err) return *r.err;
        st.homes[u] = h;
    }
    return st;
}

Status save_state(const std::string& path, const PersistedState& st) {
    Json::Value root(Json::objectValue);
    root["version"] = kStateVersion;
    Json::Value sessions(Json::arrayValue);
    for (const auto& [key, s] : st.sessions) {
        Json::Value o(Json::objectValue);
        o["logind_id"] = s.logind_id;
        o["user"] = s.user;
        o["uid"] = Json::UInt64(s.uid);
        o["service"] = s.service;
        o["tty"] = s.tty;
        o["rhost"] = s.rhost;
        o["pid"] = Json::Int64(s.pid);
        o["pid_start"] = Json::UInt64(s.pid_start);
        o["opened_at"] = Json::Int64(s.opened_at);
        o["grant_id"] = s.grant_id;
        o["warned_end"] = Json::Int64(s.warned_end);
        o["warned_offset"] = Json::Int64(s.warned_offset);
        if (s.ending) {
            Json::Value e(Json::objectValue);
            e["reason"] = s.end_reason;
            e["grant_id"] = s.end_grant_id;
            e["not_after"] = Json::Int64(s.end_not_after);
            e["decided_at"] = Json::Int64(s.end_decided_at);
            e["how"] = s.end_how;
            e["error"] = s.end_error;
            o["ending"] = e;
        }
        sessions.append(o);
    }
    root["sessions"] = sessions;
    Json::Value grants(Json::objectValue);
    for (const auto& [id, g] : st.grants) {
        Json::Value o(Json::objectValue);
        o["phase"] = phase_name(g.phase);
        o["user"] = g.user;
        o["not_before"] = Json::Int64(g.not_before);
        o["not_after"] = Json::Int64(g.not_after);
        grants[id] = o;
    }
    root["grants"] = grants;
    Json::Value users(Json::objectValue);
    for (const auto& [u, t] : st.user_last_grant) users[u] = Json::Int64(t);
    root["user_last_grant"] = users;
    Json::Value homes(Json::objectValue);
    for (const auto& [u, h] : st.homes) {
        Json::Value o(Json::objectValue);
        o["path"] = h.path;
        o["uid"] = Json::UInt64(h.uid);
        o["created_at"] = Json::Int64(h.created_at);
        if (h.attempts) o["attempts"] = h.attempts;
        if (!h.partial_archive.empty()) o["partial_archive"] = h.partial_archive;
        if (!h.archive.empty()) o["archive"] = h.archive;
        homes[u] = o;
    }
    root["homes"] = homes;

    const std::string text = indented_json(root, " ") + "\n";

    if (auto written = durable::write_file_durably(path, text); !written)
        return make_error("enforce.state", written.error().message);
    return Ok{};
}

// Read at every evaluation for every session without logind (whether it is
// still there): one open and read, no stream machinery.
std::optional<std::uint64_t> process_start_time(pid_t pid, const std::string& proc_root) {
    if (pid <= 0) return std::nullopt;
    const int fd = ::open((proc_root + "/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    char buf[4096];
    ssize_t n;
    do n = ::read(fd, buf, sizeof buf); while (n < 0 && errno == EINTR);
    ::close(fd);
    if (n <= 0) return std::nullopt;
    auto p = parse_proc_stat(std::string_view(buf, static_cast<std::size_t>(n)));
    if (!p) return std::nullopt;
    return p->start;
}

}  // namespace jit::enforce
