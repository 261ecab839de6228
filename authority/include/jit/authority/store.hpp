// jit-authority's storage interface. Everything that matters lives here, never
// only in memory: hosts, revisions and the signed envelopes served, grants,
// requests and approvals, people, host events and operator actions. SQLite
// (sqlite_store.cpp) and PostgreSQL (pg_store.cpp) implement it.
//
// Every method runs in the caller's transaction when one is open
// (Store::transaction), else in its own. Failures throw StoreError: the
// daemon answers 503 for them, the CLI prints them; nothing is half-written.
#pragma once

#include <jit/grant.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace jit::authority {

struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The stored form of a list of strings (groups, approvers, run_as...) in both
// stores: a compact JSON array, and back (StoreError when the stored text is
// not an array).
std::string json_list(const std::vector<std::string>& v);
std::vector<std::string> parse_list(const std::string& text);

struct HostRecord {
    std::string host_id;
    std::string token_hash;            // "" = no bearer token (mTLS only)
    std::vector<std::string> labels;   // "key=value"
    UnixTime created_at = 0;
    UnixTime last_seen = 0;            // last authenticated call from the host
    std::int64_t last_after = -1;      // the `after` of its last poll (what it holds)
    std::int64_t revision = 0;         // highest revision ever issued (never reused)
};

struct BundleRecord {
    std::string host_id;
    std::int64_t revision = 0;
    std::string envelope;              // exact bytes served, forever
    UnixTime issued_at = 0;
    UnixTime expires_at = 0;
};

struct GrantRecord {
    std::string id;
    std::string host_id;
    std::string user;
    std::string grant_json;            // the Grant object as first signed (not_after: see column)
    UnixTime not_after = 0;            // current end (an extension moves it)
    std::string state;                 // active | revoked | deleted
    UnixTime revoked_at = 0;
    std::string revoked_by;
    std::string revoked_reason;
    std::string request_id;            // "" when created directly by an operator
};

struct RequestRecord {
    std::string id;
    std::string host_id;
    std::string user;                  // POSIX user the grant is for
    std::string requested_by;          // person or host user who asked
    std::string origin;                // "host" (PROTOCOL.md §2) or "person"
    std::string body_json;             // the request as accepted (typed fields re-derived from it)
    std::string state;                 // pending | approved | denied | expired | cancelled
    std::string rule;                  // the rule that allowed it
    int approvals_required = 1;
    UnixTime created_at = 0;
    UnixTime expires_at = 0;           // a pending request expires then
    std::string extends;               // grant id, or ""
    std::string grant_id;              // once approved
    std::vector<std::string> decided_by;
    std::string message;               // deny reason / approval comment
};

struct ApprovalRecord {
    std::string request_id;
    std::string approver;
    UnixTime at = 0;
    std::string comment;
};

struct PersonRecord {
    std::string name;
    std::string token_hash;            // "" = no bearer token (client certificate only)
    std::string role;                  // admin | approver | requester
    UnixTime created_at = 0;
    std::string cert_sha256;           // SHA-256 (hex) of their client certificate's DER, "" = none
};

struct EventRecord {
    std::string host_id;
    std::int64_t seq = 0;
    UnixTime received_at = 0;
    std::string event_json;
};

struct ActionRecord {
    std::int64_t id = 0;
    UnixTime at = 0;
    std::string actor;                 // person name, "host:<id>" or "authority"
    std::string source;                // peer address
    std::string action;                // e.g. "request.approve"
    std::string target;                // e.g. "web-01/r-1a2b"
    std::string detail_json;
};

class Store {
public:
    virtual ~Store() = default;

    // Runs fn in one transaction (commits, or rolls back and rethrows).
    // Nested calls join the outer transaction.
    virtual void transaction(const std::function<void()>& fn) = 0;
    // The schema version after migration (docs/authority.md lists them).
    virtual int schema_version() = 0;

    virtual std::optional<HostRecord> host(const std::string& host_id) = 0;
    // The same, locking the host's row until the transaction ends (replicas
    // sharing one database issue its next revision one after the other).
    virtual std::optional<HostRecord> host_for_update(const std::string& host_id) { return host(host_id); }
    // The hosts among host_ids (unknown ones left out), in host_id order,
    // their rows locked until the transaction ends. Locked in that order, so
    // replicas locking overlapping sets of hosts never deadlock; one statement
    // where the database is across a network.
    virtual std::vector<HostRecord> hosts_for_update(std::vector<std::string> host_ids) {
        std::sort(host_ids.begin(), host_ids.end());
        host_ids.erase(std::unique(host_ids.begin(), host_ids.end()), host_ids.end());
        std::vector<HostRecord> out;
        for (const auto& id : host_ids)
            if (auto h = host_for_update(id)) out.push_back(std::move(*h));
        return out;
    }
    virtual std::optional<HostRecord> host_by_token_hash(const std::string& token_hash) = 0;
    virtual std::vector<HostRecord> hosts() = 0;
    virtual void add_host(const HostRecord& h) = 0;            // StoreError when it exists
    virtual void set_host_token(const std::string& host_id, const std::string& token_hash) = 0;
    virtual void host_seen(const std::string& host_id, UnixTime at, std::int64_t after) = 0;
    struct Seen {
        std::string host_id;
        UnixTime at = 0;
        std::int64_t after = -1;  // -1: keep last_after
    };
    // host_seen for each (distinct hosts), in one transaction; the rows are
    // locked in host_id order, as hosts_for_update does (two transactions
    // locking many hosts' rows in different orders could deadlock).
    virtual void hosts_seen(const std::vector<Seen>& seen) {
        transaction([&] {
            for (const auto& s : seen) host_seen(s.host_id, s.at, s.after);
        });
    }

    // The next revision for the host: one above every revision ever issued.
    // Stores the envelope and moves the host's counter in the same
    // transaction, so a revision can never be handed out twice.
    virtual void add_bundle(const BundleRecord& b) = 0;
    // add_bundle for each of them (distinct hosts), all or none: StoreError,
    // nothing stored, when any revision is not above its host's counter. One
    // statement where the database is across a network.
    virtual void add_bundles(const std::vector<BundleRecord>& bs) {
        transaction([&] {
            for (const auto& b : bs) add_bundle(b);
        });
    }
    virtual std::optional<BundleRecord> latest_bundle(const std::string& host_id) = 0;
    // The latest bundle of each host, in the order asked (nullopt: none yet);
    // one query where the database is across a network.
    virtual std::vector<std::optional<BundleRecord>> latest_bundles(const std::vector<std::string>& host_ids) {
        std::vector<std::optional<BundleRecord>> out;
        out.reserve(host_ids.size());
        for (const auto& h : host_ids) out.push_back(latest_bundle(h));
        return out;
    }
    // Hosts whose latest bundle is due for a heartbeat at `now` (issued_at +
    // (expires_at - issued_at) / 2 <= now).
    virtual std::vector<std::string> hosts_due(UnixTime now) = 0;

    virtual void add_grant(const GrantRecord& g) = 0;
    virtual std::optional<GrantRecord> grant(const std::string& id) = 0;
    // Active and revoked-since grants of a host (ended ones are left out by the caller).
    virtual std::vector<GrantRecord> grants(const std::string& host_id) = 0;
    // grants(h) of each host, in the order asked; one query where the database
    // is across a network.
    virtual std::vector<std::vector<GrantRecord>> grants_of(const std::vector<std::string>& host_ids) {
        std::vector<std::vector<GrantRecord>> out;
        out.reserve(host_ids.size());
        for (const auto& h : host_ids) out.push_back(grants(h));
        return out;
    }
    virtual void set_grant_end(const std::string& id, UnixTime not_after) = 0;
    virtual void revoke_grant(const std::string& id, UnixTime at, const std::string& by, const std::string& reason) = 0;

    virtual void add_request(const RequestRecord& r) = 0;
    virtual std::optional<RequestRecord> request(const std::string& id) = 0;
    virtual std::vector<RequestRecord> requests(const std::string& host_id, const std::string& state) = 0;
    virtual void update_request(const RequestRecord& r) = 0;  // state, decided_by, grant_id, message
    virtual void add_approval(const ApprovalRecord& a) = 0;
    virtual std::vector<ApprovalRecord> approvals(const std::string& request_id) = 0;

    virtual void add_person(const PersonRecord& p) = 0;
    virtual std::optional<PersonRecord> person_by_token_hash(const std::string& token_hash) = 0;
    virtual std::optional<PersonRecord> person_by_cert(const std::string& cert_sha256) = 0;
    // false when there is no such person. Their token and certificate stop
    // working with the commit; what they did stays in the action record.
    virtual bool remove_person(const std::string& name) = 0;
    // Binds the person to another certificate (SHA-256 of its DER; a renewed
    // one): the old one stops working with the commit. false when there is no
    // such person; StoreError when the certificate is another person's.
    virtual bool set_person_cert(const std::string& name, const std::string& cert_sha256) = 0;
    virtual std::vector<PersonRecord> people() = 0;

    // false when (host, seq) was stored before (the event is ignored).
    virtual bool add_event(const EventRecord& e) = 0;
    virtual std::vector<EventRecord> events(const std::string& host_id, UnixTime since, std::size_t limit) = 0;

    virtual void add_action(const ActionRecord& a) = 0;
    virtual std::vector<ActionRecord> actions(UnixTime since, std::size_t limit) = 0;

    // Revisions committed by other processes sharing the database (replicas):
    // a descriptor that becomes readable when there are some (-1: none can
    // come), and the host ids since the last call.
    virtual int notification_fd() { return -1; }
    virtual std::vector<std::string> take_notifications() { return {}; }
};

// Opens (creating when asked) the SQLite database at `path` in WAL mode and
// applies every pending schema migration. StoreError on failure.
std::unique_ptr<Store> open_sqlite_store(const std::string& path, bool create);
// Connects to PostgreSQL (a libpq URI, postgresql://…), applies pending
// migrations (one replica at a time) and LISTENs for other replicas' revisions.
std::unique_ptr<Store> open_postgres_store(const std::string& conninfo);
// `database` from the configuration: a postgresql:// URI, else a SQLite path.
std::unique_ptr<Store> open_store(const std::string& database, bool create);

}  // namespace jit::authority
