// The single source of truth for event names, MESSAGE_IDs, priorities and
// documented fields. docs/audit.md and audit/jitlogin.catalog are checked
// against this table by tests/audit.
#include "jit/audit.hpp"

#include <syslog.h>

#include <array>

namespace jit::audit {
namespace {

using namespace field;

// Field lists shared by several events.
constexpr std::string_view kGrantF[] = {kUser, kUid, kGrantId, kNotBefore, kNotAfter, kRequestedBy,
                                        kApprovedBy, kTicket, kReason};
constexpr std::string_view kEndedGrantF[] = {kUser, kUid, kGrantId, kNotBefore, kNotAfter, kRequestedBy,
                                             kApprovedBy, kTicket, kReason, kCause};
constexpr std::string_view kRevokedF[] = {kUser, kUid, kGrantId, kNotAfter, kRevokedBy, kReason, kRevision};
constexpr std::string_view kLimitedF[] = {kUser, kUid, kGrantId, kNotBefore, kNotAfter, kRequestedBy,
                                          kApprovedBy, kTicket, kRule, kAction, kDetail};
constexpr std::string_view kBundleOkF[] = {kRevision, kCount, kKeyId, kExpiresAt};
constexpr std::string_view kBundleBadF[] = {kRevision, kRule, kError, kReason};
constexpr std::string_view kStaleF[] = {kRevision, kExpiresAt, kReason};
constexpr std::string_view kAccessF[] = {kUser, kUid, kGrantId, kDecision, kReason, kService, kRhost, kRuser,
                                         kTty, kNotAfter, kApprovedBy, kTicket};
constexpr std::string_view kSudoF[] = {kUser, kUid, kGrantId, kDecision, kReason, kService, kRuser, kTty, kRunAs,
                                       kCommand, kNotAfter, kApprovedBy, kTicket};
constexpr std::string_view kSudoCmdF[] = {kUser, kUid, kGrantId, kDecision, kReason, kRunAs, kCommand, kCwd, kTty,
                                          kPid, kNotAfter};
constexpr std::string_view kSuF[] = {kUser, kUid, kGrantId, kDecision, kReason, kService, kRuser, kTty, kRunAs,
                                     kNotAfter};
constexpr std::string_view kSessionF[] = {kUser, kUid, kGrantId, kSessionId, kService, kRhost, kTty, kNotAfter};
constexpr std::string_view kWarnF[] = {kUser, kUid, kGrantId, kSessionId, kTty, kNotAfter, kSecondsLeft, kTerminals};
constexpr std::string_view kEndedF[] = {kUser, kUid, kGrantId, kSessionId, kHow, kStep, kReason, kNotAfter};
constexpr std::string_view kUserEndedF[] = {kUser, kUid, kHow, kStep, kError};
constexpr std::string_view kHomeF[] = {kUser, kUid, kGrantId, kPath, kArchive};
constexpr std::string_view kDaemonF[] = {kPid, kRevision, kReason};
constexpr std::string_view kConfigF[] = {kPath, kCount, kReason};
constexpr std::string_view kRelayF[] = {kUser, kUid, kRequestId, kReason, kTicket, kRunAs, kCommand, kDuration};
constexpr std::string_view kDecidedF[] = {kUser, kUid, kRequestId, kState, kGrantId, kApprovedBy, kReason};
constexpr std::string_view kAlertF[] = {kAlert, kReason, kError, kCount, kUser, kUid, kGrantId, kPath, kArchive};

struct Info {
    EventType type;
    std::string_view name;
    std::string_view id;
    int priority;
    std::string_view summary;
    std::span<const std::string_view> fields;
};

// MESSAGE_IDs were generated once with uuid4().hex and must never change.
constexpr std::array kTable = {
    Info{EventType::BundleAccepted, "bundle.accepted", "3899d54c9b634a09a7434274580c4a8d", LOG_INFO,
         "A signed grants bundle from the authority passed every check and is now in force.", kBundleOkF},
    Info{EventType::BundleRejected, "bundle.rejected", "a5a4781781304e0d87ccac8a40962d5a", LOG_WARNING,
         "A grants bundle failed a check (JIT_RULE); the previous state stays in force.", kBundleBadF},
    Info{EventType::StaleBegin, "stale.begin", "ddbc4aa11bc945b2b9bebbca6ef530e8", LOG_WARNING,
         "The accepted bundle expired without a newer one: revocations may be missed.", kStaleF},
    Info{EventType::StaleEnd, "stale.end", "ec268deae7164652abdaa409705a62d5", LOG_NOTICE,
         "A fresh bundle was accepted after a stale period.", kStaleF},
    Info{EventType::GrantActivated, "grant.activated", "0c0e8f07338b46adb0012c3963442b95", LOG_NOTICE,
         "A grant's window opened: the user may now log in / use sudo as granted.", kGrantF},
    Info{EventType::GrantEnded, "grant.ended", "8bd8057cbab345bd8dde03fa201f5514", LOG_NOTICE,
         "A grant's window closed (not_after reached, or the grant left the bundle; JIT_CAUSE says which).",
         kEndedGrantF},
    Info{EventType::GrantRevoked, "grant.revoked", "6caee379623249859edf7b8c606477f3", LOG_NOTICE,
         "The authority revoked a grant before its window ended.", kRevokedF},
    Info{EventType::GrantLimited, "grant.limited", "b24d26c8935c4c16b29dff80fceaaa3f", LOG_WARNING,
         "This host's [limits] dropped, clamped, replaced or refused part of a signed grant (JIT_RULE says which "
         "key).",
         kLimitedF},
    Info{EventType::LoginAllowed, "login.allowed", "120618d6696549a890d9e471f2228379", LOG_NOTICE,
         "A JIT user was allowed to log in under an active grant.", kAccessF},
    Info{EventType::LoginDenied, "login.denied", "8292b43e6b924241b0ec2f28576705f9", LOG_WARNING,
         "A JIT user was refused a login (JIT_REASON says why).", kAccessF},
    Info{EventType::SudoAllowed, "sudo.allowed", "ad2564f42606432fac88efed9ee994c6", LOG_NOTICE,
         "A JIT user was allowed to run a command with sudo under an active grant.", kSudoF},
    Info{EventType::SudoDenied, "sudo.denied", "41a97859c7a64c7b943bc6e41bac3319", LOG_WARNING,
         "A JIT user was refused sudo (JIT_REASON says why).", kSudoF},
    Info{EventType::SuAllowed, "su.allowed", "480eb14a026c4aa4a846510037ffc3c8", LOG_NOTICE,
         "su to or from a JIT user was allowed under an active grant.", kSuF},
    Info{EventType::SuDenied, "su.denied", "339919e208ea449cbb74a66ff9207d0f", LOG_WARNING,
         "su to or from a JIT user was refused (JIT_REASON says why).", kSuF},
    Info{EventType::SudoCommand, "sudo.command", "f5b219969ea448fe976d5566967d593a", LOG_NOTICE,
         "sudo ran a command for a JIT user (JIT_COMMAND, as JIT_RUN_AS, in JIT_CWD, on JIT_TTY).", kSudoCmdF},
    Info{EventType::SudoRefused, "sudo.refused", "0d6bbb1604f54291be4a01b0805c096a", LOG_WARNING,
         "sudo refused a command of a JIT user (sudoers or pam_jit said no; JIT_REASON is sudo's message).",
         kSudoCmdF},
    Info{EventType::SessionOpened, "session.opened", "a5a0d1fe3a4f41af9c7863da1699bfd4", LOG_INFO,
         "A JIT user's session opened and is tracked until the window ends.", kSessionF},
    Info{EventType::SessionWarned, "session.warned", "4d98845ccd86497a9e7360923652049a", LOG_INFO,
         "The user's terminals were warned that the window is about to close.", kWarnF},
    Info{EventType::SessionEnded, "session.ended", "680fbea583c546a88884a010a0d66fdf", LOG_NOTICE,
         "jitlogin ended a session because its grant ended (JIT_HOW: terminate-session, kill-session, "
         "fallback-kill).",
         kEndedF},
    Info{EventType::SessionClosed, "session.closed", "2c9a8251ca0b426ea12efdf3bf171491", LOG_INFO,
         "A JIT user's session closed (logout or termination).", kSessionF},
    Info{EventType::UserEnded, "user.ended", "ecb8b930637d4d37813fa1a022ef0260", LOG_NOTICE,
         "A JIT user's last grant ended: jitlogin switched their lingering off and ended their user manager and "
         "whatever else of theirs ran outside a session (JIT_HOW: terminate-user, kill-user).",
         kUserEndedF},
    Info{EventType::HomeCreated, "home.created", "c9d9cc31ebf84b958ba61f0f2d928b8c", LOG_INFO,
         "A home directory was created for a JIT user.", kHomeF},
    Info{EventType::HomeArchived, "home.archived", "3ffefc68a69041358935a8fd59495c70", LOG_INFO,
         "A JIT user's home directory was archived after the grant ended.", kHomeF},
    Info{EventType::HomeDeleted, "home.deleted", "120aefd0f23c4aa29ac33f89848834fc", LOG_NOTICE,
         "A JIT user's home directory (or its archive) was deleted by retention policy.", kHomeF},
    Info{EventType::DaemonStarted, "daemon.started", "64c2cf9b78664401af00e6da8d44bf54", LOG_INFO,
         "jit-helperd started.", kDaemonF},
    Info{EventType::DaemonStopped, "daemon.stopped", "5f659febee2c44d0b3252f5b79135ca6", LOG_INFO,
         "jit-helperd stopped.", kDaemonF},
    Info{EventType::ConfigReloaded, "config.reloaded", "317a4be23f9b4a67bd73d3a4f5fdac27", LOG_INFO,
         "jit-helperd reloaded its configuration.", kConfigF},
    Info{EventType::RequestRelayed, "request.relayed", "e70327af4fc14841b2f5fecc57d1b5fd", LOG_INFO,
         "A local access request was relayed to the authority.", kRelayF},
    Info{EventType::RequestDecided, "request.decided", "3fe89612a86a4db69f6c3d417e26ca24", LOG_NOTICE,
         "The authority decided a relayed access request.", kDecidedF},
    Info{EventType::SecurityAlert, "security.alert", "115bade1397d42b0936a1f934ae6383d", LOG_CRIT,
         "Something an operator must look at (JIT_ALERT says what).", kAlertF},
};

constexpr const Info& info(EventType type) {
    return kTable[static_cast<std::size_t>(type)];
}

constexpr bool table_in_order() {
    for (std::size_t i = 0; i < kTable.size(); ++i)
        if (static_cast<std::size_t>(kTable[i].type) != i) return false;
    return kTable.back().type == EventType::SecurityAlert;
}
static_assert(table_in_order(), "kTable must list every EventType in declaration order");

constexpr std::array<EventType, kTable.size()> make_types() {
    std::array<EventType, kTable.size()> out{};
    for (std::size_t i = 0; i < kTable.size(); ++i) out[i] = kTable[i].type;
    return out;
}
constexpr auto kTypes = make_types();

}  // namespace

std::string_view event_name(EventType type) { return info(type).name; }
std::string_view message_id(EventType type) { return info(type).id; }
int priority(EventType type) { return info(type).priority; }
std::string_view event_summary(EventType type) { return info(type).summary; }
std::span<const std::string_view> event_fields(EventType type) { return info(type).fields; }
std::span<const EventType> all_event_types() { return kTypes; }

std::optional<EventType> event_type_from_name(std::string_view name) {
    for (const auto& i : kTable)
        if (i.name == name) return i.type;
    return std::nullopt;
}

std::optional<EventType> event_type_from_message_id(std::string_view id) {
    for (const auto& i : kTable)
        if (i.id == id) return i.type;
    return std::nullopt;
}

}  // namespace jit::audit
