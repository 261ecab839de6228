// See module_core.hpp.
#include "module_core.hpp"

#include <jit/access_kind.hpp>
#include <jit/ipc.hpp>

#include "snapshot_reader.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <vector>

namespace jit::pam {
namespace {

bool starts_with(const char* s, const char* prefix, const char** rest) {
    std::size_t n = std::strlen(prefix);
    if (std::strncmp(s, prefix, n) != 0) return false;
    *rest = s + n;
    return true;
}

// Strict decimal parse into [lo, hi]; false if not a number.
bool parse_number(const char* s, long long lo, long long hi, long long* out) {
    if (*s == '\0') return false;
    long long v = 0;
    for (const char* p = s; *p; ++p) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
        if (v > 100000000000LL) return false;
    }
    *out = v < lo ? lo : v > hi ? hi : v;
    return true;
}

}  // namespace

std::string one_line(const std::string& text) {
    std::string out;
    out.reserve(text.size() < 300 ? text.size() : 300);
    for (char c : text) {
        if (out.size() >= 300) break;
        unsigned char u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? '?' : c;
    }
    if (text.size() > out.size()) {
        // Cut at a character boundary: drop a UTF-8 sequence the limit split.
        std::size_t n = out.size();
        while (n > 0 && (static_cast<unsigned char>(out[n - 1]) & 0xC0) == 0x80) --n;
        if (n > 0) {
            const unsigned char lead = static_cast<unsigned char>(out[n - 1]);
            const std::size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (want > 1 && out.size() - (n - 1) < want) out.resize(n - 1);
        }
    }
    return out;
}

ModuleArgs parse_args(int argc, const char** argv) {
    ModuleArgs a;
    std::vector<std::string_view> keys;  // "key=" of each key=value argument so far
    for (int i = 0; i < argc; ++i) {
        const char* arg = argv[i];
        if (!arg) continue;
        const char* v = nullptr;
        long long n = 0;
        if (const char* eq = std::strchr(arg, '=')) {
            const std::string_view key(arg, std::size_t(eq - arg) + 1);
            if (std::find(keys.begin(), keys.end(), key) != keys.end())
                a.warnings.push_back(std::string("argument '") + arg + "' repeats " + std::string(key) + "; the last one is used");
            else
                keys.push_back(key);
        }
        if (std::strcmp(arg, "debug") == 0) {
            a.debug = true;
        } else if (std::strcmp(arg, "quiet") == 0) {
            a.quiet = true;
        } else if (starts_with(arg, "socket=", &v)) {
            if (*v == '/' && std::strlen(v) < 108)
                a.socket = v;
            else
                a.warnings.push_back(std::string("argument '") + arg + "': socket must be an absolute path shorter than 108 bytes; using " + a.socket);
        } else if (starts_with(arg, "timeout_ms=", &v)) {
            if (parse_number(v, kMinTimeoutMs, kMaxTimeoutMs, &n)) {
                if (std::to_string(n) != v)
                    a.warnings.push_back(std::string("argument '") + arg + "': clamped to " + std::to_string(n) + " (range 50..10000)");
                a.timeout_ms = int(n);
            } else {
                a.warnings.push_back(std::string("argument '") + arg + "': not a number; using " + std::to_string(a.timeout_ms));
            }
        } else if (starts_with(arg, "kind=", &v)) {
            if (parse_access_kind(v))
                a.kind = v;
            else
                a.warnings.push_back(std::string("argument '") + arg + "': kind must be login, sudo or su; classifying by service");
        } else if (starts_with(arg, "managed_groups=", &v) || starts_with(arg, "break_glass=", &v)) {
            const bool groups = std::strncmp(arg, "managed_groups=", 15) == 0;
            std::vector<std::string>& list = groups ? a.managed_groups : a.break_glass;
            list.clear();
            std::string name;
            for (const char* p = v;; ++p) {
                if (*p != ',' && *p != '\0') {
                    name += *p;
                    continue;
                }
                if (jit_name_plausible(name.c_str()))
                    list.push_back(name);
                else if (!name.empty() || *v != '\0')  // an empty item, unless the whole list is empty
                    a.warnings.push_back(std::string("argument '") + arg + "': '" + one_line(name) + "' is not a " +
                                         (groups ? "group" : "user") + " name jitlogin can manage; left out");
                name.clear();
                if (*p == '\0') break;
            }
        } else if (starts_with(arg, "nss_db=", &v)) {
            if (*v == '/' && std::strlen(v) < 4096)
                a.nss_db = v;
            else
                a.warnings.push_back(std::string("argument '") + arg + "': nss_db must be an absolute path; using " + a.nss_db);
        } else if (starts_with(arg, "uid_min=", &v) || starts_with(arg, "uid_max=", &v)) {
            const bool is_min = std::strncmp(arg, "uid_min=", 8) == 0;
            if (parse_number(v, 1, 4294967294LL, &n) && std::to_string(n) == v)
                (is_min ? a.uid_min : a.uid_max) = std::uint32_t(n);
            else
                a.warnings.push_back(std::string("argument '") + arg + "': not a uid in 1..4294967294; ignored");
        } else {
            a.warnings.push_back(std::string("unknown argument '") + arg + "' ignored");
        }
    }
    if (a.uid_min > a.uid_max) {
        a.warnings.push_back("uid_min > uid_max; using the defaults " + std::to_string(kDefaultUidMin) + ".." +
                             std::to_string(kDefaultUidMax));
        a.uid_min = kDefaultUidMin;
        a.uid_max = kDefaultUidMax;
    }
    return a;
}

bool never_managed(const std::string& user) { return user == "root" || !jit_name_plausible(user.c_str()); }

bool in_nss_snapshot(const std::string& path, const std::string& user, std::string* why) {
    jit_snap* snap = nullptr;
    const int rc = jit_snap_open(path.c_str(), 0, &snap);
    if (rc != JIT_SNAP_OK) {
        *why = "NSS snapshot " + path + (rc == JIT_SNAP_CORRUPT ? " is corrupt" : " cannot be read (missing, not root's, or writable by others)");
        return false;
    }
    jit_pw_view view{};
    const int found = jit_snap_user_by_name(snap, user.c_str(), &view);
    jit_snap_free(snap);
    if (found == JIT_SNAP_CORRUPT) *why = "NSS snapshot " + path + ": the record for " + user + " is corrupt";
    return found == JIT_SNAP_OK;
}

LocalVerdict managed_without_daemon(const std::string& user, const ModuleArgs& args, const LocalFacts& facts) {
    if (user == "root") return {false, "root is never managed"};
    if (never_managed(user)) return {false, "not a name a grant can carry"};
    if (std::find(args.break_glass.begin(), args.break_glass.end(), user) != args.break_glass.end())
        return {false, "break-glass user"};
    std::string snapshot_problem;
    if (facts.in_snapshot(args.nss_db, user, &snapshot_problem)) return {true, "in the NSS snapshot"};
    const std::string also = snapshot_problem.empty() ? "" : " (" + snapshot_problem + ")";
    const LocalAccount acct = facts.account(user);
    if (!acct.uid)
        return {true, (acct.lookup_failed ? "NSS lookup failed" : "no NSS source knows the user") + also};
    const std::string uid = "uid " + std::to_string(*acct.uid);
    if (*acct.uid == 0) return {false, "uid 0 is never managed"};
    if (*acct.uid >= args.uid_min && *acct.uid <= args.uid_max)
        return {true, uid + " in the managed range " + std::to_string(args.uid_min) + ".." + std::to_string(args.uid_max)};
    for (const std::string& g : acct.groups)
        if (std::find(args.managed_groups.begin(), args.managed_groups.end(), g) != args.managed_groups.end())
            return {true, "member of the managed group " + g};
    if (!args.managed_groups.empty() && acct.lookup_failed)
        return {true, "its groups could not all be read" + also};
    return {false, uid + " outside the managed range and in no managed group" + also};
}

namespace {

// Whom a PAM transaction is about. sudo sets PAM_USER to the target in its
// session phase (and with rootpw/targetpw in its account phase) and PAM_RUSER
// to the invoking user: a sudo is the invoking user's (`requester`, a sudo to
// `target`); when the requester is not managed, becoming a managed target is
// checked like su to it. Everything else (login, su) is about PAM_USER.
struct Subject {
    std::string user;
    std::string kind;    // sent as "kind" ("" = the daemon classifies by service)
    std::string run_as;  // sent as "run_as" ("" = unknown)
};

struct Subjects {
    Subject first;
    std::optional<Subject> then;  // asked when `first` is not managed
    bool sudo = false;
};

Subjects subjects_of(const ModuleArgs& args, const PamItems& items) {
    Subjects s;
    s.sudo = (args.kind.empty() ? classify_service(items.service) : parse_access_kind(args.kind)) == AccessKind::Sudo;
    s.first = {items.user, args.kind, ""};
    if (s.sudo && !items.ruser.empty() && items.ruser != items.user) {
        s.first = {items.ruser, to_string(AccessKind::Sudo), items.user};
        s.then = Subject{items.user, to_string(AccessKind::Su), ""};
    }
    return s;
}

enum class Reach { Answered, Error, Unreachable };

struct DaemonReply {
    Reach reach = Reach::Unreachable;
    ipc::Message msg;
    std::string why;  // Error / Unreachable: for the log
};

// One round trip. "Could not answer" (Unreachable): no connection, timeout,
// a garbled frame, or error=busy (no room for us). "Answered an error about
// this request" (Error): any other status=error.
DaemonReply ask_once(const ModuleArgs& args, const ipc::Message& req, std::chrono::milliseconds timeout, bool* busy) {
    DaemonReply r;
    std::string err;
    *busy = false;
    auto resp = ipc::call(args.socket, req, timeout, &err);
    if (!resp) {
        r.why = one_line(err);
        return r;
    }
    r.msg = std::move(*resp);
    const std::string status = ipc::get(r.msg, "status");
    if (status == "ok") {
        r.reach = Reach::Answered;
        return r;
    }
    const std::string code = ipc::get(r.msg, "error", "?");
    r.why = one_line("error " + code + ": " + ipc::get(r.msg, "message"));
    *busy = status == "error" && code == "busy";
    r.reach = status == "error" && !*busy ? Reach::Error : Reach::Unreachable;
    return r;
}

// error=busy means the daemon is up but all its connection slots are taken
// (a burst of PAM checks): ask again after a short, growing, jittered pause
// (2 ms doubling to 50 ms) for as long as `timeout_ms` allows, rather than
// refuse a user the daemon would allow a moment later. Anything else is final.
DaemonReply ask(const ModuleArgs& args, const ipc::Message& req) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(args.timeout_ms);
    std::minstd_rand jitter(unsigned(Clock::now().time_since_epoch().count()) ^ unsigned(getpid()));
    std::chrono::milliseconds pause(2);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        bool busy = false;
        DaemonReply r = ask_once(args, req, std::max(left, std::chrono::milliseconds(1)), &busy);
        const auto wait = pause + std::chrono::milliseconds(jitter() % std::uint32_t(pause.count()));
        if (!busy || Clock::now() + wait >= deadline) return r;
        std::this_thread::sleep_for(wait);
        pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
}

ipc::Message request_for(const char* op, const Subject& who, const PamItems& items) {
    ipc::Message m;
    m["op"] = op;
    m["user"] = who.user;
    m["service"] = items.service;
    if (!items.rhost.empty()) m["rhost"] = items.rhost;
    if (!items.tty.empty()) m["tty"] = items.tty;
    if (!items.ruser.empty()) m["ruser"] = items.ruser;
    if (!who.kind.empty()) m["kind"] = who.kind;
    if (!who.run_as.empty()) m["run_as"] = who.run_as;
    return m;
}

const char* const kUnreachable = "jitlogin: cannot reach jit-helperd; access for JIT users is refused";
const char* const kCouldNotDecide = "jitlogin: jit-helperd could not decide; access for JIT users is refused";

// The daemon did not give a decision: the local facts decide who is managed.
Outcome without_decision(const ModuleArgs& args, const PamItems& items, const Subject& who, const DaemonReply& r,
                         const LocalFacts& facts, Code managed_code, const char* user_text) {
    Outcome o;
    const LocalVerdict v = managed_without_daemon(who.user, args, facts);
    const std::string what = r.reach == Reach::Error ? "jit-helperd answered " + r.why : "jit-helperd unavailable (" + r.why + ")";
    if (v.managed) {
        o.code = managed_code;
        if (user_text) o.user_error = user_text;
        o.log = what + "; refusing JIT-managed user " + who.user + " (" + v.why + ") for " + items.service;
        o.log_is_error = true;
    } else {
        o.code = Code::Ignore;
        o.log = what + "; " + who.user + " is not JIT-managed (" + v.why + "), ignoring";
        // An error answer is a fault worth seeing even when it changed nothing.
        o.log_is_error = r.reach == Reach::Error;
    }
    return o;
}

Outcome ignored(const Subject& who, const char* why) {
    Outcome o;
    o.code = Code::Ignore;
    o.log = "ignore " + who.user + ": " + why;
    return o;
}

Outcome check_one(const ModuleArgs& args, const PamItems& items, const Subject& who, bool sudo,
                  const LocalFacts& facts, bool* daemon_down) {
    if (never_managed(who.user)) return ignored(who, "never managed (root, or not a name a grant can carry)");
    DaemonReply r;
    if (*daemon_down) r.why = "no answer to the previous question";
    else r = ask(args, request_for("check", who, items));
    if (r.reach == Reach::Unreachable) *daemon_down = true;
    if (r.reach == Reach::Unreachable)
        return without_decision(args, items, who, r, facts, Code::AuthinfoUnavail, kUnreachable);
    if (r.reach == Reach::Error)
        return without_decision(args, items, who, r, facts, Code::PermDenied, kCouldNotDecide);

    const std::string decision = ipc::get(r.msg, "decision");
    const std::string reason = one_line(ipc::get(r.msg, "reason"));
    const std::string message = one_line(ipc::get(r.msg, "message"));
    const std::string what = (who.kind.empty() ? "" : who.kind + " ") + who.user + " for " + items.service;
    Outcome o;
    o.grant_id = one_line(ipc::get(r.msg, "grant_id"));
    if (decision == "allow") {
        o.code = Code::Success;
        // sudo prints PAM info messages on stdout, where they would corrupt the
        // command's output (sudo cat x | y): no success notice for sudo.
        if (!args.quiet && !sudo && ipc::get(r.msg, "kind") != "sudo") o.user_info = message.empty() ? "jitlogin: access granted, grant " + o.grant_id : message;
        o.log = "allow " + what + " (grant " + o.grant_id + ")";
    } else if (decision == "deny") {
        o.code = Code::PermDenied;
        o.user_error = message.empty() ? "jitlogin: access denied (" + reason + ")" : message;
        o.log = "deny " + what + ": " + reason;
    } else if (decision == "ignore") {
        o.code = Code::Ignore;
        o.log = "ignore " + what + ": " + reason;
    } else {
        // Not an answer this module understands: as if none came.
        r.reach = Reach::Unreachable;
        r.why = "an answer without a valid decision ('" + one_line(decision) + "')";
        return without_decision(args, items, who, r, facts, Code::AuthinfoUnavail, kUnreachable);
    }
    return o;
}

Outcome session_one(const ModuleArgs& args, const PamItems& items, const Subject& who, bool open, bool sudo,
                    const LocalFacts& facts, bool* daemon_down, bool* matched) {
    const char* op = open ? "session_open" : "session_close";
    if (never_managed(who.user)) return ignored(who, "never managed (root, or not a name a grant can carry)");
    ipc::Message req = request_for(op, who, items);
    req.erase("run_as");
    req["pid"] = std::to_string(items.pid);
    // A sudo runs inside the caller's logind session: its XDG_SESSION_ID (if
    // any) names the caller's login, whose registration a close matching by
    // that id would end. A sudo is registered and closed by its pid.
    if (!items.logind_session.empty() && !sudo) req["logind_session"] = items.logind_session;
    DaemonReply r;
    if (*daemon_down) r.why = "no answer to the previous question";
    else r = ask(args, req);
    const char* text = open ? "jitlogin: cannot register the session with jit-helperd; session refused" : nullptr;
    // A session that must not run is refused with PERM_DENIED: sudo treats
    // PAM_SESSION_ERR from pam_open_session as non-fatal and runs the command.
    const Code refused = open ? Code::PermDenied : Code::SessionErr;
    if (r.reach != Reach::Answered) {
        if (r.reach == Reach::Unreachable) *daemon_down = true;
        return without_decision(args, items, who, r, facts, refused, text);
    }
    Outcome o;
    o.grant_id = one_line(ipc::get(r.msg, "grant_id"));
    const std::string decision = ipc::get(r.msg, "decision");
    *matched = !ipc::get(r.msg, "session").empty();
    if (decision == "ignore" || ipc::get(r.msg, "managed") == "no") {
        o.code = Code::Ignore;
        o.log = std::string(op) + " " + who.user + ": not managed";
    } else if (open && decision != "allow") {
        // deny, or an answer without a decision: the session must not run untracked.
        o.code = refused;
        o.user_error = one_line(ipc::get(r.msg, "message"));
        if (o.user_error.empty()) o.user_error = "jitlogin: session refused (" + one_line(ipc::get(r.msg, "reason", decision)) + ")";
        o.log = "session_open " + who.user + " refused: " + one_line(ipc::get(r.msg, "reason", "decision '" + decision + "'"));
        o.log_is_error = true;
    } else {
        o.code = Code::Success;
        o.log = std::string(op) + " " + who.user + " pid " + std::to_string(items.pid) +
                (o.grant_id.empty() ? "" : " grant " + o.grant_id);
    }
    return o;
}

}  // namespace

Outcome run_account(const ModuleArgs& args, const PamItems& items, const LocalFacts& facts) {
    const Subjects s = subjects_of(args, items);
    bool daemon_down = false;
    Outcome o = check_one(args, items, s.first, s.sudo, facts, &daemon_down);
    if (o.code == Code::Ignore && s.then) {
        Outcome target = check_one(args, items, *s.then, s.sudo, facts, &daemon_down);
        if (target.code != Code::Ignore || o.log.empty()) return target;
        target.log = o.log + "; " + target.log;
        return target;
    }
    return o;
}

Outcome run_session(const ModuleArgs& args, const PamItems& items, bool open, const LocalFacts& facts) {
    const Subjects s = subjects_of(args, items);
    bool daemon_down = false, matched = false;
    Outcome o = session_one(args, items, s.first, open, s.sudo, facts, &daemon_down, &matched);
    // Open: the target when the requester is not managed. Close: the target's
    // session when the requester had none (the daemon's close answer does not
    // say whether the user is managed).
    const bool try_target = open ? o.code == Code::Ignore : (o.code == Code::Ignore || (o.code == Code::Success && !matched));
    if (s.then && try_target) {
        bool target_matched = false;
        Outcome target = session_one(args, items, *s.then, open, s.sudo, facts, &daemon_down, &target_matched);
        if (target.code != Code::Ignore || o.code == Code::Ignore) return target;
    }
    return o;
}

}  // namespace jit::pam
