// The authority's logic, without HTTP: PROTOCOL.md §1-§4 for hosts, and the
// operator actions behind the admin API. Time comes from an injected clock;
// all state is in the Store. Errors a client should see are ApiError (HTTP
// status, stable code, message).
#pragma once

#include <jit/authority/config.hpp>
#include <jit/authority/crypto.hpp>
#include <jit/authority/store.hpp>
#include <jit/json_text.hpp>

#include <json/value.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace jit::authority {

struct ApiError : std::runtime_error {
    ApiError(int status_, std::string code_, const std::string& message)
        : std::runtime_error(message), status(status_), code(std::move(code_)) {}
    int status;
    std::string code;
};

// Who does something, for the operator-action record.
struct Caller {
    std::string actor;   // person name, or "host:<id>"
    std::string source;  // peer address
};

class Service {
public:
    using Clock = std::function<UnixTime()>;
    // Called after a new revision for the host is committed (wakes long polls).
    using IssueListener = std::function<void(const BundleRecord&)>;
    // Something people watch changed (a request or a grant), after the commit:
    // the web page's live updates and the webhooks (authority/src/webhooks.cpp).
    struct Change {
        std::string kind;     // request.created|approval|approved|denied|expired|cancelled, grant.revoked|extended
        std::string host_id;
        std::string actor;    // who did it ("authority" for expiry)
        Json::Value subject;  // the request view, or {id, user, reason, not_after} of a grant
    };
    using ChangeListener = std::function<void(const Change&)>;

    Service(Store& store, const Signer& signer, const Config& config, Clock clock);
    void on_issue(IssueListener l) { listener_ = std::move(l); }
    void on_change(ChangeListener l) { change_listeners_.push_back(std::move(l)); }

    // §1: the latest bundle, issuing the host's first (revision 1) if none.
    BundleRecord current_bundle(const std::string& host_id);
    // A new revision now (same grants, fresh issued_at/expires_at).
    BundleRecord reissue(const std::string& host_id);
    // Heartbeat and housekeeping: re-issues every bundle at or past half its
    // lifetime and (a batch per call) every bundle signed with another key
    // than the one in use, expires pending requests past their time. Returns
    // how many bundles were issued.
    std::size_t tick();
    // Key rotation: re-signs (a quarter second's worth of batches) the bundles
    // signed with another key than the one in use; true while hosts remain
    // (the daemon calls again at once, between other work, until done).
    std::size_t rekey_step();
    bool rekey_pending() const { return !rekey_pending_.empty() || rekeyed_for_ != signer_.key_id(); }

    // §2. `origin` "host": body as PROTOCOL.md §2, requester = body.user.
    // "person": requester = caller.actor, user = body.user or the person.
    Json::Value submit_request(const std::string& host_id, const Json::Value& body, const std::string& origin,
                               const Caller& caller);
    Json::Value host_request_view(const std::string& host_id, const std::string& request_id);
    Json::Value approve(const std::string& request_id, const std::string& comment, const Caller& caller);
    Json::Value deny(const std::string& request_id, const std::string& comment, const Caller& caller);
    Json::Value cancel(const std::string& request_id, const Caller& caller);  // the requester only
    Json::Value request_view(const std::string& request_id);
    Json::Value list_requests(const std::string& host_id, const std::string& state);

    // §3: validates the whole batch first (400), then stores each new seq.
    // Returns {received, duplicates}.
    std::pair<std::size_t, std::size_t> add_events(const std::string& host_id, const Json::Value& body);
    Json::Value list_events(const std::string& host_id, UnixTime since, std::size_t limit);

    // Operators.
    std::string add_host(const std::string& host_id, const std::vector<std::string>& labels, const Caller& caller);
    Json::Value list_hosts();
    Json::Value create_grant(const std::string& host_id, const Json::Value& body, const Caller& caller);
    Json::Value revoke_grant(const std::string& host_id, const std::string& grant_id, const std::string& reason,
                             const Caller& caller);
    Json::Value extend_grant(const std::string& host_id, const std::string& grant_id, std::int64_t seconds,
                             const Caller& caller);
    Json::Value list_grants(const std::string& host_id);
    // A person who authenticates with a personal token (`token`), a client
    // certificate (`cert_pem`, PEM; bound by the SHA-256 of its DER), or both.
    // {"name", "role", "cert_sha256" (with a certificate), "token" (when made)}.
    Json::Value add_person(const std::string& name, const std::string& role, const std::string& cert_pem, bool token,
                           const Caller& caller);
    // Binds a person to another client certificate (a renewed one; or a first
    // one for a person with a token only): the old certificate stops working
    // with the commit, the new one works; recorded as person.cert with the old
    // and the new SHA-256. {"name", "role", "cert_sha256", "old_cert_sha256"}.
    Json::Value set_person_cert(const std::string& name, const std::string& cert_pem, const Caller& caller);
    // Removes a person: their token and certificate stop working at once.
    void remove_person(const std::string& name, const Caller& caller);
    // {"name", "role", "created_at", "token": bool, "cert_sha256"} of everyone.
    Json::Value list_people();
    Json::Value list_actions(UnixTime since, std::size_t limit);
    // Signing keys (docs/authority.md, "Rotating the signing key"): the key in
    // use, and per host which key signed its latest bundle and whether the
    // host holds that bundle — when every host holds one signed with the new
    // key, the old one can be retired from the hosts.
    Json::Value keys_view();

    // Records one operator action (who, what, when, from where).
    void record(const Caller& caller, const std::string& action, const std::string& target, const Json::Value& detail);

    const Config& config() const { return config_; }
    Store& store() { return store_; }
    UnixTime now() const { return clock_(); }

private:
    template <class F>
    auto write(F&& f);
    BundleRecord issue_in_tx(const std::string& host_id);
    std::vector<BundleRecord> issue_in_tx(const std::vector<std::string>& host_ids);
    HostRecord require_host(const std::string& host_id);
    RequestRecord require_request(const std::string& id);
    Json::Value grant_from_request(const RequestRecord& r, const std::vector<std::string>& approvers);
    // A certificate to bind to a person (400 when cert_pem is none), and 409/422
    // when it is already a person's or a registered host's.
    static CertificateId person_certificate(const std::string& cert_pem);
    void require_cert_unbound(const CertificateId& cert);
    Json::Value finish_approved(RequestRecord& r, const std::vector<std::string>& approvers, const Caller& caller);

    Store& store_;
    const Signer& signer_;
    const Config& config_;
    Clock clock_;
    IssueListener listener_;
    std::vector<BundleRecord> issued_;  // committed → listener
    // Key rotation: hosts still to check for a latest bundle signed with
    // another key than signer_'s (filled when the key in use changes: at
    // start, and after a reload), worked off a batch per tick.
    std::string rekeyed_for_;
    std::vector<std::string> rekey_pending_;
    void changed(std::string kind, const std::string& host_id, const std::string& actor, Json::Value subject);
    std::vector<ChangeListener> change_listeners_;
    std::vector<Change> changes_;       // committed → change listeners
};

// "login", "sudo /usr/bin/apt-get, …", "login + sudo …" for a request body or a grant.
std::string access_summary(const Json::Value& ask);
// admin 3, approver 2, requester 1, else 0: the admin API's and the page's role order.
int role_rank(const std::string& role);

// Compact JSON text (no spaces, keys sorted) — what the authority signs and
// sends: jit::compact_json (jit/json_text.hpp).
using jit::compact_json;
// Strict JSON for untrusted bodies: one object, no duplicate keys, UTF-8.
// ApiError 400 invalid_json otherwise.
Json::Value parse_body(std::string_view bytes);

}  // namespace jit::authority
