// See module_core.hpp.
#include "module_core.hpp"

#include <jit/ipc.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pwd.h>
#include <string_view>
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

const char* const kUnreachable = "jitlogin: cannot reach jit-helperd; access for JIT users is refused";

Outcome fallback(const ModuleArgs& args, const PamItems& items, const char* passwd_file, const std::string& why,
                 Code managed_code, const char* user_text) {
    Outcome o;
    if (managed_without_daemon(items.user, args, passwd_file)) {
        o.code = managed_code;
        if (user_text) o.user_error = user_text;
        o.log = "jit-helperd unavailable (" + why + "); refusing JIT-managed user " + items.user + " for " +
                items.service;
        o.log_is_error = true;
    } else {
        o.code = Code::Ignore;
        o.log = "jit-helperd unavailable (" + why + "); " + items.user + " is not JIT-managed, ignoring";
        o.log_is_error = false;
    }
    return o;
}

ipc::Message base_request(const char* op, const ModuleArgs& args, const PamItems& items) {
    ipc::Message m;
    m["op"] = op;
    m["user"] = items.user;
    m["service"] = items.service;
    if (!items.rhost.empty()) m["rhost"] = items.rhost;
    if (!items.tty.empty()) m["tty"] = items.tty;
    if (!items.ruser.empty()) m["ruser"] = items.ruser;
    if (!args.kind.empty()) m["kind"] = args.kind;
    return m;
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
            if (std::strcmp(v, "login") == 0 || std::strcmp(v, "sudo") == 0 || std::strcmp(v, "su") == 0)
                a.kind = v;
            else
                a.warnings.push_back(std::string("argument '") + arg + "': kind must be login, sudo or su; classifying by service");
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

bool managed_without_daemon(const std::string& user, const ModuleArgs& args, const char* passwd_file) {
    if (user == "root") return false;
    std::FILE* f = std::fopen(passwd_file, "re");
    if (!f) return true;
    bool found = false, managed = true;
    passwd pw{};
    passwd* res = nullptr;
    char buf[4096];
    for (;;) {
        int rc = fgetpwent_r(f, &pw, buf, sizeof(buf), &res);
        if (rc == ERANGE) continue;  // an absurdly long line: skip it
        if (rc != 0 || !res) break;
        if (user == pw.pw_name) {
            found = true;
            managed = pw.pw_uid != 0 && pw.pw_uid >= args.uid_min && pw.pw_uid <= args.uid_max;
            break;
        }
    }
    std::fclose(f);
    return found ? managed : true;
}

Outcome run_account(const ModuleArgs& args, const PamItems& items, const char* passwd_file) {
    std::string err;
    auto resp = ipc::call(args.socket, base_request("check", args, items), std::chrono::milliseconds(args.timeout_ms), &err);
    if (!resp) return fallback(args, items, passwd_file, err, Code::AuthinfoUnavail, kUnreachable);

    const std::string status = ipc::get(*resp, "status");
    if (status != "ok") {
        const std::string why = "error " + ipc::get(*resp, "error", "?") + ": " + ipc::get(*resp, "message");
        return fallback(args, items, passwd_file, one_line(why), Code::AuthinfoUnavail,
                        "jitlogin: jit-helperd could not decide; access for JIT users is refused");
    }
    const std::string decision = ipc::get(*resp, "decision");
    const std::string reason = ipc::get(*resp, "reason");
    std::string message = one_line(ipc::get(*resp, "message"));
    Outcome o;
    o.grant_id = one_line(ipc::get(*resp, "grant_id"));
    if (decision == "allow") {
        o.code = Code::Success;
        // sudo prints PAM info messages on stdout, where they would corrupt the
        // command's output (sudo cat x | y): no success notice for sudo.
        std::string kind = !args.kind.empty() ? args.kind : ipc::get(*resp, "kind");
        if (kind.empty() && (items.service == "sudo" || items.service.rfind("sudo-", 0) == 0)) kind = "sudo";
        if (!args.quiet && kind != "sudo") o.user_info = message.empty() ? "jitlogin: access granted, grant " + o.grant_id : message;
        o.log = "allow " + items.user + " for " + items.service + " (grant " + o.grant_id + ")";
    } else if (decision == "deny") {
        o.code = Code::PermDenied;
        o.user_error = message.empty() ? "jitlogin: access denied (" + one_line(reason) + ")" : message;
        o.log = "deny " + items.user + " for " + items.service + ": " + one_line(reason);
    } else if (decision == "ignore") {
        o.code = Code::Ignore;
        o.log = "ignore " + items.user + " for " + items.service + ": " + one_line(reason);
    } else {
        return fallback(args, items, passwd_file, "answer without a valid decision ('" + one_line(decision) + "')",
                        Code::AuthinfoUnavail, "jitlogin: jit-helperd could not decide; access for JIT users is refused");
    }
    return o;
}

Outcome run_session(const ModuleArgs& args, const PamItems& items, bool open, const char* passwd_file) {
    ipc::Message req = base_request(open ? "session_open" : "session_close", args, items);
    req["pid"] = std::to_string(items.pid);
    if (!items.logind_session.empty()) req["logind_session"] = items.logind_session;
    std::string err;
    auto resp = ipc::call(args.socket, req, std::chrono::milliseconds(args.timeout_ms), &err);
    const char* text = open ? "jitlogin: cannot register the session with jit-helperd; session refused" : nullptr;
    if (!resp) return fallback(args, items, passwd_file, err, Code::SessionErr, text);
    if (ipc::get(*resp, "status") != "ok") {
        const std::string why = "error " + ipc::get(*resp, "error", "?") + ": " + ipc::get(*resp, "message");
        return fallback(args, items, passwd_file, one_line(why), Code::SessionErr, text);
    }
    Outcome o;
    o.grant_id = one_line(ipc::get(*resp, "grant_id"));
    const std::string decision = ipc::get(*resp, "decision");
    if (decision == "ignore" || ipc::get(*resp, "managed") == "no") {
        o.code = Code::Ignore;
        o.log = std::string(open ? "session_open" : "session_close") + " " + items.user + ": not managed";
    } else if (decision == "deny" && open) {
        o.code = Code::SessionErr;
        o.user_error = one_line(ipc::get(*resp, "message"));
        if (o.user_error.empty()) o.user_error = "jitlogin: session refused (" + one_line(ipc::get(*resp, "reason")) + ")";
        o.log = "session_open " + items.user + " refused: " + one_line(ipc::get(*resp, "reason"));
        o.log_is_error = true;
    } else {
        o.code = Code::Success;
        o.log = std::string(open ? "session_open" : "session_close") + " " + items.user + " pid " +
                std::to_string(items.pid) + (o.grant_id.empty() ? "" : " grant " + o.grant_id);
    }
    return o;
}

}  // namespace jit::pam
