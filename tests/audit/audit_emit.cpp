// Emits a full grant lifecycle through make_default_sink() (the journal when
// its socket exists, stderr otherwise), for journal_e2e.sh.
//   audit_emit GRANT_ID [USER]
#include "jit/audit.hpp"
#include "jit/grant.hpp"

#include <ctime>
#include <string>

using namespace jit::audit;

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    jit::Grant g;
    g.id = argv[1];
    g.user = argc > 2 ? argv[2] : "alice";
    g.uid = 70001;
    g.not_before = static_cast<std::int64_t>(std::time(nullptr)) - 10;
    g.not_after = g.not_before + 3600;
    g.reason = "patch openssl\nurgently";  // the newline must not survive into the journal
    g.ticket = "CHG-88";
    g.requested_by = g.user;
    g.approved_by = {"bob", "carol"};
    auto sink = make_default_sink("jit-audit-test");
    auto f = grant_fields(g);
    auto who = [&] {
        return Fields{{"JIT_USER", g.user}, {"JIT_UID", "70001"}, {"JIT_GRANT_ID", g.id}};
    };
    sink->emit(Event{EventType::GrantActivated, "grant " + g.id + " active for " + g.user, f});
    sink->emit(Event{EventType::LoginAllowed, "login allowed for " + g.user + " via sshd", who()}
                   .add("JIT_SERVICE", "sshd").add("JIT_RHOST", "10.0.0.5").add("JIT_DECISION", "allow"));
    sink->emit(Event{EventType::SessionOpened, "session 4 opened", who()}
                   .add("JIT_SESSION_ID", "4").add("JIT_SERVICE", "sshd").add("JIT_RHOST", "10.0.0.5"));
    sink->emit(Event{EventType::SudoAllowed, "sudo allowed", who()}
                   .add("JIT_RUN_AS", "root").add("JIT_COMMAND", "/usr/bin/apt-get upgrade").add("JIT_DECISION", "allow"));
    sink->emit(Event{EventType::SudoDenied, "sudo denied", who()}
                   .add("JIT_RUN_AS", "root").add("JIT_COMMAND", "/bin/bash").add("JIT_DECISION", "deny")
                   .add("JIT_REASON", "command not in grant").add("jit-bad name", "sanitized"));
    sink->emit(Event{EventType::SessionWarned, "session 4 warned", who()}
                   .add("JIT_SESSION_ID", "4").add("JIT_SECONDS_LEFT", "300"));
    sink->emit(Event{EventType::GrantEnded, "grant " + g.id + " ended", f});
    sink->emit(Event{EventType::SessionEnded, "session 4 ended", who()}
                   .add("JIT_SESSION_ID", "4").add("JIT_HOW", "terminate-session"));
    sink->emit(Event{EventType::SessionClosed, "session 4 closed", who()}.add("JIT_SESSION_ID", "4"));
    // Someone else's event that the filters must exclude.
    sink->emit(Event{EventType::LoginDenied, "login denied for mallory", {{"JIT_USER", "mallory"},
                                                                          {"JIT_REASON", "no active grant"}}});
    return 0;
}
