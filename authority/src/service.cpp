#include <jit/authority/rules.hpp>
#include <jit/authority/service.hpp>
#include <jit/bundle.hpp>
#include <jit/names.hpp>

#include "strict_json.hpp"  // policy/src: the one strict JSON reader of the project

#include <json/json.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>

namespace jit::authority {
namespace {

constexpr std::size_t kMaxEventsPerBatch = 10000;
constexpr std::int64_t kMaxDuration = 90 * 86400;
constexpr std::size_t kHeartbeatBatch = 256;
// Re-signing under a new key: bigger commits (fewer fsyncs), still bounded.
constexpr std::size_t kRekeyBatch = 1024;

ApiError bad_request(const std::string& msg) { return ApiError(400, "invalid_request", msg); }
ApiError not_found(const std::string& what) { return ApiError(404, "not_found", what + " not found"); }

std::string get_text(const Json::Value& body, const char* field, bool required, std::size_t max) {
    const Json::Value& v = body[field];
    if (v.isNull()) {
        if (required) throw bad_request(std::string("field '") + field + "' is required");
        return "";
    }
    if (!v.isString()) throw bad_request(std::string("field '") + field + "' must be a string");
    std::string s = v.asString();
    if (s.size() > max) throw bad_request(std::string("field '") + field + "' is longer than " + std::to_string(max) + " bytes");
    if (detail::has_control_chars(s)) throw bad_request(std::string("field '") + field + "' holds control characters");
    return s;
}

std::int64_t get_int(const Json::Value& body, const char* field, std::int64_t lo, std::int64_t hi, std::int64_t dflt,
                     bool required) {
    const Json::Value& v = body[field];
    if (v.isNull()) {
        if (required) throw bad_request(std::string("field '") + field + "' is required");
        return dflt;
    }
    if (!v.isIntegral() || v.isBool()) throw bad_request(std::string("field '") + field + "' must be an integer");
    const std::int64_t n = v.asInt64();
    if (n < lo || n > hi)
        throw bad_request(std::string("field '") + field + "' must be in " + std::to_string(lo) + ".." + std::to_string(hi));
    return n;
}

std::vector<std::string> get_strings(const Json::Value& v, const char* field, std::size_t max_items) {
    if (v.isNull()) return {};
    if (!v.isArray() || v.size() > max_items)
        throw bad_request(std::string("field '") + field + "' must be an array of at most " + std::to_string(max_items) + " strings");
    std::vector<std::string> out;
    for (const auto& e : v) {
        if (!e.isString()) throw bad_request(std::string("field '") + field + "' must hold strings");
        out.push_back(e.asString());
    }
    return out;
}

Json::Value strings_json(const std::vector<std::string>& v) {
    Json::Value a(Json::arrayValue);
    for (const auto& s : v) a.append(s);
    return a;
}

// A request body reduced to the fields we act on, checked (400 when malformed).
struct Ask {
    std::string user;
    std::optional<std::int64_t> uid;
    bool login = true;
    std::optional<SudoRule> sudo;
    std::int64_t duration = 0;
    std::string reason;
    std::string ticket;
    std::string extends;
    std::vector<std::string> ssh_keys;

    Json::Value to_json() const {
        Json::Value j(Json::objectValue);
        j["user"] = user;
        if (uid) j["uid"] = Json::Int64(*uid);
        j["login"] = login;
        if (sudo) {
            j["sudo"]["run_as"] = sudo->run_as;
            j["sudo"]["commands"] = strings_json(sudo->commands);
        }
        j["duration_seconds"] = Json::Int64(duration);
        j["reason"] = reason;
        if (!ticket.empty()) j["ticket"] = ticket;
        if (!extends.empty()) j["extends"] = extends;
        if (!ssh_keys.empty()) j["ssh_authorized_keys"] = strings_json(ssh_keys);
        return j;
    }
};

Ask parse_ask(const Json::Value& body) {
    if (!body.isObject()) throw bad_request("the request must be a JSON object");
    Ask a;
    a.user = get_text(body, "user", true, 32);
    if (!is_posix_name(a.user)) throw bad_request("user '" + a.user + "' is not a POSIX login name");
    if (!body["uid"].isNull()) a.uid = get_int(body, "uid", limits::kMinUid, limits::kMaxUid, 0, true);
    if (!body["login"].isNull()) {
        if (!body["login"].isBool()) throw bad_request("field 'login' must be true or false");
        a.login = body["login"].asBool();
    }
    const Json::Value& sudo = body["sudo"];
    if (!sudo.isNull()) {
        if (!sudo.isObject()) throw bad_request("field 'sudo' must be an object");
        SudoRule r;
        r.run_as = sudo["run_as"].isNull() ? "root" : get_text(sudo, "run_as", true, 32);
        r.commands = get_strings(sudo["commands"], "sudo.commands", limits::kMaxSudoCommands);
        if (r.commands.empty()) throw bad_request("field 'sudo.commands' must name at least one command");
        a.sudo = std::move(r);
    }
    a.duration = get_int(body, "duration_seconds", 1, kMaxDuration, 0, true);
    a.reason = get_text(body, "reason", true, limits::kMaxReasonBytes);
    if (a.reason.empty()) throw bad_request("field 'reason' must not be empty");
    a.ticket = get_text(body, "ticket", false, limits::kMaxTicketBytes);
    a.extends = get_text(body, "extends", false, 64);
    if (!a.extends.empty() && !is_valid_grant_id(a.extends)) throw bad_request("field 'extends' is not a grant id");
    a.ssh_keys = get_strings(body["ssh_authorized_keys"], "ssh_authorized_keys", limits::kMaxSshKeys);
    return a;
}

// The host's own validator decides whether a grant is well-formed: the
// authority never signs what a conforming host would reject.
void check_grant_with_host_rules(const std::string& host_id, const Json::Value& grant, UnixTime now) {
    Json::Value p(Json::objectValue);
    p["type"] = std::string(kGrantsType);
    p["host_id"] = host_id;
    p["revision"] = 1;
    p["issued_at"] = Json::Int64(now);
    p["expires_at"] = Json::Int64(now + 1);
    p["grants"].append(grant);
    auto parsed = parse_payload(compact_json(p));
    if (!parsed) throw ApiError(422, "invalid_grant", parsed.error().message);
}

Json::Value host_view(const HostRecord& h, const std::optional<BundleRecord>& b, UnixTime now) {
    Json::Value j(Json::objectValue);
    j["host_id"] = h.host_id;
    j["labels"] = strings_json(h.labels);
    j["created_at"] = Json::Int64(h.created_at);
    j["last_seen"] = Json::Int64(h.last_seen);
    j["revision_held"] = Json::Int64(h.last_after);  // the `after` of its last poll
    j["revision"] = Json::Int64(h.revision);
    j["token"] = !h.token_hash.empty();
    if (b) {
        j["issued_at"] = Json::Int64(b->issued_at);
        j["expires_at"] = Json::Int64(b->expires_at);
    }
    // The host's view is stale when the revision it holds has expired: we
    // only know its expiry when it holds the latest one.
    j["stale"] = h.last_seen == 0 || (b && (h.last_after < b->revision ? now > h.last_seen + 120 : now > b->expires_at));
    return j;
}

Json::Value request_json(const RequestRecord& r, const std::vector<ApprovalRecord>& approvals) {
    Json::Value j(Json::objectValue);
    j["id"] = r.id;
    j["host_id"] = r.host_id;
    j["user"] = r.user;
    j["requested_by"] = r.requested_by;
    j["origin"] = r.origin;
    j["state"] = r.state;
    j["rule"] = r.rule;
    j["approvals_required"] = r.approvals_required;
    j["created_at"] = Json::Int64(r.created_at);
    j["expires_at"] = Json::Int64(r.expires_at);
    if (!r.extends.empty()) j["extends"] = r.extends;
    if (!r.grant_id.empty()) j["grant_id"] = r.grant_id;
    j["decided_by"] = strings_json(r.decided_by);
    if (!r.message.empty()) j["message"] = r.message;
    j["request"] = parse_body(r.body_json);
    Json::Value a(Json::arrayValue);
    for (const auto& x : approvals) {
        Json::Value e;
        e["by"] = x.approver;
        e["at"] = Json::Int64(x.at);
        e["comment"] = x.comment;
        a.append(e);
    }
    j["approvals"] = a;
    return j;
}

// The key_id of an envelope this authority stored ("" when unreadable).
std::string envelope_key_id(const std::string& envelope) {
    Json::Value v;
    std::string err;
    std::unique_ptr<Json::CharReader> r(Json::CharReaderBuilder().newCharReader());
    if (!r->parse(envelope.data(), envelope.data() + envelope.size(), &v, &err) || !v.isObject() || !v["key_id"].isString())
        return "";
    return v["key_id"].asString();
}

// What the page and the webhooks are told of a grant.
Json::Value grant_subject(const GrantRecord& g, UnixTime not_after, const std::string& reason) {
    Json::Value j(Json::objectValue);
    j["id"] = g.id;
    j["host_id"] = g.host_id;
    j["user"] = g.user;
    j["not_after"] = Json::Int64(not_after);
    if (!reason.empty()) j["reason"] = reason;
    if (!g.request_id.empty()) j["request_id"] = g.request_id;
    return j;
}

std::vector<std::string> host_ids(const std::vector<HostRecord>& hosts) {
    std::vector<std::string> ids;
    ids.reserve(hosts.size());
    for (const auto& h : hosts) ids.push_back(h.host_id);
    return ids;
}

}  // namespace

std::string access_summary(const Json::Value& ask) {
    std::string what;
    if (ask.get("login", true).asBool()) what = "login";
    if (ask.isMember("sudo")) {
        std::string cmds;
        for (const auto& c : ask["sudo"]["commands"]) cmds += (cmds.empty() ? "" : ", ") + c.asString();
        what += (what.empty() ? "" : " + ") + std::string("sudo ") + cmds;
        const std::string run_as = ask["sudo"].get("run_as", "root").asString();
        if (run_as != "root") what += " (as " + run_as + ")";
    }
    return what.empty() ? "nothing" : what;
}

int role_rank(const std::string& role) { return role == "admin" ? 3 : role == "approver" ? 2 : role == "requester" ? 1 : 0; }


Json::Value parse_body(std::string_view bytes) {
    auto r = detail::parse_strict_json(bytes, 8, 64 * 1024, "invalid_json", "request body");
    if (!r) throw ApiError(400, "invalid_json", r.error().message);
    return std::move(r.value());
}

Service::Service(Store& store, const Signer& signer, const Config& config, Clock clock)
    : store_(store), signer_(signer), config_(config), clock_(std::move(clock)) {}

// Runs f in one transaction; wakes the long polls of what it issued only
// after the commit, so nothing uncommitted is ever served.
template <class F>
auto Service::write(F&& f) {
    issued_.clear();
    changes_.clear();
    auto after_commit = [this] {
        auto issued = std::move(issued_);
        auto changes = std::move(changes_);
        if (listener_) for (const auto& b : issued) listener_(b);
        for (const auto& c : changes)
            for (const auto& l : change_listeners_) l(c);
    };
    using R = decltype(f());
    if constexpr (std::is_void_v<R>) {
        store_.transaction([&] { f(); });
        after_commit();
    } else {
        std::optional<R> out;
        store_.transaction([&] { out.emplace(f()); });
        after_commit();
        return std::move(*out);
    }
}

void Service::changed(std::string kind, const std::string& host_id, const std::string& actor, Json::Value subject) {
    changes_.push_back(Change{std::move(kind), host_id, actor, std::move(subject)});
}

HostRecord Service::require_host(const std::string& host_id) {
    auto h = store_.host(host_id);
    if (!h) throw not_found("host " + host_id);
    return *h;
}

RequestRecord Service::require_request(const std::string& id) {
    auto r = store_.request(id);
    if (!r) throw not_found("request " + id);
    return *r;
}

BundleRecord Service::issue_in_tx(const std::string& host_id) {
    auto issued = issue_in_tx(std::vector<std::string>{host_id});
    if (issued.empty()) throw not_found("host " + host_id);
    return std::move(issued.front());
}

// The next revision of each host: the rows locked (in host_id order), the
// grants read, the payloads signed and the revisions stored, each step one
// statement for the whole batch on PostgreSQL (three round trips, whatever
// the number of hosts). Unknown hosts are left out.
std::vector<BundleRecord> Service::issue_in_tx(const std::vector<std::string>& host_ids) {
    const std::vector<HostRecord> locked = store_.hosts_for_update(host_ids);
    std::vector<std::string> ids;
    ids.reserve(locked.size());
    for (const auto& h : locked) ids.push_back(h.host_id);
    const auto grants = store_.grants_of(ids);
    const UnixTime now = clock_();
    std::vector<BundleRecord> out;
    out.reserve(locked.size());
    for (std::size_t i = 0; i < locked.size(); ++i) {
        const HostRecord& h = locked[i];
        Json::Value p(Json::objectValue);
        p["type"] = std::string(kGrantsType);
        p["host_id"] = h.host_id;
        p["revision"] = Json::Int64(h.revision + 1);
        p["issued_at"] = Json::Int64(now);
        p["expires_at"] = Json::Int64(now + config_.settings.bundle_ttl);
        p["grants"] = Json::Value(Json::arrayValue);
        p["revoked"] = Json::Value(Json::arrayValue);
        for (const auto& g : grants[i]) {
            if (g.state == "active" && g.not_after > now) {
                Json::Value j = parse_body(g.grant_json);
                j["not_after"] = Json::Int64(g.not_after);
                p["grants"].append(j);
            } else if (g.state == "revoked" && g.revoked_at >= now - config_.settings.revoked_retention) {
                Json::Value r;
                r["id"] = g.id;
                r["at"] = Json::Int64(g.revoked_at);
                r["by"] = g.revoked_by;
                r["reason"] = g.revoked_reason;
                p["revoked"].append(r);
            }
        }
        const std::string bytes = compact_json(p);
        if (auto parsed = parse_payload(bytes); !parsed)
            throw std::runtime_error("refusing to sign a bundle the host would reject: " + parsed.error().message);
        out.push_back(BundleRecord{h.host_id, h.revision + 1, signer_.envelope(bytes), now,
                                   now + config_.settings.bundle_ttl});
    }
    store_.add_bundles(out);
    issued_.insert(issued_.end(), out.begin(), out.end());
    return out;
}

BundleRecord Service::current_bundle(const std::string& host_id) {
    if (auto b = store_.latest_bundle(host_id)) return *b;
    return write([&] {
        if (auto b = store_.latest_bundle(host_id)) return *b;
        return issue_in_tx(host_id);
    });
}

BundleRecord Service::reissue(const std::string& host_id) {
    return write([&] { return issue_in_tx(host_id); });
}

std::size_t Service::tick() {
    const UnixTime now = clock_();
    // Many hosts fall due together (a restart, a burst of first contacts):
    // one commit (one fsync) per batch, small enough not to hold the loop long.
    const std::vector<std::string> due = store_.hosts_due(now);
    for (std::size_t at = 0; at < due.size(); at += kHeartbeatBatch) {
        write([&] {
            issue_in_tx(std::vector<std::string>(due.begin() + std::ptrdiff_t(at),
                                                 due.begin() + std::ptrdiff_t(std::min(due.size(), at + kHeartbeatBatch))));
        });
    }
    const std::size_t n = due.size() + rekey_step();
    write([&] {
        for (auto r : store_.requests("", "pending")) {
            if (r.expires_at > now) continue;
            r.state = "expired";
            r.message = "nobody decided in time";
            store_.update_request(r);
            changed("request.expired", r.host_id, "authority", request_json(r, store_.approvals(r.id)));
        }
    });
    return n;
}

std::size_t Service::rekey_step() {
    if (rekeyed_for_ != signer_.key_id()) {
        rekeyed_for_ = signer_.key_id();
        rekey_pending_.clear();
        for (const auto& h : store_.hosts()) rekey_pending_.push_back(h.host_id);
    }
    // Re-signed a batch per commit, for at most a quarter second per tick:
    // a new key reaches 10,000 hosts in seconds (bench/authority) while the
    // loop keeps answering between ticks.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
    std::size_t issued = 0;
    while (!rekey_pending_.empty() && std::chrono::steady_clock::now() < until) {
        std::vector<std::string> batch, stale;
        // json_text writes keys sorted: an envelope of the key in use starts so.
        const std::string current = "{\"key_id\":" + compact_json(Json::Value(signer_.key_id())) + ",";
        while (!rekey_pending_.empty() && batch.size() < kRekeyBatch) {
            batch.push_back(std::move(rekey_pending_.back()));
            rekey_pending_.pop_back();
        }
        const auto latest = store_.latest_bundles(batch);
        for (std::size_t i = 0; i < batch.size(); ++i) {
            const auto& b = latest[i];
            if (b && b->envelope.rfind(current, 0) != 0 && envelope_key_id(b->envelope) != signer_.key_id())
                stale.push_back(std::move(batch[i]));
        }
        if (stale.empty()) continue;
        try {
            write([&] { issue_in_tx(stale); });
        } catch (...) {
            // Not re-signed (the database was away, say): checked again after
            // the other hosts (taken from the back), not left to heartbeats.
            rekey_pending_.insert(rekey_pending_.begin(), stale.begin(), stale.end());
            throw;
        }
        issued += stale.size();
    }
    return issued;
}

Json::Value Service::keys_view() {
    Json::Value j(Json::objectValue);
    j["key_id"] = signer_.key_id();
    j["public_key"] = signer_.public_pem();
    std::map<std::string, std::int64_t> signed_with;
    std::int64_t holding = 0;
    Json::Value behind(Json::arrayValue);  // hosts that do not hold a bundle signed with the key in use
    const auto all = store_.hosts();
    const auto latest = store_.latest_bundles(host_ids(all));  // one query, not one per host
    for (std::size_t i = 0; i < all.size(); ++i) {
        const HostRecord& h = all[i];
        const auto& b = latest[i];
        const std::string kid = b ? envelope_key_id(b->envelope) : "";
        ++signed_with[kid];
        if (b && kid == signer_.key_id() && h.last_after >= b->revision) ++holding;
        else if (behind.size() < 100) behind.append(h.host_id);
    }
    j["hosts"] = Json::Int64(all.size());
    j["hosts_holding_key_in_use"] = Json::Int64(holding);
    for (const auto& [kid, count] : signed_with) j["latest_bundles_by_key"][kid] = Json::Int64(count);
    if (!j.isMember("latest_bundles_by_key")) j["latest_bundles_by_key"] = Json::Value(Json::objectValue);
    j["hosts_behind"] = behind;  // at most 100 named
    return j;
}

Json::Value Service::submit_request(const std::string& host_id, const Json::Value& body, const std::string& origin,
                                    const Caller& caller) {
    Ask ask = parse_ask(body);
    const HostRecord h = require_host(host_id);
    const std::string requester = origin == "host" ? ask.user : caller.actor;
    // A person asks for their own login only; other users' access is an
    // admin's direct grant. (From a host, `user` is the kernel's identity.)
    if (origin == "person" && ask.user != caller.actor)
        throw ApiError(422, "other_user", "you can only ask for access as yourself (" + caller.actor + ")");
    if (origin == "host" && !ask.ssh_keys.empty())
        throw ApiError(422, "ssh_keys_from_host", "ssh keys can only be asked for through the authority (jitadm request)");
    AccessAsk access{host_id, h.labels, requester, ask.login, ask.sudo, ask.duration, !ask.extends.empty()};
    const UnixTime now = clock_();
    if (!ask.extends.empty()) {
        auto g = store_.grant(ask.extends);
        if (!g || g->host_id != host_id || g->state != "active" || g->not_after <= now)
            throw ApiError(422, "extends_unknown", "grant " + ask.extends + " is not an active grant on " + host_id);
        if (g->user != ask.user) throw ApiError(422, "extends_other_user", "grant " + ask.extends + " belongs to another user");
    }
    Verdict v = check_request(config_, access);
    if (!v) throw ApiError(422, v.error, v.message);
    RequestRecord r;
    r.id = new_id("r");
    r.host_id = host_id;
    r.user = ask.user;
    r.requested_by = requester;
    r.origin = origin;
    r.body_json = compact_json(ask.to_json());
    r.state = "pending";
    r.rule = v.rule->name;
    r.approvals_required = v.rule->approvals;
    r.created_at = now;
    r.expires_at = now + config_.settings.request_ttl;
    r.extends = ask.extends;
    if (ask.extends.empty()) check_grant_with_host_rules(host_id, grant_from_request(r, {}), now);
    return write([&] {
        store_.add_request(r);
        Json::Value detail = ask.to_json();
        record(caller, "request.submit", host_id + "/" + r.id, detail);
        changed("request.created", host_id, caller.actor, request_json(r, {}));
        if (r.approvals_required == 0) finish_approved(r, {}, Caller{"authority", "rule " + r.rule});
        Json::Value view = request_json(r, {});
        view.removeMember("request");
        return view;
    });
}

Json::Value Service::grant_from_request(const RequestRecord& r, const std::vector<std::string>& approvers) {
    const Json::Value ask = parse_body(r.body_json);
    const UnixTime now = clock_();
    Json::Value g(Json::objectValue);
    g["id"] = r.grant_id.empty() ? new_id("g") : r.grant_id;
    g["user"] = r.user;
    if (ask.isMember("uid")) g["uid"] = ask["uid"];
    g["login"] = ask["login"];
    if (ask.isMember("sudo")) g["sudo"] = ask["sudo"];
    g["not_before"] = Json::Int64(now);
    g["not_after"] = Json::Int64(now + ask["duration_seconds"].asInt64());
    g["reason"] = ask["reason"];
    if (ask.isMember("ticket")) g["ticket"] = ask["ticket"];
    g["requested_by"] = r.requested_by;
    g["approved_by"] = strings_json(approvers);
    if (ask.isMember("ssh_authorized_keys")) g["ssh_authorized_keys"] = ask["ssh_authorized_keys"];
    return g;
}

// In a transaction: the request becomes approved, its grant (or extension)
// takes effect, and a new revision is issued.
Json::Value Service::finish_approved(RequestRecord& r, const std::vector<std::string>& approvers, const Caller& caller) {
    const UnixTime now = clock_();
    const Json::Value ask = parse_body(r.body_json);
    if (!r.extends.empty()) {
        auto g = store_.grant(r.extends);
        if (!g || g->state != "active" || g->not_after <= now)
            throw ApiError(409, "grant_ended", "grant " + r.extends + " has ended; the extension cannot apply");
        const std::int64_t not_after = std::min<std::int64_t>(g->not_after + ask["duration_seconds"].asInt64(), limits::kMaxTime);
        store_.set_grant_end(g->id, not_after);
        r.grant_id = g->id;
    } else {
        Json::Value g = grant_from_request(r, approvers);
        check_grant_with_host_rules(r.host_id, g, now);
        r.grant_id = g["id"].asString();
        store_.add_grant(GrantRecord{r.grant_id, r.host_id, r.user, compact_json(g), g["not_after"].asInt64(), "active",
                                     0, "", "", r.id});
    }
    r.state = "approved";
    r.decided_by = approvers;
    store_.update_request(r);
    Json::Value detail(Json::objectValue);
    detail["request"] = r.id;
    record(caller, "grant.from_request", r.host_id + "/" + r.grant_id, detail);
    issue_in_tx(r.host_id);
    changed("request.approved", r.host_id, caller.actor, request_json(r, store_.approvals(r.id)));
    return Json::Value(r.grant_id);
}

Json::Value Service::approve(const std::string& request_id, const std::string& comment, const Caller& caller) {
    return write([&] {
        RequestRecord r = require_request(request_id);
        if (r.state != "pending") throw ApiError(409, "not_pending", "request " + r.id + " is " + r.state);
        const HostRecord h = require_host(r.host_id);
        const Json::Value body = parse_body(r.body_json);
        Ask ask = parse_ask(body);
        // The rules of today decide, not those of submission time.
        Verdict v = check_request(config_, AccessAsk{r.host_id, h.labels, r.requested_by, ask.login, ask.sudo,
                                                     ask.duration, !r.extends.empty()});
        if (!v) throw ApiError(422, v.error, "the request no longer meets the rules: " + v.message);
        std::vector<std::string> approvers;
        for (const auto& a : store_.approvals(r.id)) approvers.push_back(a.approver);
        if (auto why = check_approver(*v.rule, r.requested_by, caller.actor, approvers); !why.empty())
            throw ApiError(403, "approval_refused", why);
        store_.add_approval(ApprovalRecord{r.id, caller.actor, clock_(), comment});
        approvers.push_back(caller.actor);
        Json::Value detail;
        detail["comment"] = comment;
        record(caller, "request.approve", r.host_id + "/" + r.id, detail);
        if (int(approvers.size()) >= v.rule->approvals) finish_approved(r, approvers, caller);
        else {
            r.decided_by = approvers;
            store_.update_request(r);
            changed("request.approval", r.host_id, caller.actor, request_json(r, store_.approvals(r.id)));
        }
        return request_json(r, store_.approvals(r.id));
    });
}

Json::Value Service::deny(const std::string& request_id, const std::string& comment, const Caller& caller) {
    return write([&] {
        RequestRecord r = require_request(request_id);
        if (r.state != "pending") throw ApiError(409, "not_pending", "request " + r.id + " is " + r.state);
        if (caller.actor == r.requested_by) throw ApiError(403, "approval_refused", "use cancel for your own request");
        r.state = "denied";
        r.decided_by = {caller.actor};
        r.message = comment;
        store_.update_request(r);
        Json::Value detail;
        detail["comment"] = comment;
        record(caller, "request.deny", r.host_id + "/" + r.id, detail);
        Json::Value view = request_json(r, store_.approvals(r.id));
        changed("request.denied", r.host_id, caller.actor, view);
        return view;
    });
}

Json::Value Service::cancel(const std::string& request_id, const Caller& caller) {
    return write([&] {
        RequestRecord r = require_request(request_id);
        if (r.requested_by != caller.actor) throw ApiError(403, "forbidden", "only the requester can cancel a request");
        if (r.state != "pending") throw ApiError(409, "not_pending", "request " + r.id + " is " + r.state);
        r.state = "cancelled";
        store_.update_request(r);
        record(caller, "request.cancel", r.host_id + "/" + r.id, Json::Value(Json::objectValue));
        Json::Value view = request_json(r, store_.approvals(r.id));
        changed("request.cancelled", r.host_id, caller.actor, view);
        return view;
    });
}

Json::Value Service::host_request_view(const std::string& host_id, const std::string& request_id) {
    auto r = store_.request(request_id);
    if (!r || r->host_id != host_id) throw not_found("request " + request_id);
    Json::Value j(Json::objectValue);
    j["id"] = r->id;
    j["state"] = r->state;
    j["approvals_required"] = r->approvals_required;
    if (!r->grant_id.empty()) j["grant_id"] = r->grant_id;
    j["decided_by"] = strings_json(r->decided_by);
    if (!r->message.empty()) j["message"] = r->message;
    return j;
}

Json::Value Service::request_view(const std::string& request_id) {
    RequestRecord r = require_request(request_id);
    return request_json(r, store_.approvals(r.id));
}

Json::Value Service::list_requests(const std::string& host_id, const std::string& state) {
    Json::Value a(Json::arrayValue);
    for (const auto& r : store_.requests(host_id, state)) a.append(request_json(r, store_.approvals(r.id)));
    return a;
}

std::pair<std::size_t, std::size_t> Service::add_events(const std::string& host_id, const Json::Value& body) {
    if (!body.isObject() || !body["events"].isArray()) throw bad_request("the body must be {\"events\": [...]}");
    const Json::Value& events = body["events"];
    if (events.size() > kMaxEventsPerBatch)
        throw ApiError(413, "payload_too_large", "at most " + std::to_string(kMaxEventsPerBatch) + " events per batch");
    for (Json::ArrayIndex i = 0; i < events.size(); ++i) {
        const Json::Value& e = events[i];
        if (!e.isObject() || !e["seq"].isIntegral() || e["seq"].isBool() || e["seq"].asInt64() < 0)
            throw bad_request("events[" + std::to_string(i) + "] needs an integer seq >= 0");
    }
    std::size_t fresh = 0;
    write([&] {
        for (const auto& e : events)
            if (store_.add_event(EventRecord{host_id, e["seq"].asInt64(), clock_(), compact_json(e)})) ++fresh;
    });
    return {fresh, events.size() - fresh};
}

Json::Value Service::list_events(const std::string& host_id, UnixTime since, std::size_t limit) {
    Json::Value a(Json::arrayValue);
    for (const auto& e : store_.events(host_id, since, limit)) {
        Json::Value j;
        j["host_id"] = e.host_id;
        j["seq"] = Json::Int64(e.seq);
        j["received_at"] = Json::Int64(e.received_at);
        j["event"] = parse_body(e.event_json);
        a.append(j);
    }
    return a;
}

std::string Service::add_host(const std::string& host_id, const std::vector<std::string>& labels, const Caller& caller) {
    if (!is_valid_host_id(host_id)) throw ApiError(400, "invalid_host_id", "'" + host_id + "' is not a host id");
    for (const auto& l : labels)
        if (l.find('=') == std::string::npos || detail::has_control_chars(l))
            throw bad_request("label '" + l + "' is not key=value");
    const std::string token = new_token();
    write([&] {
        if (store_.host(host_id)) throw ApiError(409, "conflict", "host " + host_id + " exists");
        store_.add_host(HostRecord{host_id, token_hash(token), labels, clock_(), 0, -1, 0});
        Json::Value detail;
        detail["labels"] = strings_json(labels);
        record(caller, "host.add", host_id, detail);
        issue_in_tx(host_id);
    });
    return token;
}

Json::Value Service::list_hosts() {
    Json::Value a(Json::arrayValue);
    const UnixTime now = clock_();
    const auto hosts = store_.hosts();
    const auto latest = store_.latest_bundles(host_ids(hosts));  // one query, not one per host
    for (std::size_t i = 0; i < hosts.size(); ++i) a.append(host_view(hosts[i], latest[i], now));
    return a;
}

Json::Value Service::create_grant(const std::string& host_id, const Json::Value& body, const Caller& caller) {
    Ask ask = parse_ask(body);
    if (!ask.extends.empty()) throw bad_request("use extend for an existing grant");
    require_host(host_id);
    RequestRecord pseudo;  // an operator's grant: the same shape as an approved request
    pseudo.host_id = host_id;
    pseudo.user = ask.user;
    pseudo.requested_by = caller.actor;
    pseudo.body_json = compact_json(ask.to_json());
    Json::Value g = grant_from_request(pseudo, {caller.actor});
    check_grant_with_host_rules(host_id, g, clock_());
    return write([&] {
        store_.add_grant(GrantRecord{g["id"].asString(), host_id, ask.user, compact_json(g), g["not_after"].asInt64(),
                                     "active", 0, "", "", ""});
        record(caller, "grant.create", host_id + "/" + g["id"].asString(), g);
        Json::Value out;
        out["grant"] = g;
        out["revision"] = Json::Int64(issue_in_tx(host_id).revision);
        return out;
    });
}

Json::Value Service::revoke_grant(const std::string& host_id, const std::string& grant_id, const std::string& reason,
                                  const Caller& caller) {
    return write([&] {
        auto g = store_.grant(grant_id);
        if (!g || g->host_id != host_id) throw not_found("grant " + grant_id);
        if (g->state != "active") throw ApiError(409, "conflict", "grant " + grant_id + " is " + g->state);
        store_.revoke_grant(grant_id, clock_(), caller.actor, reason);
        Json::Value detail;
        detail["reason"] = reason;
        record(caller, "grant.revoke", host_id + "/" + grant_id, detail);
        changed("grant.revoked", host_id, caller.actor, grant_subject(*g, g->not_after, reason));
        Json::Value out;
        out["revision"] = Json::Int64(issue_in_tx(host_id).revision);
        return out;
    });
}

Json::Value Service::extend_grant(const std::string& host_id, const std::string& grant_id, std::int64_t seconds,
                                  const Caller& caller) {
    if (seconds <= 0 || seconds > kMaxDuration) throw bad_request("extension must be 1.." + std::to_string(kMaxDuration) + " seconds");
    return write([&] {
        auto g = store_.grant(grant_id);
        if (!g || g->host_id != host_id) throw not_found("grant " + grant_id);
        if (g->state != "active" || g->not_after <= clock_()) throw ApiError(409, "conflict", "grant " + grant_id + " has ended");
        const std::int64_t not_after = std::min<std::int64_t>(g->not_after + seconds, limits::kMaxTime);
        store_.set_grant_end(grant_id, not_after);
        Json::Value detail;
        detail["not_after"] = Json::Int64(not_after);
        record(caller, "grant.extend", host_id + "/" + grant_id, detail);
        changed("grant.extended", host_id, caller.actor, grant_subject(*g, not_after, ""));
        Json::Value out;
        out["not_after"] = Json::Int64(not_after);
        out["revision"] = Json::Int64(issue_in_tx(host_id).revision);
        return out;
    });
}

Json::Value Service::list_grants(const std::string& host_id) {
    require_host(host_id);
    Json::Value a(Json::arrayValue);
    const UnixTime now = clock_();
    for (const auto& g : store_.grants(host_id)) {
        Json::Value j = parse_body(g.grant_json);
        j["not_after"] = Json::Int64(g.not_after);
        j["state"] = g.state == "active" && g.not_after <= now ? "ended" : g.state;
        if (g.state == "revoked") {
            j["revoked_at"] = Json::Int64(g.revoked_at);
            j["revoked_by"] = g.revoked_by;
            j["revoked_reason"] = g.revoked_reason;
        }
        if (!g.request_id.empty()) j["request_id"] = g.request_id;
        a.append(j);
    }
    return a;
}

Json::Value Service::add_person(const std::string& name, const std::string& role, const std::string& cert_pem,
                                bool want_token, const Caller& caller) {
    if (!is_posix_name(name)) throw bad_request("'" + name + "' is not a user name");
    if (role != "admin" && role != "approver" && role != "requester")
        throw bad_request("role must be admin, approver or requester");
    CertificateId cert;
    if (!cert_pem.empty()) {
        cert = person_certificate(cert_pem);
    } else if (!want_token) {
        throw bad_request("a person needs a token or a client certificate");
    }
    const std::string token = want_token ? new_token() : "";
    write([&] {
        for (const auto& p : store_.people())
            if (p.name == name) throw ApiError(409, "conflict", "person " + name + " exists");
        if (!cert.sha256.empty()) require_cert_unbound(cert);
        store_.add_person(PersonRecord{name, token.empty() ? "" : token_hash(token), role, clock_(), cert.sha256});
        Json::Value detail;
        detail["role"] = role;
        if (!cert.sha256.empty()) detail["cert_sha256"] = cert.sha256;
        detail["token"] = !token.empty();
        record(caller, "person.add", name, detail);
    });
    Json::Value out;
    out["name"] = name;
    out["role"] = role;
    if (!token.empty()) out["token"] = token;
    if (!cert.sha256.empty()) out["cert_sha256"] = cert.sha256;
    return out;
}

CertificateId Service::person_certificate(const std::string& cert_pem) {
    if (cert_pem.empty()) throw bad_request("cert: a PEM certificate is required");
    auto id = certificate_id(cert_pem);
    if (!id) throw bad_request("cert: " + id.error().message);
    return *id;
}

void Service::require_cert_unbound(const CertificateId& cert) {
    if (auto p = store_.person_by_cert(cert.sha256))
        throw ApiError(409, "conflict", "this certificate (SHA-256 " + cert.sha256 + ") is already " + p->name + "'s");
    // A host's certificate (its CN names a registered host) stays a host's:
    // the host API takes a verified certificate's CN as the host id.
    if (!cert.cn.empty() && store_.host(cert.cn))
        throw ApiError(422, "host_certificate", "the certificate's CN " + cert.cn +
                                                    " is a registered host: a host's certificate cannot be a person's");
}

Json::Value Service::set_person_cert(const std::string& name, const std::string& cert_pem, const Caller& caller) {
    const CertificateId cert = person_certificate(cert_pem);
    Json::Value out;
    write([&] {
        std::optional<PersonRecord> person;
        for (auto& p : store_.people())
            if (p.name == name) person = std::move(p);
        if (!person) throw not_found("person " + name);
        require_cert_unbound(cert);
        if (!store_.set_person_cert(name, cert.sha256)) throw not_found("person " + name);
        Json::Value detail;
        detail["old_cert_sha256"] = person->cert_sha256;
        detail["cert_sha256"] = cert.sha256;
        record(caller, "person.cert", name, detail);
        out["name"] = name;
        out["role"] = person->role;
        out["old_cert_sha256"] = person->cert_sha256;
        out["cert_sha256"] = cert.sha256;
    });
    return out;
}

void Service::remove_person(const std::string& name, const Caller& caller) {
    if (name == caller.actor) throw ApiError(422, "remove_self", "you cannot remove yourself (another admin can)");
    write([&] {
        if (!store_.remove_person(name)) throw not_found("person " + name);
        record(caller, "person.remove", name, Json::Value(Json::objectValue));
    });
}

Json::Value Service::list_people() {
    Json::Value a(Json::arrayValue);
    for (const auto& p : store_.people()) {
        Json::Value j;
        j["name"] = p.name;
        j["role"] = p.role;
        j["created_at"] = Json::Int64(p.created_at);
        j["token"] = !p.token_hash.empty();
        j["cert_sha256"] = p.cert_sha256;
        a.append(j);
    }
    return a;
}

Json::Value Service::list_actions(UnixTime since, std::size_t limit) {
    Json::Value a(Json::arrayValue);
    for (const auto& x : store_.actions(since, limit)) {
        Json::Value j;
        j["id"] = Json::Int64(x.id);
        j["at"] = Json::Int64(x.at);
        j["actor"] = x.actor;
        j["source"] = x.source;
        j["action"] = x.action;
        j["target"] = x.target;
        j["detail"] = parse_body(x.detail_json);
        a.append(j);
    }
    return a;
}

void Service::record(const Caller& caller, const std::string& action, const std::string& target, const Json::Value& detail) {
    store_.add_action(ActionRecord{0, clock_(), caller.actor, caller.source, action, target,
                                   compact_json(detail.isObject() ? detail : Json::Value(Json::objectValue))});
}

}  // namespace jit::authority
