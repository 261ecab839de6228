// op=ssh_keys, op=ssh_principals: what jit-authorized-keys hands to sshd
// (docs/ssh.md, docs/socket-protocol.md).
#include <jit/helperd/daemon.hpp>
#include <jit/names.hpp>
#include <jit/ssh_keys.hpp>

namespace jit::helperd {

namespace field = audit::field;

void Daemon::op_ssh(const ipc::Message& req, const Peer& peer, bool principals, std::function<void(ipc::Message)>& reply) {
    const std::string user = ipc::get(req, "user");
    if (!jit::is_posix_name(user) && user != "root")
        return reply(error_reply("bad_request", "'user' missing or not a valid login name"));
    if (peer.uid == 0) return answer_ssh(user, principals, reply);
    peer_name(peer.uid, reply, [this, user, principals, reply, uid = peer.uid](const std::optional<std::string>& self) {
        if (!self) return reply(error_reply("unknown_peer", "your uid " + std::to_string(uid) + " has no user name"));
        const bool command_user = !config_.ssh.keys_command_user.empty() && *self == config_.ssh.keys_command_user;
        if (*self != user && !command_user)
            return reply(error_reply("forbidden", "only root and " +
                                                      (config_.ssh.keys_command_user.empty() ? std::string("nobody else")
                                                                                             : config_.ssh.keys_command_user) +
                                                      " (ssh.keys_command_user) may ask about another user"));
        answer_ssh(user, principals, reply);
    });
}

void Daemon::answer_ssh(const std::string& user, bool principals, const std::function<void(ipc::Message)>& reply) {
    // Only what a login would be allowed now: no bundle, a suspended stale
    // view, break-glass and unmanaged users all get nothing.
    decide_async(AccessRequest{user, "sshd", AccessKind::Login, "", deps_.loop.now()},
                 later(reply, [this, user, principals, reply](LookupOutcome outcome, const Decision& d, bool managed,
                                                               const LocalAccount&) {
        if (outcome != LookupOutcome::Answered) return reply(unanswered_reply(outcome, user));
        const UnixTime now = deps_.loop.now();
        SshAuthorization auth;
        if (d.verdict == Verdict::Allow) {
            const std::vector<Grant> grants = effective_grants();
            auth = principals ? authorized_principals_for(grants, user, now, config_.ssh.key_options)
                              : authorized_keys_for(grants, user, now, config_.ssh.key_options);
        }
        std::string lines;
        for (const auto& l : auth.lines) lines += l + "\n";
        reply({{"status", "ok"},
               {"managed", managed ? "yes" : "no"},
               {"reason", d.reason},
               {"count", std::to_string(auth.lines.size())},
               {principals ? "principals" : "keys", lines}});
        // A line that fails validation never reaches sshd; the operator hears of it
        // once per daemon run (sshd asks for every key offered).
        for (const auto& why : auth.dropped)
            if (ssh_dropped_told_.insert(why).second)
                deps_.audit.emit(audit::Event{audit::EventType::SecurityAlert,
                                              "ssh key of " + user + " left out: " + why, {}}
                                     .add(std::string(field::kAlert), "ssh.key_dropped")
                                     .add(std::string(field::kUser), user)
                                     .add(std::string(field::kReason), why));
    }));
}

}  // namespace jit::helperd
