// Structured audit events (docs/audit.md). One event per decision or state
// change; each type has a stable MESSAGE_ID. Callers never format log lines.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jit::audit {

enum class EventType {
    BundleAccepted, BundleRejected, StaleBegin, StaleEnd,
    GrantActivated, GrantEnded, GrantRevoked,
    LoginAllowed, LoginDenied, SudoAllowed, SudoDenied, SuAllowed, SuDenied,
    SessionOpened, SessionWarned, SessionEnded, SessionClosed,
    HomeCreated, HomeArchived, HomeDeleted,
    DaemonStarted, DaemonStopped, ConfigReloaded,
    RequestRelayed, RequestDecided,
    SecurityAlert,  // anything an operator must look at that fits no other type
};

struct Event {
    EventType type;
    std::string message;  // human MESSAGE, one line
    // Journal fields, e.g. {"JIT_USER","alice"}, {"JIT_GRANT_ID","g-7f3a"}.
    // JIT_EVENT, MESSAGE_ID and PRIORITY are added by the sink from `type`.
    std::vector<std::pair<std::string, std::string>> fields;
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

}  // namespace jit::audit
