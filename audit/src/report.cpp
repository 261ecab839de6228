// The readable forms of audit records: timeline lines, JSON, CSV and the
// story of one grant. Pure functions of the records.
#include "jit/audit_reader.hpp"
#include <jit/json_text.hpp>

#include <json/json.h>

#include <algorithm>
#include <charconv>
#include <ctime>

namespace jit::audit {
namespace {

using namespace field;

std::int64_t seconds(const Record& r) { return r.realtime_usec / 1000000; }

std::optional<std::int64_t> as_int(std::string_view v) {
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || v.empty()) return std::nullopt;
    return n;
}

std::string time_of(std::string_view unix_text, bool utc) {
    auto n = as_int(unix_text);
    return n ? format_time(*n, utc) : std::string(unix_text);
}

std::string clock_of(const Record& r, bool utc) {
    // Date and time without the zone, for lines inside a summary.
    std::string full = format_time(seconds(r), utc);
    return full.size() >= 19 ? full.substr(0, 19) : full;
}

std::string duration(std::int64_t s) {
    if (s < 0) s = 0;
    std::string out;
    if (s >= 86400) out += std::to_string(s / 86400) + "d ";
    if (s >= 3600) out += std::to_string(s % 86400 / 3600) + "h ";
    out += std::to_string(s % 3600 / 60) + "m";
    if (s < 60) out = std::to_string(s) + "s";
    return out;
}

void detail(std::string& out, const Record& r, std::string_view label, std::string_view name) {
    auto v = r.get(name);
    if (v.empty()) return;
    out += "  ";
    out += label;
    out += '=';
    out += v;
}

std::string pretty_list(std::string_view comma_list) {
    std::string out;
    for (char c : comma_list) {
        out += c;
        if (c == ',') out += ' ';
    }
    return out.empty() ? std::string("(nobody: auto-approved)") : out;
}

std::string iso_time(std::int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

std::string format_time(std::int64_t unix_seconds, bool utc) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    if (utc) gmtime_r(&t, &tm);
    else localtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, utc ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%d %H:%M:%S %Z", &tm);
    return buf;
}

std::string format_timeline_line(const Record& r, bool utc) {
    std::string out = format_time(seconds(r), utc);
    std::string name(r.type ? event_name(*r.type) : r.get(kEvent));
    out += "  ";
    out += name;
    if (name.size() < 16) out.append(16 - name.size(), ' ');
    auto user = r.get(kUser);
    out += "  ";
    out += user.empty() ? "-" : user;
    auto grant = r.get(kGrantId);
    if (!grant.empty()) {
        out += "  grant=";
        out += grant;
    }
    out += "  ";
    out += r.get("MESSAGE");
    detail(out, r, "service", kService);
    detail(out, r, "rhost", kRhost);
    detail(out, r, "tty", kTty);
    detail(out, r, "session", kSessionId);
    detail(out, r, "run_as", kRunAs);
    detail(out, r, "command", kCommand);
    detail(out, r, "how", kHow);
    detail(out, r, "seconds_left", kSecondsLeft);
    detail(out, r, "rule", kRule);
    detail(out, r, "alert", kAlert);
    detail(out, r, "cwd", kCwd);
    if (r.type && (*r.type == EventType::LoginDenied || *r.type == EventType::SudoDenied ||
                   *r.type == EventType::SudoRefused ||
                   *r.type == EventType::SuDenied || *r.type == EventType::BundleRejected))
        detail(out, r, "reason", kReason);
    return out;
}

std::string format_json_line(const Record& r) {
    Json::Value o(Json::objectValue);
    o["time"] = iso_time(seconds(r));
    o["realtime_usec"] = Json::Int64(r.realtime_usec);
    o["event"] = r.type ? std::string(event_name(*r.type)) : std::string(r.get(kEvent));
    o["message_id"] = std::string(r.get("MESSAGE_ID"));
    if (auto p = as_int(r.get("PRIORITY"))) o["priority"] = Json::Int64(*p);
    o["message"] = std::string(r.get("MESSAGE"));
    if (!r.get("SYSLOG_IDENTIFIER").empty()) o["identifier"] = std::string(r.get("SYSLOG_IDENTIFIER"));
    if (!r.get("_HOSTNAME").empty()) o["hostname"] = std::string(r.get("_HOSTNAME"));
    for (const auto& [k, v] : r.fields)
        if (k.starts_with("JIT_")) o[k] = v;
    return compact_json(o);
}

namespace {

constexpr std::string_view kCsvColumns[] = {kUser,      kUid,    kGrantId, kDecision, kService,
                                            kRhost,     kTty,    kSessionId, kRunAs,  kCommand,
                                            kHow,       kReason, kNotAfter, kApprovedBy, kTicket,
                                            kRevision};

std::string csv_cell(std::string_view v) {
    std::string s(v);
    if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r'))
        s.insert(s.begin(), '\'');
    bool quote = s.find_first_of(",\"\r\n") != std::string::npos;
    if (!quote) return s;
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

}  // namespace

std::string csv_header() {
    std::string out = "time,event,message";
    for (auto c : kCsvColumns) {
        out += ',';
        std::string lower(c.substr(4));
        for (char& ch : lower) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        out += lower;
    }
    return out;
}

std::string format_csv_line(const Record& r) {
    std::string out = format_time(seconds(r), true);
    out += ',';
    out += csv_cell(r.type ? event_name(*r.type) : r.get(kEvent));
    out += ',';
    out += csv_cell(r.get("MESSAGE"));
    for (auto c : kCsvColumns) {
        out += ',';
        out += csv_cell(r.get(c));
    }
    return out;
}

std::string summarize_grant(const std::vector<Record>& records_in, std::string_view grant_id, bool utc) {
    std::vector<const Record*> rs;
    for (const auto& r : records_in)
        if (r.get(kGrantId) == grant_id && r.type) rs.push_back(&r);
    std::stable_sort(rs.begin(), rs.end(),
                     [](const Record* a, const Record* b) { return a->realtime_usec < b->realtime_usec; });
    std::string out;
    if (rs.empty()) {
        out = "No audit events for grant " + std::string(grant_id) + " in the journal(s) read.\n";
        return out;
    }

    // The grant's own fields: the latest record that carries each wins (an
    // extension moves not_after), earlier windows are reported as extensions.
    std::string user, uid, requested_by, approved_by, ticket, reason, not_before, not_after;
    std::vector<std::string> earlier_not_after;
    auto take = [](std::string& dst, std::string_view v) {
        if (!v.empty()) dst = std::string(v);
    };
    for (const Record* r : rs) {
        take(user, r->get(kUser));
        take(uid, r->get(kUid));
        take(requested_by, r->get(kRequestedBy));
        if (r->fields.count(std::string(kApprovedBy)) && *r->type != EventType::RequestDecided)
            approved_by = std::string(r->get(kApprovedBy));
        take(ticket, r->get(kTicket));
        if (*r->type == EventType::GrantActivated || *r->type == EventType::GrantEnded)
            take(reason, r->get(kReason));
        take(not_before, r->get(kNotBefore));
        auto na = r->get(kNotAfter);
        if (!na.empty() && na != not_after) {
            if (!not_after.empty()) earlier_not_after.push_back(not_after);
            not_after = std::string(na);
        }
    }

    out += "Grant " + std::string(grant_id) + " for " + (user.empty() ? "?" : user);
    if (!uid.empty()) out += " (uid " + uid + ")";
    out += "\n";
    out += "  requested by: " + (requested_by.empty() ? std::string("(not recorded)") : requested_by) + "\n";
    out += "  approved by:  " + pretty_list(approved_by) + "\n";
    if (!ticket.empty()) out += "  ticket:       " + ticket + "\n";
    out += "  reason:       " + (reason.empty() ? std::string("(not recorded)") : reason) + "\n";
    if (!not_after.empty()) {
        out += "  window:       " + (not_before.empty() ? std::string("?") : time_of(not_before, utc)) + " -> " +
               time_of(not_after, utc);
        auto nb = as_int(not_before), na = as_int(not_after);
        if (nb && na) out += " (" + duration(*na - *nb) + ")";
        out += "\n";
        for (const auto& e : earlier_not_after) out += "                (extended; previously until " + time_of(e, utc) + ")\n";
    }

    std::string lifecycle, logins, sudo, commands, su, other;
    int logins_ok = 0, logins_no = 0, sudo_ok = 0, sudo_no = 0, su_ok = 0, su_no = 0, cmd_ok = 0, cmd_no = 0;
    struct Session {
        std::string id, opened, service, rhost, tty, warned, ended, how, closed;
    };
    std::vector<Session> sessions;
    auto session = [&](std::string_view id) -> Session& {
        for (auto& s : sessions)
            if (s.id == id) return s;
        sessions.push_back(Session{std::string(id), {}, {}, {}, {}, {}, {}, {}, {}});
        return sessions.back();
    };
    for (const Record* r : rs) {
        std::string when = clock_of(*r, utc);
        switch (*r->type) {
        case EventType::GrantActivated:
            lifecycle += "  activated:    " + when + "\n";
            break;
        case EventType::GrantEnded:
            lifecycle += "  ended:        " + when +
                         (r->get(kCause).empty() ? "" : " (" + std::string(r->get(kCause)) + ")") + "\n";
            break;
        case EventType::GrantRevoked:
            lifecycle += "  revoked:      " + when + " by " +
                         (r->get(kRevokedBy).empty() ? std::string("?") : std::string(r->get(kRevokedBy))) +
                         (r->get(kReason).empty() ? "" : ": " + std::string(r->get(kReason))) + "\n";
            break;
        case EventType::RequestDecided:
            lifecycle += "  request:      " + std::string(r->get(kRequestId)) + " " + std::string(r->get(kState)) +
                         " at " + when +
                         (r->get(kApprovedBy).empty() ? "" : " by " + pretty_list(r->get(kApprovedBy))) + "\n";
            break;
        case EventType::LoginAllowed:
        case EventType::LoginDenied: {
            bool ok = *r->type == EventType::LoginAllowed;
            (ok ? logins_ok : logins_no)++;
            logins += "  " + when + (ok ? "  allowed  " : "  DENIED   ") + std::string(r->get(kService));
            if (!r->get(kRhost).empty()) logins += " from " + std::string(r->get(kRhost));
            if (!ok && !r->get(kReason).empty()) logins += "  (" + std::string(r->get(kReason)) + ")";
            logins += "\n";
            break;
        }
        case EventType::SudoAllowed:
        case EventType::SudoDenied: {
            bool ok = *r->type == EventType::SudoAllowed;
            (ok ? sudo_ok : sudo_no)++;
            std::string run_as(r->get(kRunAs).empty() ? std::string_view("root") : r->get(kRunAs));
            sudo += "  " + when + (ok ? "  allowed  " : "  DENIED   ") + run_as + ": " + std::string(r->get(kCommand));
            if (!ok && !r->get(kReason).empty()) sudo += "  (" + std::string(r->get(kReason)) + ")";
            sudo += "\n";
            break;
        }
        case EventType::SudoCommand:
        case EventType::SudoRefused: {
            bool ok = *r->type == EventType::SudoCommand;
            (ok ? cmd_ok : cmd_no)++;
            std::string run_as(r->get(kRunAs).empty() ? std::string_view("root") : r->get(kRunAs));
            commands += "  " + when + (ok ? "  ran      " : "  REFUSED  ") + run_as + ": " + std::string(r->get(kCommand));
            if (!r->get(kCwd).empty()) commands += "  (in " + std::string(r->get(kCwd)) + ")";
            if (!ok && !r->get(kReason).empty()) commands += "  (" + std::string(r->get(kReason)) + ")";
            commands += "\n";
            break;
        }
        case EventType::SuAllowed:
        case EventType::SuDenied: {
            bool ok = *r->type == EventType::SuAllowed;
            (ok ? su_ok : su_no)++;
            su += "  " + when + (ok ? "  allowed  " : "  DENIED   ") + "to " + std::string(r->get(kRunAs));
            if (!ok && !r->get(kReason).empty()) su += "  (" + std::string(r->get(kReason)) + ")";
            su += "\n";
            break;
        }
        case EventType::SessionOpened: {
            Session& s = session(r->get(kSessionId));
            s.opened = when;
            s.service = r->get(kService);
            s.rhost = r->get(kRhost);
            s.tty = r->get(kTty);
            break;
        }
        case EventType::SessionWarned:
            session(r->get(kSessionId)).warned =
                when + (r->get(kSecondsLeft).empty() ? "" : " (" + std::string(r->get(kSecondsLeft)) + " s left)");
            break;
        case EventType::SessionEnded: {
            Session& s = session(r->get(kSessionId));
            s.ended = when;
            s.how = r->get(kHow);
            break;
        }
        case EventType::SessionClosed:
            session(r->get(kSessionId)).closed = when;
            break;
        default:
            other += "  " + when + "  " + std::string(event_name(*r->type)) + "  " + std::string(r->get("MESSAGE")) + "\n";
            break;
        }
    }
    out += lifecycle;
    out += "Logins: " + std::to_string(logins_ok) + " allowed, " + std::to_string(logins_no) + " denied\n" + logins;
    out += "sudo: " + std::to_string(sudo_ok) + " allowed, " + std::to_string(sudo_no) + " denied\n" + sudo;
    if (cmd_ok + cmd_no)
        out += "sudo commands: " + std::to_string(cmd_ok) + " ran, " + std::to_string(cmd_no) + " refused\n" + commands;
    if (su_ok + su_no) out += "su: " + std::to_string(su_ok) + " allowed, " + std::to_string(su_no) + " denied\n" + su;
    out += "Sessions: " + std::to_string(sessions.size()) + "\n";
    for (const auto& s : sessions) {
        out += "  session " + (s.id.empty() ? std::string("?") : s.id) + ":";
        if (!s.opened.empty()) {
            out += " opened " + s.opened;
            std::string where = s.service;
            if (!s.rhost.empty()) where += (where.empty() ? "" : " ") + std::string("from ") + s.rhost;
            if (!where.empty()) out += " (" + where + ")";
        }
        if (!s.warned.empty()) out += "; warned " + s.warned;
        if (!s.ended.empty()) out += "; ended by jitlogin " + s.ended + " via " + (s.how.empty() ? "?" : s.how);
        if (!s.closed.empty()) out += "; closed " + s.closed;
        if (s.closed.empty() && s.ended.empty()) out += "; still open (no close recorded)";
        out += "\n";
    }
    if (!other.empty()) out += "Other events:\n" + other;
    return out;
}

}  // namespace jit::audit
