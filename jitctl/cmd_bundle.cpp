// jitctl bundle verify: check an authority envelope offline, exactly as the
// daemon would accept it, and show what it grants.
#include "commands.hpp"
#include "output.hpp"

#include <jit/bundle.hpp>
#include <jit/decision.hpp>

#include <json/value.h>
#include <json/writer.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace jit::ctl {

namespace {

// Exit codes of `jitctl bundle verify`.
constexpr int kExitAccepted = 0;
constexpr int kExitRejected = 1;
constexpr int kExitCannotCheck = 2;

struct VerifyOptions {
    std::string envelope_path;
    std::string keys_dir;
    std::string host_id;
    std::optional<std::int64_t> after_revision;
    std::string previous_path;
    std::optional<std::int64_t> now;
    std::int64_t clock_skew = 300;
    bool json = false;
};

// Reads at most kMaxEnvelopeBytes + 1 so that an oversized input is reported
// by the parser's own limit instead of filling memory.
std::optional<std::string> read_input(const std::string& path, std::string& error) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
        file.open(path, std::ios::binary);
        if (!file) {
            error = "cannot open " + path + ": " + std::strerror(errno);
            return std::nullopt;
        }
        in = &file;
    }
    std::string data;
    const std::size_t cap = limits::kMaxEnvelopeBytes + 1;
    char buf[65536];
    while (data.size() < cap && in->read(buf, sizeof buf).gcount() > 0) {
        data.append(buf, static_cast<std::size_t>(in->gcount()));
    }
    if (in->bad()) {
        error = "cannot read " + (path == "-" ? std::string("standard input") : path);
        return std::nullopt;
    }
    if (data.size() > cap) data.resize(cap);
    return data;
}

// strftime only ever sees literal formats (-Wformat-nonliteral).
enum class TimePart { date, hour_minute, hour_minute_second, zone, full, iso };

std::string local_time(UnixTime t, TimePart part) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    char buf[64];
    if (!localtime_r(&tt, &tm)) return "@" + std::to_string(t);
    std::size_t n = 0;
    switch (part) {
    case TimePart::date: n = std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm); break;
    case TimePart::hour_minute: n = std::strftime(buf, sizeof buf, "%H:%M", &tm); break;
    case TimePart::hour_minute_second: n = std::strftime(buf, sizeof buf, "%H:%M:%S", &tm); break;
    case TimePart::zone: n = std::strftime(buf, sizeof buf, "%Z", &tm); break;
    case TimePart::full: n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm); break;
    case TimePart::iso: n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm); break;
    }
    return n ? std::string(buf, n) : "@" + std::to_string(t);
}

bool same_local_day(UnixTime a, UnixTime b) {
    const std::time_t ta = static_cast<std::time_t>(a), tb = static_cast<std::time_t>(b);
    std::tm x{}, y{};
    return localtime_r(&ta, &x) && localtime_r(&tb, &y) && x.tm_year == y.tm_year && x.tm_yday == y.tm_yday;
}

// "2026-11-27 13:26–14:26 UTC", or both dates when the window spans days;
// seconds only when a window edge is not on a whole minute.
std::string format_window(const Grant& g) {
    const TimePart clock = (g.not_before % 60 == 0 && g.not_after % 60 == 0) ? TimePart::hour_minute
                                                                             : TimePart::hour_minute_second;
    const std::string start = local_time(g.not_before, TimePart::date) + " " + local_time(g.not_before, clock);
    const std::string end = local_time(g.not_after, clock) + " " + local_time(g.not_after, TimePart::zone);
    if (same_local_day(g.not_before, g.not_after)) return start + "\u2013" + end;
    return start + " \u2013 " + local_time(g.not_after, TimePart::date) + " " + end;
}

std::string relative(UnixTime t, UnixTime now) {
    return t > now ? "in " + format_duration(t - now) : format_duration(now - t) + " ago";
}

const char* grant_state(const Grant& g, UnixTime now) {
    if (now < g.not_before) return "upcoming";
    if (now < g.not_after) return "active";
    return "ended";
}

std::string grant_when(const Grant& g, UnixTime now) {
    if (now < g.not_before) return "starts " + relative(g.not_before, now);
    if (now < g.not_after) return "active, ends " + relative(g.not_after, now);
    return "ended " + relative(g.not_after, now);
}

std::string join(const std::vector<std::string>& items, const char* sep) {
    std::string out;
    for (const auto& s : items) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

std::string sudo_text(const Grant& g) {
    if (!g.sudo) return "-";
    return "as " + g.sudo->run_as + ": " + join(g.sudo->commands, "; ");
}

// Display width of validated UTF-8 (no control characters): code points.
std::size_t width(const std::string& s) {
    std::size_t n = 0;
    for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
    }
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line += std::string(widths[i] - width(row[i]) + 2, ' ');
        }
        out << line << "\n";
    }
}

void print_human(std::ostream& out, const AcceptedBundle& b, UnixTime now) {
    const GrantsPayload& p = b.payload;
    out << "Bundle accepted: revision " << p.revision << " for host " << p.host_id << ", signed with key \""
        << b.envelope.key_id << "\".\n";
    out << "  issued:  " << local_time(p.issued_at, TimePart::full) << " (" << relative(p.issued_at, now)
        << ")\n";
    out << "  expires: " << local_time(p.expires_at, TimePart::full) << " (" << relative(p.expires_at, now)
        << ")";
    if (is_stale(p, now)) out << "  STALE: revocations after this bundle may be missed";
    out << "\n";
    std::size_t active = 0, upcoming = 0;
    for (const Grant& g : p.grants) {
        active += g.active_at(now);
        upcoming += now < g.not_before;
    }
    out << "  grants:  " << p.grants.size() << " (" << active << " active, " << upcoming << " upcoming, "
        << p.grants.size() - active - upcoming << " ended)\n";
    for (const Revocation& r : p.revoked) {
        out << "  revoked: " << r.id << " at " << local_time(r.at, TimePart::full);
        if (!r.by.empty()) out << " by " << r.by;
        if (!r.reason.empty()) out << ": " << r.reason;
        out << "\n";
    }
    if (p.grants.empty()) {
        out << "\nNo grants: nobody has just-in-time access to this host.\n";
        return;
    }
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"GRANT", "USER", "UID", "LOGIN", "WINDOW", "WHEN", "SUDO", "GROUPS", "APPROVED BY", "REASON"});
    for (const Grant& g : p.grants) {
        std::string reason = g.reason;
        if (!g.ticket.empty()) reason += " [" + g.ticket + "]";
        rows.push_back({g.id, g.user, g.uid ? std::to_string(*g.uid) : "auto", g.login ? "yes" : "no",
                        format_window(g), grant_when(g, now), sudo_text(g),
                        g.groups.empty() ? "-" : join(g.groups, ","),
                        g.approved_by.empty() ? "(auto-approved)" : join(g.approved_by, ","), reason});
    }
    out << "\n";
    print_table(out, rows);
}

Json::Value strings_json(const std::vector<std::string>& items) {
    Json::Value a(Json::arrayValue);
    for (const auto& s : items) a.append(s);
    return a;
}

Json::Value time_json(UnixTime t, UnixTime now) {
    Json::Value v(Json::objectValue);
    v["unix"] = static_cast<Json::Int64>(t);
    v["local"] = local_time(t, TimePart::iso);
    v["relative"] = relative(t, now);
    return v;
}

Json::Value bundle_json(const AcceptedBundle& b, UnixTime now, bool host_from_payload) {
    const GrantsPayload& p = b.payload;
    Json::Value root(Json::objectValue);
    root["accepted"] = true;
    root["key_id"] = b.envelope.key_id;
    root["type"] = p.type;
    root["host_id"] = p.host_id;
    root["host_id_checked"] = !host_from_payload;
    root["revision"] = static_cast<Json::Int64>(p.revision);
    root["now"] = static_cast<Json::Int64>(now);
    root["issued_at"] = time_json(p.issued_at, now);
    root["expires_at"] = time_json(p.expires_at, now);
    root["stale"] = is_stale(p, now);
    Json::Value grants(Json::arrayValue);
    for (const Grant& g : p.grants) {
        Json::Value j(Json::objectValue);
        j["id"] = g.id;
        j["user"] = g.user;
        j["uid"] = g.uid ? Json::Value(static_cast<Json::UInt>(*g.uid)) : Json::Value();
        if (!g.display_name.empty()) j["display_name"] = g.display_name;
        if (!g.shell.empty()) j["shell"] = g.shell;
        j["login"] = g.login;
        if (g.sudo) {
            j["sudo"]["run_as"] = g.sudo->run_as;
            j["sudo"]["commands"] = strings_json(g.sudo->commands);
        } else {
            j["sudo"] = Json::Value();
        }
        j["groups"] = strings_json(g.groups);
        j["not_before"] = time_json(g.not_before, now);
        j["not_after"] = time_json(g.not_after, now);
        j["state"] = grant_state(g, now);
        j["reason"] = g.reason;
        if (!g.ticket.empty()) j["ticket"] = g.ticket;
        j["requested_by"] = g.requested_by;
        j["approved_by"] = strings_json(g.approved_by);
        j["ssh_authorized_keys"] = strings_json(g.ssh_authorized_keys);
        grants.append(std::move(j));
    }
    root["grants"] = std::move(grants);
    Json::Value revoked(Json::arrayValue);
    for (const Revocation& r : p.revoked) {
        Json::Value j(Json::objectValue);
        j["id"] = r.id;
        j["at"] = time_json(r.at, now);
        j["by"] = r.by;
        j["reason"] = r.reason;
        revoked.append(std::move(j));
    }
    root["revoked"] = std::move(revoked);
    return root;
}


int reject(const VerifyOptions& o, const std::string& code, const std::string& message) {
    const int rule = acceptance_rule(code);
    std::cerr << "jitctl: bundle rejected";
    if (rule != 0) std::cerr << " by rule " << rule;
    std::cerr << " (" << code << "): " << message << "\n";
    if (o.json) {
        Json::Value v(Json::objectValue);
        v["accepted"] = false;
        v["error"]["code"] = code;
        v["error"]["rule"] = rule;
        v["error"]["message"] = message;
        std::cout << json_line(v) << "\n";
    }
    return kExitRejected;
}

int cannot_check(const VerifyOptions& o, const std::string& message) {
    print_error(o.json, "cannot_check", message);
    return kExitCannotCheck;
}

int run_verify(const VerifyOptions& o) {
    std::string error;
    const auto envelope = read_input(o.envelope_path, error);
    if (!envelope) return cannot_check(o, error);
    auto keys = TrustedKeys::load_dir(o.keys_dir);
    if (!keys) return cannot_check(o, keys.error().message);

    AcceptContext ctx;
    ctx.now = o.now ? *o.now : static_cast<UnixTime>(std::time(nullptr));
    ctx.clock_skew = o.clock_skew;
    if (!o.previous_path.empty()) {
        // The previously accepted envelope: its revision and bytes are the
        // baseline for rule 3. It was verified when accepted; verify it again.
        const auto previous = read_input(o.previous_path, error);
        if (!previous) return cannot_check(o, error);
        auto env = parse_envelope(*previous);
        if (!env) return cannot_check(o, "--previous " + o.previous_path + ": " + env.error().message);
        if (auto st = keys->verify(env->key_id, env->payload, env->signature); !st)
            return cannot_check(o, "--previous " + o.previous_path + ": " + st.error().message);
        auto p = parse_payload(env->payload);
        if (!p) return cannot_check(o, "--previous " + o.previous_path + ": " + p.error().message);
        ctx.last_revision = p->revision;
        ctx.last_payload = env->payload;
    } else if (o.after_revision) {
        ctx.last_revision = *o.after_revision;
    }

    bool host_from_payload = false;
    ctx.host_id = o.host_id;
    if (ctx.host_id.empty()) {
        // Offline use: no host to compare with. Take the payload's own id (only
        // after the signature verifies) and say so.
        auto env = parse_envelope(*envelope);
        if (!env) return reject(o, env.error().code, env.error().message);
        if (auto st = keys->verify(env->key_id, env->payload, env->signature); !st)
            return reject(o, st.error().code, st.error().message);
        auto p = parse_payload(env->payload);
        if (!p) return reject(o, p.error().code, p.error().message);
        ctx.host_id = p->host_id;
        host_from_payload = true;
        std::cerr << "jitctl: note: no --host-id given; the host id was taken from the payload (\"" << p->host_id
                  << "\"), so rule 2 was not checked against a real host\n";
    }

    auto accepted = verify_and_accept(*envelope, *keys, ctx);
    if (!accepted) {
        std::string message = accepted.error().message;
        if (accepted.error().code == "fork" && o.after_revision && o.previous_path.empty())
            message += " (pass --previous FILE with the accepted envelope to compare bytes)";
        return reject(o, accepted.error().code, message);
    }
    if (o.json)
        print_json(bundle_json(*accepted, ctx.now, host_from_payload));
    else
        print_human(std::cout, *accepted, ctx.now);
    return kExitAccepted;
}

}  // namespace

void register_bundle(CLI::App& app, ExitCode& exit_code) {
    CLI::App* bundle = app.add_subcommand("bundle", "Verify signed grant bundles from the authority offline");
    bundle->require_subcommand(1);

    auto o = std::make_shared<VerifyOptions>();
    CLI::App* verify = bundle->add_subcommand(
        "verify",
        "Verify an authority envelope exactly as jit-helperd would accept it (signature, type, host,\n"
        "revision, clock skew, every grant well-formed) and show the grants it carries.");
    verify->add_option("ENVELOPE", o->envelope_path,
                       "Envelope JSON as served by GET /v1/hosts/{host_id}/grants ('-' reads standard input)")
        ->required();
    verify->add_option("--trusted-keys", o->keys_dir,
                       "Directory of trusted authority keys, one PEM file per key named <key_id>.pub")
        ->required()
        ->type_name("DIR");
    verify->add_option("--host-id", o->host_id,
                       "Host id the bundle must be for (default: the payload's own, reported on stderr)")
        ->type_name("ID");
    auto* after = verify->add_option("--after-revision", o->after_revision,
                                     "Last accepted revision: lower is a rollback, equal is a fork unless\n"
                                     "--previous shows the same bytes")
                      ->type_name("N")
                      ->check(CLI::NonNegativeNumber);
    verify->add_option("--previous", o->previous_path,
                       "The last accepted envelope; its revision and exact payload bytes are the baseline")
        ->type_name("FILE")
        ->excludes(after);
    verify->add_option("--now", o->now, "Verify as of this time (unix seconds) instead of the system clock")
        ->type_name("UNIX");
    verify->add_option("--clock-skew", o->clock_skew, "Seconds issued_at may lie in the future")
        ->capture_default_str()
        ->type_name("SECONDS")
        ->check(CLI::NonNegativeNumber);
    verify->add_flag("--json", o->json, "Print the result as JSON on standard output");
    verify->footer(
        "Exit status: 0 accepted, 1 rejected (the reason is on standard error), 2 the check could not run\n"
        "(unreadable input or trusted-key directory).\n\n"
        "Example:\n"
        "  jitctl bundle verify envelope.json --trusted-keys /etc/jit/trusted-keys --host-id web-01");
    verify->callback([o, &exit_code] { exit_code.value = run_verify(*o); });
}

}  // namespace jit::ctl
