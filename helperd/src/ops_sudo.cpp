// op=sudo_audit: jitlogin's sudo audit plugin reports a command sudo ran or
// refused (docs/sudo.md, docs/socket-protocol.md).
#include <jit/helperd/daemon.hpp>
#include <jit/helperd/sudo_audit.hpp>

#include <memory>

namespace jit::helperd {

namespace field = audit::field;

void Daemon::op_sudo_audit(const ipc::Message& req, const Peer& peer, std::function<void(ipc::Message)>& reply) {
    // sudo is setuid root: the plugin inside it connects with euid 0. Anyone
    // else could write whatever they like into the audit trail.
    if (peer.uid != 0) return reply(error_reply("forbidden", "sudo_audit is for sudo's audit plugin (root) only"));
    auto rec = parse_sudo_audit(req);
    if (!rec) return reply(error_reply(rec.error().code, rec.error().message));
    const bool ran = rec->kind == SudoAuditRecord::Kind::Accept;
    AccessRequest ar{rec->user, "sudo", AccessKind::Sudo, rec->run_as[0] == '#' ? "" : rec->run_as, deps_.loop.now()};
    auto record = std::make_shared<SudoAuditRecord>(std::move(*rec));
    decide_async(std::move(ar), later(reply, [this, rec = std::move(record), ran, peer, reply](
                                                 LookupOutcome, const Decision& d, bool managed, const LocalAccount& account) {
        // Without an answer from NSS (timed out, busy) the user may be managed:
        // recorded, like an NSS error (decide_async says managed).
        reply({{"status", "ok"}, {"managed", managed ? "yes" : "no"}});
        if (!managed) return;  // users jitlogin does not manage are not its to record
        const std::string command = render_command_line(rec->argv, rec->truncated);
        // reject: the policy said no; error: sudo stopped before running it (e.g. authentication failed).
        const char* kind = ran ? "ran" : rec->kind == SudoAuditRecord::Kind::Error ? "did not run" : "refused";
        audit::Event e{ran ? audit::EventType::SudoCommand : audit::EventType::SudoRefused,
                       std::string("sudo ") + kind + " \"" + command + "\" as " + rec->run_as + " for " + rec->user, {}};
        e.add(std::string(field::kUser), rec->user)
            .add(std::string(field::kDecision), ran ? "allow" : "deny")
            .add(std::string(field::kRunAs), rec->run_as)
            .add(std::string(field::kCommand), command)
            .add(std::string(field::kPid), std::int64_t(peer.pid));
        if (!rec->cwd.empty()) e.add(std::string(field::kCwd), rec->cwd);
        if (!rec->tty.empty()) e.add(std::string(field::kTty), rec->tty);
        if (!rec->message.empty()) e.add(std::string(field::kReason), rec->message);
        if (!d.grant_id.empty()) e.add(std::string(field::kGrantId), d.grant_id).add(std::string(field::kNotAfter), d.not_after);
        if (account.uid) e.add(std::string(field::kUid), std::int64_t(*account.uid));
        deps_.audit.emit(e);
    }));
}

}  // namespace jit::helperd
