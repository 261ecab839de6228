// Local socket operations (docs/socket-protocol.md).
#include <jit/helperd/daemon.hpp>
#include <jit/helperd/json_answer.hpp>
#include <jit/names.hpp>

#include <json/json.h>

#include <algorithm>
#include <memory>
#include <optional>

#ifndef JIT_VERSION
#define JIT_VERSION "0"
#endif

namespace jit::helperd {

using audit::Event;
using audit::EventType;
namespace field = audit::field;
using Reply = std::function<void(ipc::Message)>;

namespace {

// What a check or a session is for: the request's `kind` when it names one,
// else what its PAM service is (a sudo session needs the sudo right, not
// login). nullopt: a `kind` that is none of login, sudo, su.
std::optional<AccessKind> requested_kind(const ipc::Message& req, const std::string& service) {
    const std::string k = ipc::get(req, "kind");
    return k.empty() ? std::optional<AccessKind>(classify_service(service)) : parse_access_kind(k);
}

// op=request: what one relayed request may carry (PROTOCOL.md sets no limit;
// the authority and the audit record get at most this).
constexpr std::size_t kMaxRequestCommands = 64;
constexpr std::size_t kMaxRequestCommandBytes = 4096;

// What host limits changed in grant `id` (describe() of each note).
Json::Value limits_json(const std::vector<LimitNote>& notes, const std::string& id) {
    Json::Value out(Json::arrayValue);
    for (const auto& n : notes)
        if (n.grant_id == id) out.append(describe(n));
    return out;
}

const char* verdict_word(Verdict v) {
    switch (v) {
    case Verdict::Allow: return "allow";
    case Verdict::Deny: return "deny";
    case Verdict::NotManaged: return "ignore";
    }
    return "deny";
}

EventType event_for(AccessKind kind, bool allowed) {
    switch (kind) {
    case AccessKind::Sudo: return allowed ? EventType::SudoAllowed : EventType::SudoDenied;
    case AccessKind::Su: return allowed ? EventType::SuAllowed : EventType::SuDenied;
    case AccessKind::Login: break;
    }
    return allowed ? EventType::LoginAllowed : EventType::LoginDenied;
}

bool valid_request_id(const std::string& s) { return jit::is_valid_grant_id(s); }

std::optional<std::int64_t> to_int(const std::string& s) {
    if (s.empty() || s.size() > 12) return std::nullopt;
    std::int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

// The answer about a user name outside the grant name rule (PROTOCOL.md:
// ^[a-z_][a-z0-9_-]{0,31}$): never managed, so pam_jit returns PAM_IGNORE.
ipc::Message not_a_jit_name() {
    return {{"status", "ok"}, {"decision", "ignore"}, {"reason", "not_managed"}, {"managed", "no"}};
}

bool parse_json(const std::string& text, Json::Value& out) {
    Json::CharReaderBuilder b;
    b["collectComments"] = false;
    std::unique_ptr<Json::CharReader> r(b.newCharReader());
    std::string errs;
    return text.size() < 1024 * 1024 && r->parse(text.data(), text.data() + text.size(), &out, &errs);
}

}  // namespace

Json::Value Daemon::status_json() {
    const UnixTime now = deps_.loop.now();
    Json::Value s(Json::objectValue);
    s["version"] = JIT_VERSION;
    s["host_id"] = config_.authority.host_id;
    s["authority_url"] = config_.authority.url;
    s["started_at"] = Json::Int64(started_at_);
    s["now"] = Json::Int64(now);
    s["have_bundle"] = held_.have_bundle;
    s["revision"] = Json::Int64(held_.revision);
    s["issued_at"] = Json::Int64(held_.issued_at);
    s["expires_at"] = Json::Int64(held_.expires_at);
    s["accepted_at"] = Json::Int64(held_.accepted_at);
    s["stale"] = held_.stale_at(now);
    s["stale_policy"] = to_string(config_.policy.stale_policy);
    Json::UInt64 active = 0;
    for (const auto& g : held_.grants)
        if (g.active_at(now)) ++active;
    s["grants_total"] = Json::UInt64(held_.grants.size());
    s["grants_active"] = active;
    s["grants_refused"] = Json::UInt64(held_.refused.size());
    const SyncStatus& st = sync_->status();
    Json::Value sync(Json::objectValue);
    sync["last_attempt"] = Json::Int64(st.last_attempt);
    sync["last_success"] = Json::Int64(st.last_success);
    sync["last_result"] = st.last_result;
    sync["last_ok"] = st.last_ok;
    sync["consecutive_failures"] = st.consecutive_failures;
    sync["next_retry_ms"] = Json::Int64(st.next_retry_ms);
    sync["bundles_accepted"] = Json::UInt64(st.bundles_accepted);
    sync["bundles_rejected"] = Json::UInt64(st.bundles_rejected);
    s["sync"] = sync;
    s["sessions"] = Json::UInt64(sessions_ ? sessions_->count() : 0);
    s["pam_timeout_ms"] = config_.pam_timeout_ms;
    s["publish_error"] = last_publish_error_;
    for (auto& c : components_) c->add_status(s);
    return s;
}

namespace {

// Leaves out, at any depth, each array entry that is an object naming a
// "user" other than `user`.
void keep_only_user(Json::Value& v, const std::string& user) {
    if (v.isObject()) {
        for (const auto& name : v.getMemberNames()) keep_only_user(v[name], user);
    } else if (v.isArray()) {
        Json::Value kept(Json::arrayValue);
        for (auto& item : v) {
            if (item.isObject() && item.isMember("user") && item["user"] != Json::Value(user)) continue;
            keep_only_user(item, user);
            kept.append(item);
        }
        v.swap(kept);
    }
}

}  // namespace

Json::Value Daemon::status_json_for(const std::string& user) {
    Json::Value s = status_json();
    keep_only_user(s, user);
    s["sessions"] = Json::UInt64(sessions_ && !user.empty() ? sessions_->count(user) : 0);
    if (!s["publish_error"].asString().empty()) s["publish_error"] = "publishing failed (the details are for root)";
    return s;
}

Json::Value Daemon::grants_json(const std::optional<std::string>& only_user) {
    const UnixTime now = deps_.loop.now();
    Json::Value out(Json::objectValue);
    out["now"] = Json::Int64(now);
    out["revision"] = Json::Int64(held_.revision);
    out["have_bundle"] = held_.have_bundle;
    out["stale"] = held_.stale_at(now);
    Json::Value list(Json::arrayValue);
    for (const auto& g : held_.grants) {
        if (only_user && g.user != *only_user) continue;
        Json::Value j(Json::objectValue);
        j["id"] = g.id;
        j["user"] = g.user;
        if (g.uid) j["uid"] = Json::UInt(*g.uid);
        j["login"] = g.login;
        if (g.sudo) {
            Json::Value s(Json::objectValue);
            s["run_as"] = g.sudo->run_as;
            Json::Value cmds(Json::arrayValue);
            for (const auto& c : g.sudo->commands) cmds.append(c);
            s["commands"] = cmds;
            j["sudo"] = s;
        }
        Json::Value groups(Json::arrayValue);
        for (const auto& gr : g.groups) groups.append(gr);
        j["groups"] = groups;
        j["not_before"] = Json::Int64(g.not_before);
        j["not_after"] = Json::Int64(g.not_after);
        j["active"] = g.active_at(now);
        j["state"] = g.active_at(now) ? "active" : (now < g.not_before ? "pending" : "ended");
        j["seconds_left"] = Json::Int64(g.active_at(now) ? g.not_after - now : 0);
        j["reason"] = g.reason;
        j["ticket"] = g.ticket;
        j["requested_by"] = g.requested_by;
        Json::Value ap(Json::arrayValue);
        for (const auto& a : g.approved_by) ap.append(a);
        j["approved_by"] = ap;
        j["limits"] = limits_json(held_.limit_notes, g.id);
        list.append(j);
    }
    out["grants"] = list;
    Json::Value refused(Json::arrayValue);
    for (const auto& g : held_.refused) {
        if (only_user && g.user != *only_user) continue;
        Json::Value j(Json::objectValue);
        j["id"] = g.id;
        j["user"] = g.user;
        j["not_before"] = Json::Int64(g.not_before);
        j["not_after"] = Json::Int64(g.not_after);
        j["limits"] = limits_json(held_.limit_notes, g.id);
        refused.append(j);
    }
    out["refused"] = refused;
    return out;
}

void Daemon::handle(const ipc::Message& req, const Peer& peer, Reply reply) {
    const std::string op = ipc::get(req, "op");
    try {
        if (op == "check") return op_check(req, peer, true, reply);
        if (op == "explain") return op_check(req, peer, false, reply);
        if (op == "session_open") return op_session(req, peer, true, reply);
        if (op == "session_close") return op_session(req, peer, false, reply);
        if (op == "status") {
            const std::vector<std::vector<std::string>> lists{{"enforcement", "sessions"}};
            if (peer.uid == 0) return reply(json_answer(status_json(), lists));
            // An unprivileged peer learns about its own sessions only.
            return peer_name(peer.uid, reply, [this, reply, lists](const std::optional<std::string>& name) {
                reply(json_answer(status_json_for(name.value_or("")), lists));
            });
        }
        if (op == "grants") {
            const std::vector<std::vector<std::string>> lists{{"grants"}, {"refused"}};
            if (peer.uid == 0) return reply(json_answer(grants_json(std::nullopt), lists));
            return peer_name(peer.uid, reply, [this, reply, lists, uid = peer.uid](const std::optional<std::string>& name) {
                if (!name) return reply(error_reply("unknown_peer", "your uid " + std::to_string(uid) + " has no user name"));
                reply(json_answer(grants_json(name), lists));
            });
        }
        if (op == "request") return op_request(req, peer, std::move(reply));
        if (op == "request_status") return op_request_status(req, peer, std::move(reply));
        if (op == "ssh_keys") return op_ssh(req, peer, false, reply);
        if (op == "ssh_principals") return op_ssh(req, peer, true, reply);
        if (op == "sudo_audit") return op_sudo_audit(req, peer, reply);
        if (op == "ping") return reply({{"status", "ok"}, {"version", JIT_VERSION}});
        return reply(error_reply("unknown_op", op.empty() ? "missing 'op'" : "unknown op '" + op + "'"));
    } catch (const std::exception& e) {
        return reply(error_reply("internal", e.what()));
    }
}

void Daemon::op_check(const ipc::Message& req, const Peer& peer, bool with_audit, Reply& reply) {
    const std::string user = ipc::get(req, "user");
    if (user.empty()) return reply(error_reply("bad_request", "'user' missing"));
    // A name no grant can carry (john.smith, alice@corp.example, Bob) is a
    // directory or local account jitlogin never manages: not an error.
    if (!jit::is_posix_name(user) && user != "root") return reply(not_a_jit_name());
    AccessRequest ar;
    ar.user = user;
    ar.service = ipc::get(req, "service");
    const auto kind = requested_kind(req, ar.service);
    if (!kind) return reply(error_reply("bad_request", "'kind' must be login, sudo or su"));
    ar.kind = *kind;
    ar.run_as = ipc::get(req, "run_as");
    ar.now = deps_.loop.now();
    auto decide = [this, req, peer, with_audit, ar, reply] {
        decide_async(ar, later(reply, [this, req, peer, with_audit, ar, reply](LookupOutcome outcome, const Decision& d,
                                                                              bool managed, const LocalAccount& account) {
            // No answer from NSS in time: an error, so that pam_jit.so decides
            // from local facts (a JIT user is refused, anyone else left alone).
            if (outcome != LookupOutcome::Answered) return reply(unanswered_reply(outcome, ar.user));
            answer_check(req, peer, with_audit, ar, d, managed, account, reply);
        }));
    };
    if (peer.uid == 0) return decide();
    peer_name(peer.uid, reply, [user, reply, decide](const std::optional<std::string>& self) {
        if (!self || *self != user) return reply(error_reply("forbidden", "only root may ask about another user"));
        decide();
    });
}

void Daemon::answer_check(const ipc::Message& req, const Peer& peer, bool with_audit, const AccessRequest& ar,
                          const Decision& d, bool managed, const LocalAccount& account, const Reply& reply) {
    const std::string& user = ar.user;
    ipc::Message out{{"status", "ok"},
                     {"decision", verdict_word(d.verdict)},
                     {"reason", d.reason},
                     {"message", d.message},
                     {"grant_id", d.grant_id},
                     {"not_before", std::to_string(d.not_before)},
                     {"not_after", std::to_string(d.not_after)},
                     {"kind", to_string(ar.kind)},
                     {"managed", managed ? "yes" : "no"},
                     {"limits", d.limits}};
    // The answer goes out first: PAM does not wait for the audit record
    // (journal, upload spool).
    reply(std::move(out));
    // Only a decision made for root (pam_jit.so inside sshd, su, sudo) is an
    // audit record: a user's question about themselves is an explanation,
    // and its service, rhost, tty and command are whatever the user wrote.
    if (with_audit && peer.uid == 0 && d.verdict != Verdict::NotManaged) {
        const bool allowed = d.verdict == Verdict::Allow;
        Event e{event_for(ar.kind, allowed),
                std::string(to_string(ar.kind)) + " " + (allowed ? "allowed" : "denied") + " for " + user + " via " +
                    (ar.service.empty() ? std::string("?") : ar.service) + ": " + d.reason,
                {}};
        e.add(std::string(field::kUser), user)
            .add(std::string(field::kDecision), allowed ? "allow" : "deny")
            .add(std::string(field::kReason), d.reason)
            .add(std::string(field::kService), ar.service)
            .add(std::string(field::kPid), std::int64_t(peer.pid));
        if (auto v = ipc::get(req, "rhost"); !v.empty()) e.add(std::string(field::kRhost), v);
        if (auto v = ipc::get(req, "tty"); !v.empty()) e.add(std::string(field::kTty), v);
        if (auto v = ipc::get(req, "ruser"); !v.empty()) e.add(std::string(field::kRuser), v);
        if (!ar.run_as.empty()) e.add(std::string(field::kRunAs), ar.run_as);
        if (auto v = ipc::get(req, "command"); !v.empty()) e.add(std::string(field::kCommand), v);
        std::optional<std::uint32_t> uid;
        if (!d.grant_id.empty()) {
            e.add(std::string(field::kGrantId), d.grant_id).add(std::string(field::kNotAfter), d.not_after);
            for (const auto& g : held_.grants)
                if (g.id == d.grant_id) {
                    if (!g.ticket.empty()) e.add(std::string(field::kTicket), g.ticket);
                    std::string ap;
                    for (const auto& a : g.approved_by) ap += (ap.empty() ? "" : ",") + a;
                    e.add(std::string(field::kApprovedBy), ap);
                    if (g.uid) uid = *g.uid;
                    break;
                }
        }
        // A uid the host allocated (no uid in the grant): from the account the decision looked up.
        if (!uid) uid = account.uid;
        if (uid) e.add(std::string(field::kUid), std::int64_t(*uid));
        e.add(std::string(field::kRevision), held_.revision);
        deps_.audit.emit(e);
    }
}

void Daemon::op_session(const ipc::Message& req, const Peer& peer, bool open, Reply& reply) {
    if (peer.uid != 0) return reply(error_reply("forbidden", "session_open/session_close are for root (pam_jit.so) only"));
    SessionInfo s;
    s.user = ipc::get(req, "user");
    if (s.user.empty()) return reply(error_reply("bad_request", "'user' missing"));
    if (!jit::is_posix_name(s.user)) return reply(not_a_jit_name());
    s.service = ipc::get(req, "service");
    s.tty = ipc::get(req, "tty");
    s.rhost = ipc::get(req, "rhost");
    s.logind_session = ipc::get(req, "logind_session");
    if (auto p = ipc::get(req, "pid"); !p.empty()) {
        auto v = to_int(p);
        if (!v || *v <= 0 || *v > 4194304) return reply(error_reply("bad_request", "'pid' is not a process id"));
        s.pid = pid_t(*v);
    }
    s.opened_at = deps_.loop.now();
    if (open) {
        const auto kind = requested_kind(req, s.service);
        if (!kind) return reply(error_reply("bad_request", "'kind' must be login, sudo or su"));
        AccessRequest ar{s.user, s.service, *kind, "", s.opened_at};
        return decide_async(ar, later(reply, [this, s, reply](LookupOutcome outcome, const Decision& d, bool managed,
                                                              const LocalAccount& account) mutable {
            if (outcome != LookupOutcome::Answered) return reply(unanswered_reply(outcome, s.user));
            if (!managed) return reply({{"status", "ok"}, {"managed", "no"}, {"decision", "ignore"}});
            if (d.verdict != Verdict::Allow) {
                // The window closed between the account check and the session: refuse it.
                return reply({{"status", "ok"}, {"managed", "yes"}, {"decision", "deny"}, {"reason", d.reason},
                              {"message", d.message}, {"grant_id", d.grant_id}});
            }
            if (!sessions_)
                return reply(error_reply("unavailable", "jit-helperd has no session table: the session cannot be tracked"));
            s.grant_id = d.grant_id;
            s.uid = account.uid;
            Event e{EventType::SessionOpened, "session opened for " + s.user + " via " + s.service, {}};
            e.add(std::string(field::kUser), s.user)
                .add(std::string(field::kService), s.service)
                .add(std::string(field::kGrantId), s.grant_id)
                .add(std::string(field::kPid), std::int64_t(s.pid));
            if (!s.tty.empty()) e.add(std::string(field::kTty), s.tty);
            if (!s.rhost.empty()) e.add(std::string(field::kRhost), s.rhost);
            if (!s.logind_session.empty()) e.add(std::string(field::kSessionId), s.logind_session);
            deps_.audit.emit(e);
            // session.opened first: what the table does at once (a warning, a
            // home made) follows it in the trail.
            const std::string key = sessions_->open(s);
            // Answered once the registration is on disk (a session pam_jit.so
            // was told is tracked is never lost to a crash) and the home is made.
            sessions_->when_opened(s, [reply, key, grant_id = s.grant_id, not_after = d.not_after] {
                reply({{"status", "ok"}, {"managed", "yes"}, {"decision", "allow"}, {"session", key},
                       {"grant_id", grant_id}, {"not_after", std::to_string(not_after)}});
            });
        }));
    }
    // Close: match by logind session id when given, else by user + pid.
    std::optional<SessionInfo> closed = sessions_ ? sessions_->close(s) : std::nullopt;
    if (!closed) return reply({{"status", "ok"}, {"session", ""}});
    Event e{EventType::SessionClosed, "session closed for " + closed->user, {}};
    e.add(std::string(field::kUser), closed->user)
        .add(std::string(field::kService), closed->service)
        .add(std::string(field::kGrantId), closed->grant_id)
        .add(std::string(field::kPid), std::int64_t(closed->pid));
    if (!closed->logind_session.empty()) e.add(std::string(field::kSessionId), closed->logind_session);
    deps_.audit.emit(e);
    sessions_->when_durable([reply, key = closed->key] { reply({{"status", "ok"}, {"session", key}}); });
}

void Daemon::op_request(const ipc::Message& req, const Peer& peer, Reply reply) {
    if (peer.uid == 0) return reply(error_reply("forbidden", "root does not need (and cannot get) a JIT grant"));
    peer_name(peer.uid, reply, [this, req, peer, reply](const std::optional<std::string>& name) {
        if (!name) return reply(error_reply("unknown_peer", "your uid " + std::to_string(peer.uid) + " has no user name"));
        relay_request(req, peer, *name, reply);
    });
}

void Daemon::relay_request(const ipc::Message& req, const Peer& peer, const std::string& user, Reply reply) {
    auto duration = to_int(ipc::get(req, "duration_seconds"));
    if (!duration || *duration < 60 || *duration > 7 * 86400)
        return reply(error_reply("bad_request", "'duration_seconds' must be between 60 and 604800"));
    const std::string reason = ipc::get(req, "reason");
    if (reason.empty() || reason.size() > 1024)
        return reply(error_reply("bad_request", "'reason' is required (at most 1024 bytes)"));
    const std::string ticket = ipc::get(req, "ticket");
    if (ticket.size() > 128) return reply(error_reply("bad_request", "'ticket' is longer than 128 bytes"));
    // An extension (PROTOCOL.md §2 `extends`) of one of the caller's own
    // active grants on this host: named, or the only one they hold.
    std::string extends;
    if (ipc::get(req, "extend") == "yes") {
        const UnixTime now = deps_.loop.now();
        const std::string named = ipc::get(req, "grant");
        std::vector<std::string> mine;
        for (const auto& g : held_.grants)
            if (g.user == user && g.active_at(now)) mine.push_back(g.id);
        if (!named.empty()) {
            if (std::find(mine.begin(), mine.end(), named) == mine.end())
                return reply(error_reply("not_found", "grant '" + named + "' is not an active grant of " + user +
                                                          " on this host (jitctl grants lists yours)"));
            extends = named;
        } else if (mine.empty()) {
            return reply(error_reply("not_found", user + " holds no active grant on this host to extend"));
        } else if (mine.size() > 1) {
            std::string ids;
            for (const auto& id : mine) ids += (ids.empty() ? "" : ", ") + id;
            return reply(error_reply("bad_request", user + " holds several active grants (" + ids +
                                                        "): name one with --grant"));
        } else {
            extends = mine.front();
        }
    }
    Json::Value body(Json::objectValue);
    body["user"] = user;
    body["uid"] = Json::UInt(peer.uid);
    body["login"] = ipc::get(req, "login", "yes") != "no";
    if (auto cmds = ipc::get(req, "sudo_commands"); !cmds.empty()) {
        Json::Value sudo(Json::objectValue);
        sudo["run_as"] = ipc::get(req, "sudo_run_as", "root");
        if (!jit::is_posix_name(sudo["run_as"].asString()) && sudo["run_as"].asString() != "root")
            return reply(error_reply("bad_request", "'sudo_run_as' is not a valid user name"));
        Json::Value list(Json::arrayValue);
        std::size_t start = 0;
        while (start <= cmds.size()) {
            auto nl = cmds.find('\n', start);
            std::string c = cmds.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
            if (!c.empty()) {
                if (c != "ALL" && c[0] != '/')
                    return reply(error_reply("bad_request", "sudo command '" + c + "' is not ALL or an absolute path"));
                if (c.size() > kMaxRequestCommandBytes)
                    return reply(error_reply("bad_request", "a sudo command is longer than " +
                                                                std::to_string(kMaxRequestCommandBytes) + " bytes"));
                if (list.size() >= kMaxRequestCommands)
                    return reply(error_reply("bad_request", "more than " + std::to_string(kMaxRequestCommands) +
                                                                " sudo commands"));
                list.append(c);
            }
            if (nl == std::string::npos) break;
            start = nl + 1;
        }
        sudo["commands"] = list;
        body["sudo"] = sudo;
    }
    // Everything is well-formed: this relay costs an authority call, an
    // audit event and a state write.
    if (!within_budget(relay_budget_, "request", peer, reply)) return;
    body["duration_seconds"] = Json::Int64(*duration);
    body["reason"] = reason;
    if (!ticket.empty()) body["ticket"] = ticket;
    if (!extends.empty()) body["extends"] = extends;
    const std::string who = user;
    const std::int64_t uid = peer.uid;
    const std::int64_t dur = *duration;
    // The sudo part for the audit record: run-as user, the commands one per line.
    std::string run_as, commands;
    if (body.isMember("sudo")) {
        run_as = body["sudo"]["run_as"].asString();
        for (const auto& c : body["sudo"]["commands"]) commands += (commands.empty() ? "" : "\n") + c.asString();
    }
    deps_.authority.post_request(compact_json(body), [this, reply, who, uid, dur, reason, ticket, run_as, commands, extends](HttpResponse r) {
        Json::Value v;
        if (r.status != 201 && r.status != 200) return reply(error_reply("authority", describe_http_error(r)));
        if (!parse_json(r.body, v) || !v.isObject() || !v["id"].isString())
            return reply(error_reply("authority", "the authority's answer has no request id"));
        Event e{EventType::RequestRelayed, "access request " + v["id"].asString() + " relayed for " + who, {}};
        e.add(std::string(field::kUser), who)
            .add(std::string(field::kUid), uid)
            .add(std::string(field::kRequestId), v["id"].asString())
            .add(std::string(field::kReason), reason)
            .add(std::string(field::kDuration), dur);
        if (!ticket.empty()) e.add(std::string(field::kTicket), ticket);
        if (!extends.empty()) e.add(std::string(field::kGrantId), extends);  // the grant to extend
        if (!run_as.empty()) e.add(std::string(field::kRunAs), run_as).add(std::string(field::kCommand), commands);
        deps_.audit.emit(e);
        if (auto st = request_owners_.add(v["id"].asString(), uid_t(uid), deps_.loop.now()); !st)
            deps_.audit.emit(Event{EventType::SecurityAlert,
                                   "could not record who relayed access request " + v["id"].asString() +
                                       " (only root may ask about it after a restart): " + st.error().message,
                                   {}}
                                 .add(std::string(field::kAlert), "state_write_failed")
                                 .add(std::string(field::kPath), request_owners_.path()));
        reply({{"status", "ok"},
               {"id", v["id"].asString()},
               {"state", v["state"].isString() ? v["state"].asString() : ""},
               {"approvals_required", v["approvals_required"].isIntegral() ? std::to_string(v["approvals_required"].asInt64()) : ""}});
    });
}

void Daemon::op_request_status(const ipc::Message& req, const Peer& peer, Reply reply) {
    const std::string id = ipc::get(req, "id");
    if (!valid_request_id(id)) return reply(error_reply("bad_request", "'id' missing or not a valid request id"));
    if (peer.uid != 0 && request_owners_.owner(id) != std::optional<uid_t>(peer.uid))
        return reply(error_reply("forbidden", "request " + id + " was not relayed for you (uid " +
                                                  std::to_string(peer.uid) + "): only root may ask about it"));
    if (!within_budget(request_status_budget_, "request_status", peer, reply)) return;
    deps_.authority.get_request(id, [reply](HttpResponse r) {
        Json::Value v;
        if (r.status != 200) return reply(error_reply("authority", describe_http_error(r)));
        if (!parse_json(r.body, v) || !v.isObject()) return reply(error_reply("authority", "the authority's answer is not JSON"));
        std::string decided;
        if (v["decided_by"].isArray())
            for (const auto& d : v["decided_by"])
                if (d.isString()) decided += (decided.empty() ? "" : ",") + d.asString();
        auto str = [&](const char* k) { return v[k].isString() ? v[k].asString() : std::string(); };
        reply({{"status", "ok"},
               {"id", str("id")},
               {"state", str("state")},
               {"grant_id", str("grant_id")},
               {"decided_by", decided},
               {"message", str("message")}});
    });
}

bool Daemon::within_budget(PeerBudget& budget, const char* op, const Peer& peer, Reply& reply) {
    const PeerBudget::Verdict v = budget.take(peer.uid, deps_.loop.monotonic_ms());
    if (v.allowed) return true;
    const std::int64_t retry_s = (v.retry_after_ms + 999) / 1000;
    if (v.first_refusal) {
        // One alert per uid until it is allowed again: the refusals themselves write nothing.
        Event e{EventType::SecurityAlert,
                std::string("uid ") + std::to_string(peer.uid) + " is over its limit for op=" + op +
                    "; further requests are refused without a record until it recovers",
                {}};
        e.add(std::string(field::kAlert), "peer_rate_limited")
            .add(std::string(field::kUid), std::int64_t(peer.uid))
            .add(std::string(field::kReason), std::string("op=") + op);
        // The user name is a lookup (off the loop): the alert follows it.
        deps_.accounts.name_of(peer.uid, while_alive([this, e](LookupOutcome outcome, const std::optional<std::string>& name) mutable {
            if (outcome == LookupOutcome::Answered && name) e.add(std::string(field::kUser), *name);
            deps_.audit.emit(e);
        }));
    }
    reply(error_reply("rate_limited", std::string("too many '") + op + "' requests from uid " +
                                          std::to_string(peer.uid) + "; try again in " + std::to_string(retry_s) + " s"));
    return false;
}

}  // namespace jit::helperd
