// Structured audit events (docs/audit.md). One event per decision or state
// change; each type has a stable MESSAGE_ID. Callers never format log lines.
//
// Linked into jit-helperd (with its enforcement and upload libraries) and,
// through jit_audit_reader, into jitctl; not into pam_jit.so, which reports
// through the daemon. No iostreams, no global constructors, no threads, no
// exceptions escaping emit().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jit {
struct Grant;
}

namespace jit::audit {

enum class EventType {
    BundleAccepted, BundleRejected, StaleBegin, StaleEnd,
    GrantActivated, GrantEnded, GrantRevoked,
    GrantLimited,
    LoginAllowed, LoginDenied, SudoAllowed, SudoDenied, SuAllowed, SuDenied,
    SudoCommand, SudoRefused,  // what sudo ran / refused, from jitlogin's sudo audit plugin
    SessionOpened, SessionWarned, SessionEnded, SessionClosed,
    UserEnded,  // what a user left running outside their sessions, ended with their last grant
    HomeCreated, HomeArchived, HomeDeleted,
    DaemonStarted, DaemonStopped, ConfigReloaded,
    RequestRelayed, RequestDecided,
    SecurityAlert,  // anything an operator must look at that fits no other type
};

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Event {
    EventType type;
    std::string message;  // human MESSAGE, one line
    // Journal fields, e.g. {"JIT_USER","alice"}, {"JIT_GRANT_ID","g-7f3a"}.
    // JIT_EVENT, MESSAGE_ID and PRIORITY are added by the sink from `type`.
    std::vector<std::pair<std::string, std::string>> fields;

    // Appends a field; returns *this so calls chain.
    Event& add(std::string name, std::string value);
    Event& add(std::string name, std::int64_t value);
    // Appends several fields (e.g. grant_fields(g)).
    Event& add(const Fields& more);
    // The first value of `name`, if present.
    std::optional<std::string_view> field(std::string_view name) const;
};

// Where events go. The daemon uses the journal when it exists, stderr
// otherwise; tests install a recording sink.
class Sink {
public:
    virtual ~Sink() = default;
    virtual void emit(const Event& event) = 0;
};

// Stable names and ids for each type ("login.allowed", 128-bit hex id, priority).
std::string_view event_name(EventType type);
std::string_view message_id(EventType type);
int priority(EventType type);
// One-line description of the event (used in docs/audit.md and the catalog).
std::string_view event_summary(EventType type);
// The fields an event of this type carries when they apply (documentation;
// the sinks do not enforce it).
std::span<const std::string_view> event_fields(EventType type);

// Every EventType, in declaration order.
std::span<const EventType> all_event_types();
std::optional<EventType> event_type_from_name(std::string_view name);
std::optional<EventType> event_type_from_message_id(std::string_view id);

// Field names. Values are UTF-8 text; times are unix seconds (UTC) in decimal.
namespace field {
inline constexpr std::string_view kEvent = "JIT_EVENT";             // event_name(type)
inline constexpr std::string_view kUser = "JIT_USER";               // POSIX login name
inline constexpr std::string_view kUid = "JIT_UID";
inline constexpr std::string_view kGrantId = "JIT_GRANT_ID";
inline constexpr std::string_view kDecision = "JIT_DECISION";       // allow | deny
inline constexpr std::string_view kReason = "JIT_REASON";           // grant reason, or why denied
inline constexpr std::string_view kService = "JIT_SERVICE";         // PAM service (sshd, sudo, su)
inline constexpr std::string_view kRhost = "JIT_RHOST";
inline constexpr std::string_view kTty = "JIT_TTY";
inline constexpr std::string_view kSessionId = "JIT_SESSION_ID";     // logind session id
inline constexpr std::string_view kNotBefore = "JIT_NOT_BEFORE";
inline constexpr std::string_view kNotAfter = "JIT_NOT_AFTER";
inline constexpr std::string_view kRequestedBy = "JIT_REQUESTED_BY";
inline constexpr std::string_view kApprovedBy = "JIT_APPROVED_BY";   // comma-separated
inline constexpr std::string_view kTicket = "JIT_TICKET";
inline constexpr std::string_view kRevision = "JIT_REVISION";
inline constexpr std::string_view kRule = "JIT_RULE";               // bundle.rejected: the failed check; grant.limited: the [limits] key
inline constexpr std::string_view kCommand = "JIT_COMMAND";         // sudo command line
inline constexpr std::string_view kRunAs = "JIT_RUN_AS";            // sudo -u / su target
inline constexpr std::string_view kHow = "JIT_HOW";                 // session.ended: terminate-session | kill-session | fallback-kill; user.ended: terminate-user | kill-user
inline constexpr std::string_view kRevokedBy = "JIT_REVOKED_BY";
inline constexpr std::string_view kRequestId = "JIT_REQUEST_ID";
inline constexpr std::string_view kState = "JIT_STATE";             // request.decided: approved | denied | expired | cancelled
inline constexpr std::string_view kPath = "JIT_PATH";               // home dir / archive / config path
inline constexpr std::string_view kSecondsLeft = "JIT_SECONDS_LEFT"; // session.warned
inline constexpr std::string_view kAlert = "JIT_ALERT";             // security.alert kind
inline constexpr std::string_view kCount = "JIT_COUNT";             // e.g. events dropped, grants in a bundle
inline constexpr std::string_view kPid = "JIT_PID";
inline constexpr std::string_view kError = "JIT_ERROR";             // machine error code
inline constexpr std::string_view kKeyId = "JIT_KEY_ID";            // bundle: key_id of the signing key
inline constexpr std::string_view kExpiresAt = "JIT_EXPIRES_AT";    // bundle: expires_at
inline constexpr std::string_view kRuser = "JIT_RUSER";             // PAM_RUSER (sudo/su: the invoking user)
inline constexpr std::string_view kDuration = "JIT_DURATION";       // request: seconds asked for
inline constexpr std::string_view kCause = "JIT_CAUSE";             // grant.ended: why (expired, revoked, removed...)
inline constexpr std::string_view kTerminals = "JIT_TERMINALS";     // session.warned: terminals written to
inline constexpr std::string_view kArchive = "JIT_ARCHIVE";         // home.archived: archive path
inline constexpr std::string_view kStep = "JIT_STEP";               // session.ended, user.ended: polite | hard
inline constexpr std::string_view kAction = "JIT_ACTION";           // grant.limited: dropped | clamped | replaced | refused
inline constexpr std::string_view kDetail = "JIT_DETAIL";           // grant.limited: what was changed
inline constexpr std::string_view kCwd = "JIT_CWD";                 // sudo.command/refused: working directory
}  // namespace field

// A journal field name: 1-64 chars of [A-Z0-9_], not starting with '_' or a digit.
bool valid_field_name(std::string_view name);
// Maps any string to a valid field name (uppercase, others -> '_', "X" prefix if needed).
std::string sanitize_field_name(std::string_view name);
// Control characters (newline, tab, ESC...) become spaces: every value stays one line.
std::string sanitize_value(std::string_view value);

// The fields every grant-related event carries: JIT_USER, JIT_UID (when
// known: the grant's or the host-allocated one), JIT_GRANT_ID, JIT_NOT_BEFORE,
// JIT_NOT_AFTER, JIT_REQUESTED_BY, JIT_APPROVED_BY, JIT_TICKET (when set), JIT_REASON.
Fields grant_fields(const jit::Grant& grant, std::optional<std::uint32_t> uid = std::nullopt);

// Writes to journald via sd_journal_sendv: MESSAGE, MESSAGE_ID, PRIORITY,
// JIT_EVENT, SYSLOG_IDENTIFIER, then the event's fields (names sanitized,
// values one line; caller fields that collide with those five are skipped).
// If journald's socket is gone or journald refuses the entry, the event goes
// to `fallback` (stderr by default) with JIT_ERROR=journal:...: never silently
// dropped.
class JournalSink final : public Sink {
public:
    explicit JournalSink(std::string identifier, std::unique_ptr<Sink> fallback = nullptr,
                         std::string socket_path = "/run/systemd/journal/socket");
    void emit(const Event& event) noexcept override;

private:
    std::string identifier_;
    std::unique_ptr<Sink> fallback_;
    std::string socket_path_;
};

// One line per event to a file descriptor (stderr by default), written with a
// single write(2):
//   jit-helperd: login.allowed priority=5 message="..." JIT_USER=alice JIT_GRANT_ID=g-1
// Values with spaces, quotes, '=' or backslashes are double-quoted with \" and \\ escapes.
class StderrSink final : public Sink {
public:
    explicit StderrSink(std::string identifier, int fd = 2);
    void emit(const Event& event) noexcept override;

private:
    std::string identifier_;
    int fd_;
};

// Keeps every event in memory (tests).
class RecordingSink final : public Sink {
public:
    void emit(const Event& event) override { events.push_back(event); }
    std::size_t count(EventType type) const;
    const Event* last(EventType type) const;  // nullptr when none
    std::vector<Event> events;
};

// Formats the StderrSink line (without the identifier prefix).
std::string format_line(const Event& event);

inline constexpr std::string_view kJournalSocket = "/run/systemd/journal/socket";

// The journal when `journal_socket` is a socket (StderrSink its fallback),
// otherwise StderrSink. Never returns null.
std::unique_ptr<Sink> make_default_sink(std::string identifier, std::string_view journal_socket = kJournalSocket);

}  // namespace jit::audit
