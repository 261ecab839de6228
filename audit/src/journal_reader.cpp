// sd-journal queries for jitlogin events, and the --event/--since parsers.
#include "jit/audit_reader.hpp"

#include <systemd/sd-journal.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <algorithm>
#include <map>
#include <memory>
#include <set>

namespace jit::audit {
namespace {

struct JournalCloser {
    void operator()(sd_journal* j) const { sd_journal_close(j); }
};
using JournalPtr = std::unique_ptr<sd_journal, JournalCloser>;

Error journal_error(const std::string& what, int rc) {
    return make_error("journal", what + ": " + std::strerror(-rc));
}

bool keep_field(std::string_view name) {
    return name.starts_with("JIT_") || name == "MESSAGE" || name == "MESSAGE_ID" || name == "PRIORITY" ||
           name == "SYSLOG_IDENTIFIER" || name == "_HOSTNAME" || name == "_PID" || name == "_BOOT_ID";
}

// Adds the matches: (MESSAGE_ID=a OR MESSAGE_ID=b ...) AND JIT_USER=u AND JIT_GRANT_ID=g.
// sd-journal ORs matches on the same field and ANDs different fields.
Status add_matches(sd_journal* j, const Query& q) {
    auto add = [&](std::string m) -> Status {
        int rc = sd_journal_add_match(j, m.data(), m.size());
        if (rc < 0) return journal_error("adding match " + m, rc);
        return Ok{};
    };
    std::span<const EventType> types = q.events.empty() ? all_event_types() : std::span<const EventType>(q.events);
    for (EventType t : types)
        if (auto st = add("MESSAGE_ID=" + std::string(message_id(t))); !st) return st;
    if (!q.user.empty())
        if (auto st = add(std::string(field::kUser) + "=" + q.user); !st) return st;
    if (!q.grant.empty())
        if (auto st = add(std::string(field::kGrantId) + "=" + q.grant); !st) return st;
    return Ok{};
}

}  // namespace

std::string_view Record::get(std::string_view name) const {
    auto it = fields.find(std::string(name));
    return it == fields.end() ? std::string_view() : std::string_view(it->second);
}

namespace {

Result<JournalPtr> open_journal(const Query& q) {
    sd_journal* raw = nullptr;
    int rc = 0;
    if (!q.files.empty()) {
        std::vector<const char*> paths;
        for (const auto& f : q.files) paths.push_back(f.c_str());
        paths.push_back(nullptr);
        rc = sd_journal_open_files(&raw, paths.data(), 0);
        if (rc < 0) return journal_error("opening journal file(s) " + q.files.front(), rc);
    } else if (!q.directory.empty()) {
        rc = sd_journal_open_directory(&raw, q.directory.c_str(), 0);
        if (rc < 0) return journal_error("opening journal directory " + q.directory, rc);
    } else {
        rc = sd_journal_open(&raw, SD_JOURNAL_LOCAL_ONLY);
        if (rc < 0) return journal_error("opening the system journal", rc);
    }
    JournalPtr j(raw);
    sd_journal_set_data_threshold(j.get(), 0);  // whole values, however long
    return j;
}

// The value of FIELD in the current entry, or "" when it has none.
std::string entry_field(sd_journal* j, const char* field) {
    const void* data = nullptr;
    std::size_t len = 0;
    if (sd_journal_get_data(j, field, &data, &len) < 0) return {};
    std::string_view kv(static_cast<const char*>(data), len);
    auto eq = kv.find('=');
    return eq == std::string_view::npos ? std::string() : std::string(kv.substr(eq + 1));
}

}  // namespace

Result<std::vector<Record>> read_journal(const Query& q) {
    auto opened = open_journal(q);
    if (!opened) return opened.error();
    JournalPtr j = std::move(*opened);
    int rc = 0;
    if (auto st = add_matches(j.get(), q); !st) return st.error();

    if (q.since) {
        rc = sd_journal_seek_realtime_usec(j.get(), static_cast<std::uint64_t>(*q.since) * 1000000ULL);
    } else {
        rc = sd_journal_seek_head(j.get());
    }
    if (rc < 0) return journal_error("seeking", rc);

    std::vector<Record> out;
    for (;;) {
        rc = sd_journal_next(j.get());
        if (rc < 0) return journal_error("reading the next entry", rc);
        if (rc == 0) break;
        std::uint64_t usec = 0;
        if (sd_journal_get_realtime_usec(j.get(), &usec) < 0) continue;
        if (q.since && usec < static_cast<std::uint64_t>(*q.since) * 1000000ULL) continue;
        if (q.until && usec >= static_cast<std::uint64_t>(*q.until + 1) * 1000000ULL) break;
        Record r;
        r.realtime_usec = static_cast<std::int64_t>(usec);
        const void* data = nullptr;
        std::size_t len = 0;
        sd_journal_restart_data(j.get());
        while (sd_journal_enumerate_data(j.get(), &data, &len) > 0) {
            std::string_view kv(static_cast<const char*>(data), len);
            auto eq = kv.find('=');
            if (eq == std::string_view::npos) continue;
            std::string_view name = kv.substr(0, eq);
            if (!keep_field(name)) continue;
            r.fields.emplace(std::string(name), std::string(kv.substr(eq + 1)));
        }
        r.type = event_type_from_message_id(r.get("MESSAGE_ID"));
        if (!r.type) r.type = event_type_from_name(r.get(field::kEvent));
        if (!r.type) continue;  // an entry with a jitlogin-like field that is not ours
        out.push_back(std::move(r));
    }
    return out;
}

Result<std::vector<Recording>> read_recordings(const std::vector<Record>& records, const Query& where) {
    std::vector<Recording> out;
    std::set<std::string> seen;  // session|uid|boot already read
    // The user's uid: on the session event, else on the grant's other events
    // (grant.activated, login decisions); PAM's session.opened has no JIT_UID.
    std::map<std::string, std::string> uid_of;
    for (const Record& r : records)
        if (!r.get(field::kUid).empty() && !r.get(field::kUser).empty())
            uid_of.emplace(std::string(r.get(field::kUser)), std::string(r.get(field::kUid)));
    for (const Record& r : records) {
        if (r.type != EventType::SessionOpened) continue;
        const std::string session(r.get(field::kSessionId)), boot(r.get("_BOOT_ID"));
        std::string uid(r.get(field::kUid));
        if (uid.empty()) {
            auto it = uid_of.find(std::string(r.get(field::kUser)));
            if (it != uid_of.end()) uid = it->second;
        }
        if (session.empty() || uid.empty() || !seen.insert(session + "|" + uid + "|" + boot).second) continue;
        auto opened = open_journal(where);
        if (!opened) return opened.error();
        JournalPtr j = std::move(*opened);
        for (std::string m : {"TLOG_SESSION=" + session, "_UID=" + uid, boot.empty() ? "" : "_BOOT_ID=" + boot}) {
            if (m.empty()) continue;
            if (int rc = sd_journal_add_match(j.get(), m.data(), m.size()); rc < 0)
                return journal_error("adding match " + m, rc);
        }
        if (int rc = sd_journal_seek_head(j.get()); rc < 0) return journal_error("seeking", rc);
        std::map<std::string, Recording> by_id;
        for (;;) {
            int rc = sd_journal_next(j.get());
            if (rc < 0) return journal_error("reading the next entry", rc);
            if (rc == 0) break;
            const std::string rec = entry_field(j.get(), "TLOG_REC");
            if (rec.empty()) continue;
            const std::string audit_session = entry_field(j.get(), "_AUDIT_SESSION");
            if (!audit_session.empty() && audit_session != session) continue;  // written from another session
            std::uint64_t usec = 0;
            if (sd_journal_get_realtime_usec(j.get(), &usec) < 0) continue;
            Recording& x = by_id[rec];
            if (x.entries == 0) {
                x.id = rec;
                x.session = session;
                x.user = r.get(field::kUser);
                x.grant = r.get(field::kGrantId);
                x.first_usec = static_cast<std::int64_t>(usec);
            }
            x.last_usec = static_cast<std::int64_t>(usec);
            ++x.entries;
        }
        for (auto& [id, x] : by_id) out.push_back(std::move(x));
    }
    std::sort(out.begin(), out.end(), [](const Recording& a, const Recording& b) { return a.first_usec < b.first_usec; });
    return out;
}

std::string format_recordings(const std::vector<Recording>& recs, bool utc) {
    std::string out = "Recordings (tlog): " + std::to_string(recs.size()) + "\n";
    for (const Recording& x : recs) {
        out += "  session " + x.session + " of " + x.user + ": " + format_time(x.first_usec / 1000000, utc) + " to " +
               format_time(x.last_usec / 1000000, utc) + ", " + std::to_string(x.entries) + " journal entries\n" +
               "    replay: tlog-play -r journal -M TLOG_REC=" + x.id + "\n";
    }
    return out;
}

Result<std::vector<EventType>> parse_event_filter(std::string_view spec) {
    std::vector<EventType> out;
    while (!spec.empty()) {
        auto comma = spec.find(',');
        std::string_view item = spec.substr(0, comma);
        spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item.empty()) continue;
        if (auto t = event_type_from_name(item)) {
            out.push_back(*t);
            continue;
        }
        std::string family(item);
        if (family.ends_with(".*")) family.resize(family.size() - 2);
        family += '.';
        bool found = false;
        for (EventType t : all_event_types())
            if (event_name(t).starts_with(family)) {
                out.push_back(t);
                found = true;
            }
        if (!found) {
            std::string names;
            for (EventType t : all_event_types()) names += (names.empty() ? "" : ", ") + std::string(event_name(t));
            return make_error("event", "unknown event '" + std::string(item) + "'; known events: " + names);
        }
    }
    if (out.empty()) return make_error("event", "empty --event filter");
    return out;
}

namespace {

bool digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

std::optional<int> num(std::string_view s) {
    int v = 0;
    if (!digits(s)) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc()) return std::nullopt;
    return v;
}

std::int64_t local_midnight(std::int64_t now) {
    std::time_t t = static_cast<std::time_t>(now);
    std::tm tm{};
    localtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return static_cast<std::int64_t>(std::mktime(&tm));
}

}  // namespace

Result<std::int64_t> parse_time_spec(std::string_view spec, std::int64_t now) {
    auto bad = [&] {
        return make_error("time", "cannot parse time '" + std::string(spec) +
                                      "': use unix seconds, 'YYYY-MM-DD [HH:MM[:SS]]' (local time, or UTC with "
                                      "a trailing Z/UTC), now, today, yesterday, or -30m/-1h/-2d/-1w");
    };
    std::string_view s = spec;
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    if (s.empty()) return bad();
    if (s == "now") return now;
    if (s == "today") return local_midnight(now);
    if (s == "yesterday") return local_midnight(local_midnight(now) - 43200);
    if (s.front() == '@') s.remove_prefix(1);
    if (digits(s) && s.size() <= 12) {
        std::int64_t v = 0;
        std::from_chars(s.data(), s.data() + s.size(), v);
        return v;
    }
    if (s.front() == '-' || s.front() == '+') {
        int sign = s.front() == '-' ? -1 : 1;
        std::string_view body = s.substr(1);
        if (body.size() < 2) return bad();
        char unit = body.back();
        auto n = num(body.substr(0, body.size() - 1));
        std::int64_t mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400
                          : unit == 'w' ? 604800 : 0;
        if (!n || mult == 0) return bad();
        return now + sign * static_cast<std::int64_t>(*n) * mult;
    }
    // Absolute date[ time][Z| UTC]
    bool utc = false;
    if (s.ends_with("Z")) {
        utc = true;
        s.remove_suffix(1);
    } else if (s.ends_with(" UTC")) {
        utc = true;
        s.remove_suffix(4);
    }
    if (s.size() < 10 || s[4] != '-' || s[7] != '-') return bad();
    std::tm tm{};
    auto y = num(s.substr(0, 4)), mo = num(s.substr(5, 2)), d = num(s.substr(8, 2));
    if (!y || !mo || !d || *mo < 1 || *mo > 12 || *d < 1 || *d > 31) return bad();
    tm.tm_year = *y - 1900;
    tm.tm_mon = *mo - 1;
    tm.tm_mday = *d;
    std::string_view rest = s.substr(10);
    if (!rest.empty()) {
        if (rest.front() != ' ' && rest.front() != 'T') return bad();
        rest.remove_prefix(1);
        if (rest.size() != 5 && rest.size() != 8) return bad();
        auto h = num(rest.substr(0, 2)), mi = num(rest.substr(3, 2));
        if (rest[2] != ':' || !h || !mi || *h > 23 || *mi > 59) return bad();
        tm.tm_hour = *h;
        tm.tm_min = *mi;
        if (rest.size() == 8) {
            auto sec = num(rest.substr(6, 2));
            if (rest[5] != ':' || !sec || *sec > 60) return bad();
            tm.tm_sec = *sec;
        }
    }
    tm.tm_isdst = -1;
    std::time_t t = utc ? timegm(&tm) : std::mktime(&tm);
    if (t == static_cast<std::time_t>(-1)) return bad();
    return static_cast<std::int64_t>(t);
}

}  // namespace jit::audit
