// Reading the audit trail back: sd-journal queries on jitlogin's fields, and
// the timeline / JSON / CSV / grant-summary formats of `jitctl audit`.
// (Library jit_audit_reader; the formatting is pure and unit-tested on
// synthetic records.)
#pragma once

#include "jit/audit.hpp"
#include "jit/result.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jit::audit {

// One jitlogin journal entry.
struct Record {
    std::int64_t realtime_usec = 0;             // __REALTIME_TIMESTAMP
    std::map<std::string, std::string> fields;  // MESSAGE, MESSAGE_ID, PRIORITY, SYSLOG_IDENTIFIER,
                                                // _HOSTNAME, _PID, and every JIT_* field
    std::optional<EventType> type;              // from MESSAGE_ID (falls back to JIT_EVENT)

    // The field's value, or "" when absent.
    std::string_view get(std::string_view name) const;
};

struct Query {
    std::string user;                  // JIT_USER=, empty: any
    std::string grant;                 // JIT_GRANT_ID=, empty: any
    std::vector<EventType> events;     // MESSAGE_ID= one of these; empty: every jitlogin event
    std::optional<std::int64_t> since; // unix seconds, inclusive
    std::optional<std::int64_t> until; // unix seconds, inclusive
    std::string directory;             // read this journal directory (e.g. $ROOTFS/var/log/journal/<machine-id>)
    std::vector<std::string> files;    // or these journal files
    // Neither: the local system journal (root, or members of systemd-journal/adm).
};

// Reads matching entries oldest first with sd_journal_add_match on the fields.
Result<std::vector<Record>> read_journal(const Query& query);

// Parses --event values: an event name ("sudo.denied"), or a family
// ("sudo" or "sudo.*" = sudo.allowed + sudo.denied). Several may be given
// comma-separated.
Result<std::vector<EventType>> parse_event_filter(std::string_view spec);

// Parses --since/--until: unix seconds ("1764250000" or "@1764250000"),
// "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" (also with 'T'; local time, or UTC with a
// trailing "Z" or " UTC"), "now", "today", "yesterday", or relative to now:
// "-90s", "-30m", "-1h", "-2d", "-1w" (and "+..."). `now` is unix seconds.
Result<std::int64_t> parse_time_spec(std::string_view spec, std::int64_t now);

// "2026-11-27 18:05:12 UTC" (utc) or local time with the zone abbreviation.
std::string format_time(std::int64_t unix_seconds, bool utc);

// One readable line per event: time, event, user, grant, MESSAGE, and the
// details that matter for that event (service, rhost, command, how...).
std::string format_timeline_line(const Record& r, bool utc);
// One JSON object (no newline): time, realtime_usec, event, message_id,
// priority, message, identifier, hostname, and every JIT_* field.
std::string format_json_line(const Record& r);
// CSV: header once, then one row per record (RFC 4180 quoting; cells that a
// spreadsheet would run as a formula are prefixed with ').
std::string csv_header();
std::string format_csv_line(const Record& r);

// A tlog recording of a JIT session (docs/ssh.md "Session recording"):
// journal entries with TLOG_REC=id, found through the session events of a
// grant (JIT_SESSION_ID, JIT_UID, _BOOT_ID).
struct Recording {
    std::string id;                      // TLOG_REC
    std::string session;                 // the audit/logind session id
    std::string user, grant;             // from the session event
    std::int64_t first_usec = 0, last_usec = 0;
    std::size_t entries = 0;
};

// The recordings of the sessions in `records` (session.opened events):
// entries with TLOG_SESSION=<session> written by the session user's uid
// (the journal's trusted _UID) in the same boot, and whose trusted
// _AUDIT_SESSION, when the journal has it, is that session too. Reads the
// same journal as `where` (directory / files / system).
Result<std::vector<Recording>> read_recordings(const std::vector<Record>& records, const Query& where);

// "Recordings: N" and one line per recording with the command that replays it.
std::string format_recordings(const std::vector<Recording>& recs, bool utc);

// The story of one grant from its records: requested/approved by, reason,
// ticket, window (and extensions), activation, end or revocation, logins,
// sudo commands allowed/denied, su, sessions and how they ended.
std::string summarize_grant(const std::vector<Record>& records, std::string_view grant_id, bool utc);

}  // namespace jit::audit
