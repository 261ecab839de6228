// The PostgreSQL implementation of Store (libpq): replicas share one
// database; a committed revision is announced with NOTIFY jit_revision, and
// every replica LISTENs on a second connection to wake its own long polls.
#include <jit/authority/store.hpp>

#include <json/json.h>
#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace jit::authority {
namespace {

// Schema versions (table jit_schema); applied under an advisory lock so that
// replicas starting together migrate once. Never edit a released step.
const char* const kPgMigrations[] = {
    R"sql(
CREATE TABLE hosts (
  host_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL DEFAULT '', labels TEXT NOT NULL DEFAULT '[]',
  created_at BIGINT NOT NULL, last_seen BIGINT NOT NULL DEFAULT 0,
  last_after BIGINT NOT NULL DEFAULT -1, revision BIGINT NOT NULL DEFAULT 0);
CREATE INDEX hosts_token ON hosts(token_hash) WHERE token_hash <> '';
CREATE TABLE bundles (
  host_id TEXT NOT NULL REFERENCES hosts(host_id), revision BIGINT NOT NULL,
  envelope TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
  PRIMARY KEY (host_id, revision));
CREATE TABLE grants (
  seq BIGSERIAL, id TEXT PRIMARY KEY, host_id TEXT NOT NULL REFERENCES hosts(host_id), "user" TEXT NOT NULL,
  grant_json TEXT NOT NULL, not_after BIGINT NOT NULL, state TEXT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0, revoked_by TEXT NOT NULL DEFAULT '',
  revoked_reason TEXT NOT NULL DEFAULT '', request_id TEXT NOT NULL DEFAULT '');
CREATE INDEX grants_host ON grants(host_id, state);
CREATE TABLE requests (
  seq BIGSERIAL, id TEXT PRIMARY KEY, host_id TEXT NOT NULL REFERENCES hosts(host_id), "user" TEXT NOT NULL,
  requested_by TEXT NOT NULL, origin TEXT NOT NULL, body_json TEXT NOT NULL, state TEXT NOT NULL,
  rule TEXT NOT NULL, approvals_required INTEGER NOT NULL, created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL, extends TEXT NOT NULL DEFAULT '', grant_id TEXT NOT NULL DEFAULT '',
  decided_by TEXT NOT NULL DEFAULT '[]', message TEXT NOT NULL DEFAULT '');
CREATE INDEX requests_host ON requests(host_id, state);
CREATE TABLE approvals (
  seq BIGSERIAL, request_id TEXT NOT NULL REFERENCES requests(id), approver TEXT NOT NULL, at BIGINT NOT NULL,
  comment TEXT NOT NULL DEFAULT '', PRIMARY KEY (request_id, approver));
CREATE TABLE people (
  name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE events (
  host_id TEXT NOT NULL, seq BIGINT NOT NULL, received_at BIGINT NOT NULL, event_json TEXT NOT NULL,
  PRIMARY KEY (host_id, seq));
CREATE TABLE actions (
  id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL, source TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL, detail_json TEXT NOT NULL);
)sql",
    // 2: people may authenticate with a client certificate (its SHA-256)
    // instead of, or beside, a token; either may be absent ('').
    R"sql(
ALTER TABLE people ADD COLUMN cert_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE people DROP CONSTRAINT people_token_hash_key;
CREATE UNIQUE INDEX people_token ON people(token_hash) WHERE token_hash <> '';
CREATE UNIQUE INDEX people_cert ON people(cert_sha256) WHERE cert_sha256 <> '';
)sql",
};
constexpr long kMigrationLock = 0x6a6974;  // "jit"

struct ResultDeleter {
    void operator()(PGresult* r) const { PQclear(r); }
};

class Rows {
public:
    explicit Rows(PGresult* r) : r_(r) {}
    int size() const { return PQntuples(r_.get()); }
    std::string text(int row, int col) const { return std::string(PQgetvalue(r_.get(), row, col), std::size_t(PQgetlength(r_.get(), row, col))); }
    std::int64_t integer(int row, int col) const { return std::stoll(PQgetvalue(r_.get(), row, col)); }
    long affected() const { const char* n = PQcmdTuples(r_.get()); return *n ? std::stol(n) : 0; }

private:
    std::unique_ptr<PGresult, ResultDeleter> r_;
};

using Params = std::vector<std::string>;
std::string num(std::int64_t v) { return std::to_string(v); }

// A PostgreSQL array literal of texts ({"a","b\\"c"}), for $n::text[]: one
// parameter carries a whole batch.
std::string text_array(const std::vector<std::string>& v) {
    std::size_t size = 2;
    for (const auto& s : v) size += s.size() + 3;
    std::string out;
    out.reserve(size + size / 16);
    out += '{';
    for (const auto& s : v) {
        if (out.size() > 1) out += ',';
        out += '"';
        for (const char c : s) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    out += '}';
    return out;
}
// {1,2,3}, for $n::bigint[].
std::string bigint_array(const std::vector<std::int64_t>& v) {
    std::string out = "{";
    for (const auto n : v) {
        if (out.size() > 1) out += ',';
        out += num(n);
    }
    out += '}';
    return out;
}

const char* const kHostCols = "host_id, token_hash, labels, created_at, last_seen, last_after, revision";
HostRecord read_host(const Rows& s, int i) {
    return HostRecord{s.text(i, 0), s.text(i, 1), parse_list(s.text(i, 2)), s.integer(i, 3), s.integer(i, 4),
                      s.integer(i, 5), s.integer(i, 6)};
}
const char* const kPersonCols = "name, token_hash, role, created_at, cert_sha256";
PersonRecord read_person(const Rows& s, int i) {
    return PersonRecord{s.text(i, 0), s.text(i, 1), s.text(i, 2), s.integer(i, 3), s.text(i, 4)};
}
const char* const kGrantCols =
    "id, host_id, \"user\", grant_json, not_after, state, revoked_at, revoked_by, revoked_reason, request_id";
GrantRecord read_grant(const Rows& s, int i) {
    return GrantRecord{s.text(i, 0), s.text(i, 1), s.text(i, 2), s.text(i, 3), s.integer(i, 4),
                       s.text(i, 5), s.integer(i, 6), s.text(i, 7), s.text(i, 8), s.text(i, 9)};
}
const char* const kRequestCols =
    "id, host_id, \"user\", requested_by, origin, body_json, state, rule, approvals_required, created_at, "
    "expires_at, extends, grant_id, decided_by, message";
RequestRecord read_request(const Rows& s, int i) {
    return RequestRecord{s.text(i, 0),  s.text(i, 1),  s.text(i, 2),  s.text(i, 3), s.text(i, 4),
                         s.text(i, 5),  s.text(i, 6),  s.text(i, 7),  int(s.integer(i, 8)), s.integer(i, 9),
                         s.integer(i, 10), s.text(i, 11), s.text(i, 12), parse_list(s.text(i, 13)), s.text(i, 14)};
}

class PgStore final : public Store {
public:
    explicit PgStore(const std::string& conninfo) {
        db_ = connect(conninfo);
        listen_ = connect(conninfo);
        migrate();
        PGresult* r = PQexec(listen_, "LISTEN jit_revision");
        if (auto msg = failure_of(r)) throw StoreError(*msg);
        PQclear(r);
    }
    ~PgStore() override {
        PQfinish(db_);
        PQfinish(listen_);
    }

    void transaction(const std::function<void()>& fn) override {
        if (depth_ > 0) {
            ++depth_;
            struct Leave { int& d; ~Leave() { --d; } } leave{depth_};
            fn();
            return;
        }
        exec("BEGIN");
        depth_ = 1;
        notify_.clear();
        try {
            fn();
            announce();
            depth_ = 0;
            exec("COMMIT");
        } catch (...) {
            depth_ = 0;
            notify_.clear();
            PQclear(PQexec(db_, "ROLLBACK"));
            throw;
        }
    }

    int schema_version() override {
        Rows r = q("SELECT COALESCE(MAX(version), 0) FROM jit_schema", {});
        return int(r.integer(0, 0));
    }

    std::optional<HostRecord> host(const std::string& id) override { return one_host("WHERE host_id = $1", {id}); }
    std::optional<HostRecord> host_for_update(const std::string& id) override {
        return one_host("WHERE host_id = $1 FOR UPDATE", {id});
    }
    std::vector<HostRecord> hosts_for_update(std::vector<std::string> ids) override {
        // Sorted before the rows are locked (LockRows runs above the sort):
        // every replica locks a batch's rows in the same order.
        Rows r = q(std::string("SELECT ") + kHostCols + " FROM hosts WHERE host_id = ANY($1::text[]) ORDER BY host_id "
                   "FOR UPDATE",
                   {text_array(ids)});
        std::vector<HostRecord> out;
        out.reserve(std::size_t(r.size()));
        for (int i = 0; i < r.size(); ++i) out.push_back(read_host(r, i));
        return out;
    }
    std::optional<HostRecord> host_by_token_hash(const std::string& hash) override {
        if (hash.empty()) return std::nullopt;
        return one_host("WHERE token_hash = $1", {hash});
    }
    std::vector<HostRecord> hosts() override {
        Rows r = q(std::string("SELECT ") + kHostCols + " FROM hosts ORDER BY host_id", {});
        std::vector<HostRecord> out;
        for (int i = 0; i < r.size(); ++i) out.push_back(read_host(r, i));
        return out;
    }
    void add_host(const HostRecord& h) override {
        q("INSERT INTO hosts (host_id, token_hash, labels, created_at) VALUES ($1, $2, $3, $4)",
          {h.host_id, h.token_hash, json_list(h.labels), num(h.created_at)});
    }
    void set_host_token(const std::string& id, const std::string& hash) override {
        q("UPDATE hosts SET token_hash = $1 WHERE host_id = $2", {hash, id});
    }
    void host_seen(const std::string& id, UnixTime at, std::int64_t after) override {
        q("UPDATE hosts SET last_seen = $1, last_after = CASE WHEN $2::bigint >= 0 THEN $2::bigint ELSE last_after END "
          "WHERE host_id = $3",
          {num(at), num(after), id});
    }

    void hosts_seen(const std::vector<Seen>& seen) override {
        if (seen.empty()) return;
        std::vector<std::string> ids;
        std::vector<std::int64_t> at, after;
        for (const auto& s : seen) {
            ids.push_back(s.host_id);
            at.push_back(s.at);
            after.push_back(s.after);
        }
        const std::string array = text_array(ids);
        transaction([&] {
            // Locked first, in the order every batch locks hosts (an UPDATE
            // locks in whatever order its plan visits the rows).
            q("SELECT host_id FROM hosts WHERE host_id = ANY($1::text[]) ORDER BY host_id FOR NO KEY UPDATE", {array});
            q("UPDATE hosts h SET last_seen = v.at, last_after = CASE WHEN v.after >= 0 THEN v.after ELSE h.last_after END "
              "FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(host_id, at, after) WHERE h.host_id = v.host_id",
              {array, bigint_array(at), bigint_array(after)});
        });
    }

    void add_bundle(const BundleRecord& b) override {
        // One statement, one round trip: the counter moves only upward, the
        // envelope is stored with it, bundles older than 16 revisions go.
        // Every listening replica is told at the end of the transaction, when
        // (and only if) it commits (announce).
        transaction([&] {
            Rows r = q("WITH up AS (UPDATE hosts SET revision = $2::bigint WHERE host_id = $1 AND revision < $2::bigint "
                       "RETURNING host_id), "
                       "ins AS (INSERT INTO bundles (host_id, revision, envelope, issued_at, expires_at) "
                       "SELECT host_id, $2::bigint, $3::text, $4::bigint, $5::bigint FROM up RETURNING host_id), "
                       "del AS (DELETE FROM bundles WHERE host_id = $1 AND revision < $2::bigint - 16 "
                       "AND EXISTS (SELECT 1 FROM up)) "
                       "SELECT host_id FROM ins",
                       {b.host_id, num(b.revision), b.envelope, num(b.issued_at), num(b.expires_at)});
            if (r.size() != 1)
                throw StoreError("revision " + num(b.revision) + " for host " + b.host_id +
                                 " is not above the host's last revision");
            notify_.push_back(b.host_id);
        });
    }
    void add_bundles(const std::vector<BundleRecord>& bs) override {
        // The same as add_bundle, for a whole batch in one statement: each
        // host's counter moves only upward, its envelope is stored with it,
        // its bundles older than 16 revisions go; all or nothing.
        if (bs.empty()) return;
        std::vector<std::string> hosts, envelopes;
        std::vector<std::int64_t> revisions, issued, expires;
        for (const auto& b : bs) {
            hosts.push_back(b.host_id);
            revisions.push_back(b.revision);
            envelopes.push_back(b.envelope);
            issued.push_back(b.issued_at);
            expires.push_back(b.expires_at);
        }
        transaction([&] {
            Rows r = q("WITH v AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[]) "
                       "AS v(host_id, revision, envelope, issued_at, expires_at)), "
                       "up AS (UPDATE hosts h SET revision = v.revision FROM v "
                       "WHERE h.host_id = v.host_id AND h.revision < v.revision RETURNING h.host_id, h.revision), "
                       "ins AS (INSERT INTO bundles (host_id, revision, envelope, issued_at, expires_at) "
                       "SELECT v.host_id, v.revision, v.envelope, v.issued_at, v.expires_at FROM v JOIN up "
                       "ON up.host_id = v.host_id RETURNING host_id), "
                       "del AS (DELETE FROM bundles b USING up WHERE b.host_id = up.host_id AND b.revision < up.revision - 16) "
                       "SELECT count(*), count(DISTINCT host_id) FROM ins",
                       {text_array(hosts), bigint_array(revisions), text_array(envelopes), bigint_array(issued),
                        bigint_array(expires)});
            // A host twice in the batch would be stored once (or fail on the
            // primary key): both counts must be the batch's size.
            if (r.integer(0, 0) != std::int64_t(bs.size()) || r.integer(0, 1) != std::int64_t(bs.size()))
                throw StoreError(num(std::int64_t(bs.size()) - r.integer(0, 1)) + " of " + num(std::int64_t(bs.size())) +
                                 " revisions (first host " + bs.front().host_id +
                                 ") not above their host's last revision, or a host given twice");
            notify_.insert(notify_.end(), hosts.begin(), hosts.end());
        });
    }
    std::optional<BundleRecord> latest_bundle(const std::string& id) override {
        Rows r = q("SELECT host_id, revision, envelope, issued_at, expires_at FROM bundles WHERE host_id = $1 "
                   "ORDER BY revision DESC LIMIT 1",
                   {id});
        if (r.size() == 0) return std::nullopt;
        return BundleRecord{r.text(0, 0), r.integer(0, 1), r.text(0, 2), r.integer(0, 3), r.integer(0, 4)};
    }
    std::vector<std::optional<BundleRecord>> latest_bundles(const std::vector<std::string>& ids) override {
        // One round trip for the lot (re-signing checks 1,024 hosts at a time).
        const std::string array = text_array(ids);
        Rows r = q("SELECT b.host_id, b.revision, b.envelope, b.issued_at, b.expires_at FROM bundles b "
                   "JOIN hosts h ON h.host_id = b.host_id AND b.revision = h.revision WHERE h.host_id = ANY($1::text[])",
                   {array});
        std::unordered_map<std::string, BundleRecord> found;
        for (int i = 0; i < r.size(); ++i)
            found.emplace(r.text(i, 0), BundleRecord{r.text(i, 0), r.integer(i, 1), r.text(i, 2), r.integer(i, 3), r.integer(i, 4)});
        std::vector<std::optional<BundleRecord>> out;
        out.reserve(ids.size());
        for (const auto& id : ids) {
            auto it = found.find(id);
            if (it == found.end()) out.emplace_back(std::nullopt);
            else out.emplace_back(std::move(it->second));
        }
        return out;
    }
    std::vector<std::string> hosts_due(UnixTime now) override {
        Rows r = q("SELECT b.host_id FROM bundles b JOIN hosts h ON h.host_id = b.host_id AND b.revision = h.revision "
                   "WHERE b.issued_at + (b.expires_at - b.issued_at) / 2 <= $1",
                   {num(now)});
        std::vector<std::string> out;
        for (int i = 0; i < r.size(); ++i) out.push_back(r.text(i, 0));
        return out;
    }

    void add_grant(const GrantRecord& g) override {
        q("INSERT INTO grants (id, host_id, \"user\", grant_json, not_after, state, request_id) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7)",
          {g.id, g.host_id, g.user, g.grant_json, num(g.not_after), g.state, g.request_id});
    }
    std::optional<GrantRecord> grant(const std::string& id) override {
        Rows r = q(std::string("SELECT ") + kGrantCols + " FROM grants WHERE id = $1", {id});
        if (r.size() == 0) return std::nullopt;
        return read_grant(r, 0);
    }
    std::vector<GrantRecord> grants(const std::string& host_id) override {
        Rows r = q(std::string("SELECT ") + kGrantCols + " FROM grants WHERE host_id = $1 AND state <> 'deleted' ORDER BY seq",
                   {host_id});
        std::vector<GrantRecord> out;
        for (int i = 0; i < r.size(); ++i) out.push_back(read_grant(r, i));
        return out;
    }
    std::vector<std::vector<GrantRecord>> grants_of(const std::vector<std::string>& ids) override {
        Rows r = q(std::string("SELECT ") + kGrantCols +
                       " FROM grants WHERE host_id = ANY($1::text[]) AND state <> 'deleted' ORDER BY seq",
                   {text_array(ids)});
        std::unordered_map<std::string, std::vector<GrantRecord>> by_host;
        for (int i = 0; i < r.size(); ++i) {
            GrantRecord g = read_grant(r, i);
            by_host[g.host_id].push_back(std::move(g));
        }
        std::vector<std::vector<GrantRecord>> out;
        out.reserve(ids.size());
        for (const auto& id : ids) {
            auto it = by_host.find(id);
            out.push_back(it == by_host.end() ? std::vector<GrantRecord>{} : it->second);
        }
        return out;
    }
    void set_grant_end(const std::string& id, UnixTime not_after) override {
        q("UPDATE grants SET not_after = $1 WHERE id = $2", {num(not_after), id});
    }
    void revoke_grant(const std::string& id, UnixTime at, const std::string& by, const std::string& reason) override {
        q("UPDATE grants SET state = 'revoked', revoked_at = $1, revoked_by = $2, revoked_reason = $3 "
          "WHERE id = $4 AND state = 'active'",
          {num(at), by, reason, id});
    }

    void add_request(const RequestRecord& r) override {
        q(std::string("INSERT INTO requests (") + kRequestCols +
              ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
          {r.id, r.host_id, r.user, r.requested_by, r.origin, r.body_json, r.state, r.rule, num(r.approvals_required),
           num(r.created_at), num(r.expires_at), r.extends, r.grant_id, json_list(r.decided_by), r.message});
    }
    std::optional<RequestRecord> request(const std::string& id) override {
        Rows r = q(std::string("SELECT ") + kRequestCols + " FROM requests WHERE id = $1", {id});
        if (r.size() == 0) return std::nullopt;
        return read_request(r, 0);
    }
    std::vector<RequestRecord> requests(const std::string& host_id, const std::string& state) override {
        Rows r = q(std::string("SELECT ") + kRequestCols +
                       " FROM requests WHERE ($1 = '' OR host_id = $1) AND ($2 = '' OR state = $2) ORDER BY created_at, seq",
                   {host_id, state});
        std::vector<RequestRecord> out;
        for (int i = 0; i < r.size(); ++i) out.push_back(read_request(r, i));
        return out;
    }
    void update_request(const RequestRecord& r) override {
        q("UPDATE requests SET state = $1, decided_by = $2, grant_id = $3, message = $4 WHERE id = $5",
          {r.state, json_list(r.decided_by), r.grant_id, r.message, r.id});
    }
    void add_approval(const ApprovalRecord& a) override {
        q("INSERT INTO approvals (request_id, approver, at, comment) VALUES ($1, $2, $3, $4)",
          {a.request_id, a.approver, num(a.at), a.comment});
    }
    std::vector<ApprovalRecord> approvals(const std::string& request_id) override {
        Rows r = q("SELECT request_id, approver, at, comment FROM approvals WHERE request_id = $1 ORDER BY at, seq",
                   {request_id});
        std::vector<ApprovalRecord> out;
        for (int i = 0; i < r.size(); ++i) out.push_back(ApprovalRecord{r.text(i, 0), r.text(i, 1), r.integer(i, 2), r.text(i, 3)});
        return out;
    }

    void add_person(const PersonRecord& p) override {
        q("INSERT INTO people (name, token_hash, role, created_at, cert_sha256) VALUES ($1, $2, $3, $4, $5)",
          {p.name, p.token_hash, p.role, num(p.created_at), p.cert_sha256});
    }
    std::optional<PersonRecord> person_by_token_hash(const std::string& hash) override {
        if (hash.empty()) return std::nullopt;
        return one_person("WHERE token_hash = $1", hash);
    }
    std::optional<PersonRecord> person_by_cert(const std::string& sha256) override {
        if (sha256.empty()) return std::nullopt;
        return one_person("WHERE cert_sha256 = $1", sha256);
    }
    bool remove_person(const std::string& name) override {
        return q("DELETE FROM people WHERE name = $1", {name}).affected() == 1;
    }
    bool set_person_cert(const std::string& name, const std::string& cert_sha256) override {
        return q("UPDATE people SET cert_sha256 = $1 WHERE name = $2", {cert_sha256, name}).affected() == 1;
    }
    std::vector<PersonRecord> people() override {
        Rows r = q(std::string("SELECT ") + kPersonCols + " FROM people ORDER BY name", {});
        std::vector<PersonRecord> out;
        for (int i = 0; i < r.size(); ++i) out.push_back(read_person(r, i));
        return out;
    }

    bool add_event(const EventRecord& e) override {
        Rows r = q("INSERT INTO events (host_id, seq, received_at, event_json) VALUES ($1, $2, $3, $4) "
                   "ON CONFLICT DO NOTHING",
                   {e.host_id, num(e.seq), num(e.received_at), e.event_json});
        return r.affected() == 1;
    }
    std::vector<EventRecord> events(const std::string& host_id, UnixTime since, std::size_t limit) override {
        Rows r = q("SELECT host_id, seq, received_at, event_json FROM events WHERE ($1 = '' OR host_id = $1) "
                   "AND received_at >= $2 ORDER BY host_id, seq LIMIT $3",
                   {host_id, num(since), num(std::int64_t(limit))});
        std::vector<EventRecord> out;
        for (int i = 0; i < r.size(); ++i)
            out.push_back(EventRecord{r.text(i, 0), r.integer(i, 1), r.integer(i, 2), r.text(i, 3)});
        return out;
    }

    void add_action(const ActionRecord& a) override {
        q("INSERT INTO actions (at, actor, source, action, target, detail_json) VALUES ($1, $2, $3, $4, $5, $6)",
          {num(a.at), a.actor, a.source, a.action, a.target, a.detail_json});
    }
    std::vector<ActionRecord> actions(UnixTime since, std::size_t limit) override {
        Rows r = q("SELECT id, at, actor, source, action, target, detail_json FROM actions WHERE at >= $1 "
                   "ORDER BY id LIMIT $2",
                   {num(since), num(std::int64_t(limit))});
        std::vector<ActionRecord> out;
        for (int i = 0; i < r.size(); ++i)
            out.push_back(ActionRecord{r.integer(i, 0), r.integer(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4),
                                       r.text(i, 5), r.text(i, 6)});
        return out;
    }

    int notification_fd() override { return PQsocket(listen_); }
    std::vector<std::string> take_notifications() override {
        if (PQconsumeInput(listen_) != 1) throw StoreError(std::string("postgres listen: ") + PQerrorMessage(listen_));
        // This replica's own revisions woke its polls when they committed:
        // only other replicas' (another backend than ours) are news.
        const int own = PQbackendPID(db_);
        std::vector<std::string> hosts;
        while (PGnotify* n = PQnotifies(listen_)) {
            if (n->be_pid != own) {
                // host ids separated by spaces (announce)
                std::string_view ids(n->extra);
                while (!ids.empty()) {
                    const auto sp = ids.find(' ');
                    if (sp != 0) hosts.emplace_back(ids.substr(0, sp));
                    if (sp == std::string_view::npos) break;
                    ids.remove_prefix(sp + 1);
                }
            }
            PQfreemem(n);
        }
        return hosts;
    }

private:
    static PGconn* connect(const std::string& conninfo) {
        PGconn* c = PQconnectdb(conninfo.c_str());
        if (PQstatus(c) != CONNECTION_OK) {
            std::string msg = PQerrorMessage(c);
            PQfinish(c);
            throw StoreError("cannot connect to PostgreSQL: " + msg);
        }
        return c;
    }
    // A statement's failure as the store reports it ("constraint: …" for a
    // violated constraint, SQLSTATE class 23), the result freed; nullopt when
    // it succeeded.
    static std::optional<std::string> failure_of(PGresult* r) {
        const ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return std::nullopt;
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        std::string msg = std::string(state && std::string(state).rfind("23", 0) == 0 ? "constraint: " : "postgres: ") +
                          PQresultErrorMessage(r);
        PQclear(r);
        return msg;
    }
    // The hosts that got a revision in this transaction, announced to every
    // listening replica with as few NOTIFYs as fit them (payloads below
    // PostgreSQL's 8000 bytes, host ids separated by spaces), inside the
    // transaction: delivered when, and only if, it commits.
    void announce() {
        std::string payload;
        for (std::size_t i = 0; i <= notify_.size(); ++i) {
            const bool last = i == notify_.size();
            if (!payload.empty() && (last || payload.size() + 1 + notify_[i].size() > 7900)) {
                q("SELECT pg_notify('jit_revision', $1)", {payload});
                payload.clear();
            }
            if (last) break;
            if (!payload.empty()) payload += ' ';
            payload += notify_[i];
        }
        notify_.clear();
    }
    // Every statement of the store is prepared once per connection (the server
    // parses and plans it once, not at every call).
    Rows q(const std::string& sql, const Params& params) {
        auto it = prepared_.find(sql);
        if (it == prepared_.end()) {
            const std::string name = "jit" + std::to_string(prepared_.size());
            PQclear(checked(PQprepare(db_, name.c_str(), sql.c_str(), 0, nullptr)));
            it = prepared_.emplace(sql, name).first;
        }
        std::vector<const char*> values;
        for (const auto& v : params) values.push_back(v.c_str());
        return Rows(checked(PQexecPrepared(db_, it->second.c_str(), int(values.size()), values.data(), nullptr, nullptr, 0)));
    }
    // r when its statement (on db_) succeeded; StoreError otherwise, the
    // connection reset when it was lost.
    PGresult* checked(PGresult* r) {
        if (auto msg = failure_of(r)) {
            if (PQstatus(db_) == CONNECTION_BAD) reset();
            throw StoreError(*msg);
        }
        return r;
    }
    // A lost connection (PostgreSQL restarted): this call failed, the next one
    // reconnects, and its prepared statements are gone with the old session.
    void reset() {
        PQreset(db_);
        prepared_.clear();
    }
    // Statements without parameters, possibly several (migrations).
    void exec(const char* sql) {
        PQclear(checked(PQexec(db_, sql)));
    }
    std::optional<PersonRecord> one_person(const std::string& where, const std::string& value) {
        Rows r = q(std::string("SELECT ") + kPersonCols + " FROM people " + where, {value});
        if (r.size() == 0) return std::nullopt;
        return read_person(r, 0);
    }
    std::optional<HostRecord> one_host(const std::string& where, const Params& p) {
        Rows r = q(std::string("SELECT ") + kHostCols + " FROM hosts " + where, p);
        if (r.size() == 0) return std::nullopt;
        return read_host(r, 0);
    }
    void migrate() {
        transaction([&] {
            q("SELECT pg_advisory_xact_lock($1)", {num(kMigrationLock)});
            exec("CREATE TABLE IF NOT EXISTS jit_schema (version INTEGER NOT NULL)");
            const int have = schema_version();
            const int known = int(std::size(kPgMigrations));
            if (have > known)
                throw StoreError("database schema version " + num(have) + " is newer than this jit-authority (" +
                                 num(known) + ")");
            for (int v = have; v < known; ++v) {
                exec(kPgMigrations[v]);
                q("INSERT INTO jit_schema (version) VALUES ($1)", {num(v + 1)});
            }
        });
    }

    PGconn* db_ = nullptr;
    PGconn* listen_ = nullptr;
    int depth_ = 0;
    std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name on db_
    std::vector<std::string> notify_;                         // hosts with a new revision in this transaction
};

}  // namespace

std::unique_ptr<Store> open_postgres_store(const std::string& conninfo) { return std::make_unique<PgStore>(conninfo); }

std::unique_ptr<Store> open_store(const std::string& database, bool create) {
    if (database.rfind("postgresql://", 0) == 0 || database.rfind("postgres://", 0) == 0)
        return open_postgres_store(database);
    return open_sqlite_store(database, create);
}

}  // namespace jit::authority
