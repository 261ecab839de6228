// The SQLite implementation of Store: one file, WAL, synchronous=FULL (a
// revision is durable before it is served), versioned migrations.
#include <jit/authority/store.hpp>

#include <json/json.h>
#include <sqlite3.h>

#include <sys/stat.h>

namespace jit::authority {
namespace {

// Schema versions, applied in order; user_version records the last applied.
// Never edit a released step: add a new one.
const char* const kMigrations[] = {
    // 1: the first schema.
    R"sql(
CREATE TABLE hosts (
  host_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL DEFAULT '', labels TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL DEFAULT 0,
  last_after INTEGER NOT NULL DEFAULT -1, revision INTEGER NOT NULL DEFAULT 0);
CREATE INDEX hosts_token ON hosts(token_hash) WHERE token_hash <> '';
CREATE TABLE bundles (
  host_id TEXT NOT NULL REFERENCES hosts(host_id), revision INTEGER NOT NULL,
  envelope TEXT NOT NULL, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  PRIMARY KEY (host_id, revision));
CREATE TABLE grants (
  id TEXT PRIMARY KEY, host_id TEXT NOT NULL REFERENCES hosts(host_id), user TEXT NOT NULL,
  grant_json TEXT NOT NULL, not_after INTEGER NOT NULL, state TEXT NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0, revoked_by TEXT NOT NULL DEFAULT '',
  revoked_reason TEXT NOT NULL DEFAULT '', request_id TEXT NOT NULL DEFAULT '');
CREATE INDEX grants_host ON grants(host_id, state);
CREATE TABLE requests (
  id TEXT PRIMARY KEY, host_id TEXT NOT NULL REFERENCES hosts(host_id), user TEXT NOT NULL,
  requested_by TEXT NOT NULL, origin TEXT NOT NULL, body_json TEXT NOT NULL, state TEXT NOT NULL,
  rule TEXT NOT NULL, approvals_required INTEGER NOT NULL, created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL, extends TEXT NOT NULL DEFAULT '', grant_id TEXT NOT NULL DEFAULT '',
  decided_by TEXT NOT NULL DEFAULT '[]', message TEXT NOT NULL DEFAULT '');
CREATE INDEX requests_host ON requests(host_id, state);
CREATE TABLE approvals (
  request_id TEXT NOT NULL REFERENCES requests(id), approver TEXT NOT NULL, at INTEGER NOT NULL,
  comment TEXT NOT NULL DEFAULT '', PRIMARY KEY (request_id, approver));
CREATE TABLE people (
  name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE events (
  host_id TEXT NOT NULL, seq INTEGER NOT NULL, received_at INTEGER NOT NULL, event_json TEXT NOT NULL,
  PRIMARY KEY (host_id, seq));
CREATE TABLE actions (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, source TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL, detail_json TEXT NOT NULL);
)sql",
    // 2: people may authenticate with a client certificate (its SHA-256)
    // instead of, or beside, a token; either may be absent ('').
    R"sql(
CREATE TABLE people_v2 (
  name TEXT PRIMARY KEY, token_hash TEXT NOT NULL DEFAULT '', cert_sha256 TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL, created_at INTEGER NOT NULL);
INSERT INTO people_v2 (name, token_hash, role, created_at) SELECT name, token_hash, role, created_at FROM people;
DROP TABLE people;
ALTER TABLE people_v2 RENAME TO people;
CREATE UNIQUE INDEX people_token ON people(token_hash) WHERE token_hash <> '';
CREATE UNIQUE INDEX people_cert ON people(cert_sha256) WHERE cert_sha256 <> '';
)sql",
};

class Stmt {
public:
    Stmt(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
            throw StoreError(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
    }
    ~Stmt() { sqlite3_finalize(st_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& bind(const std::string& s) {
        check(sqlite3_bind_text(st_, ++n_, s.data(), int(s.size()), SQLITE_TRANSIENT));
        return *this;
    }
    Stmt& bind(std::int64_t v) {
        check(sqlite3_bind_int64(st_, ++n_, v));
        return *this;
    }
    // true while a row is ready.
    bool step() {
        int rc = sqlite3_step(st_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        if (rc == SQLITE_CONSTRAINT) throw StoreError(std::string("constraint: ") + sqlite3_errmsg(db_));
        throw StoreError(std::string("sqlite: ") + sqlite3_errmsg(db_));
    }
    void run() { step(); }
    std::string text(int col) const {
        auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
        return p ? std::string(p, std::size_t(sqlite3_column_bytes(st_, col))) : std::string();
    }
    std::int64_t integer(int col) const { return sqlite3_column_int64(st_, col); }

private:
    void check(int rc) {
        if (rc != SQLITE_OK) throw StoreError(std::string("sqlite bind: ") + sqlite3_errmsg(db_));
    }
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
    int n_ = 0;
};

const char* const kHostCols = "host_id, token_hash, labels, created_at, last_seen, last_after, revision";
HostRecord read_host(const Stmt& s) {
    return HostRecord{s.text(0), s.text(1), parse_list(s.text(2)), s.integer(3), s.integer(4), s.integer(5),
                      s.integer(6)};
}
const char* const kGrantCols =
    "id, host_id, user, grant_json, not_after, state, revoked_at, revoked_by, revoked_reason, request_id";
GrantRecord read_grant(const Stmt& s) {
    return GrantRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.integer(4),
                       s.text(5), s.integer(6), s.text(7), s.text(8), s.text(9)};
}
const char* const kRequestCols =
    "id, host_id, user, requested_by, origin, body_json, state, rule, approvals_required, created_at, "
    "expires_at, extends, grant_id, decided_by, message";
RequestRecord read_request(const Stmt& s) {
    return RequestRecord{s.text(0),     s.text(1),     s.text(2),     s.text(3),  s.text(4),
                         s.text(5),     s.text(6),     s.text(7),     int(s.integer(8)), s.integer(9),
                         s.integer(10), s.text(11),    s.text(12),    parse_list(s.text(13)), s.text(14)};
}

std::string select(const char* cols, const char* rest) { return std::string("SELECT ") + cols + " " + rest; }

class SqliteStore final : public Store {
public:
    SqliteStore(const std::string& path, bool create) {
        struct stat st{};
        if (!create && stat(path.c_str(), &st) != 0)
            throw StoreError("database " + path + " does not exist (run jit-authority --init first)");
        int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
        if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
            std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
            sqlite3_close(db_);
            throw StoreError("cannot open database " + path + ": " + msg);
        }
        sqlite3_busy_timeout(db_, 5000);
        try {
            exec("PRAGMA journal_mode=WAL");
            exec("PRAGMA synchronous=FULL");
            exec("PRAGMA foreign_keys=ON");
            migrate();
        } catch (...) {
            sqlite3_close(db_);
            throw;
        }
        if (create) chmod(path.c_str(), 0600);
    }
    ~SqliteStore() override { sqlite3_close(db_); }

    void transaction(const std::function<void()>& fn) override {
        if (depth_ > 0) {
            ++depth_;
            struct Leave { int& d; ~Leave() { --d; } } leave{depth_};
            fn();
            return;
        }
        exec("BEGIN IMMEDIATE");
        depth_ = 1;
        try {
            fn();
            depth_ = 0;
            exec("COMMIT");
        } catch (...) {
            depth_ = 0;
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }

    int schema_version() override {
        Stmt s(db_, "PRAGMA user_version");
        s.step();
        return int(s.integer(0));
    }

    std::optional<HostRecord> host(const std::string& id) override {
        Stmt s(db_, select(kHostCols, "FROM hosts WHERE host_id = ?").c_str());
        s.bind(id);
        if (!s.step()) return std::nullopt;
        return read_host(s);
    }
    std::optional<HostRecord> host_by_token_hash(const std::string& hash) override {
        if (hash.empty()) return std::nullopt;
        Stmt s(db_, select(kHostCols, "FROM hosts WHERE token_hash = ?").c_str());
        s.bind(hash);
        if (!s.step()) return std::nullopt;
        return read_host(s);
    }
    std::vector<HostRecord> hosts() override {
        Stmt s(db_, select(kHostCols, "FROM hosts ORDER BY host_id").c_str());
        std::vector<HostRecord> out;
        while (s.step()) out.push_back(read_host(s));
        return out;
    }
    void add_host(const HostRecord& h) override {
        Stmt s(db_, "INSERT INTO hosts (host_id, token_hash, labels, created_at) VALUES (?, ?, ?, ?)");
        s.bind(h.host_id).bind(h.token_hash).bind(json_list(h.labels)).bind(h.created_at).run();
    }
    void set_host_token(const std::string& id, const std::string& hash) override {
        Stmt s(db_, "UPDATE hosts SET token_hash = ? WHERE host_id = ?");
        s.bind(hash).bind(id).run();
    }
    void host_seen(const std::string& id, UnixTime at, std::int64_t after) override {
        Stmt s(db_, "UPDATE hosts SET last_seen = ?, last_after = CASE WHEN ? >= 0 THEN ? ELSE last_after END "
                    "WHERE host_id = ?");
        s.bind(at).bind(after).bind(after).bind(id).run();
    }

    void add_bundle(const BundleRecord& b) override {
        transaction([&] {
            Stmt up(db_, "UPDATE hosts SET revision = ? WHERE host_id = ? AND revision < ?");
            up.bind(b.revision).bind(b.host_id).bind(b.revision).run();
            if (sqlite3_changes(db_) != 1)
                throw StoreError("revision " + std::to_string(b.revision) + " for host " + b.host_id +
                                 " is not above the host's last revision");
            Stmt s(db_, "INSERT INTO bundles (host_id, revision, envelope, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)");
            s.bind(b.host_id).bind(b.revision).bind(b.envelope).bind(b.issued_at).bind(b.expires_at).run();
            // Only the latest envelope is ever served again; keep a short history for audits.
            Stmt prune(db_, "DELETE FROM bundles WHERE host_id = ? AND revision < ?");
            prune.bind(b.host_id).bind(b.revision - 16).run();
        });
    }
    std::optional<BundleRecord> latest_bundle(const std::string& id) override {
        Stmt s(db_, "SELECT host_id, revision, envelope, issued_at, expires_at FROM bundles WHERE host_id = ? "
                    "ORDER BY revision DESC LIMIT 1");
        s.bind(id);
        if (!s.step()) return std::nullopt;
        return BundleRecord{s.text(0), s.integer(1), s.text(2), s.integer(3), s.integer(4)};
    }
    std::vector<std::string> hosts_due(UnixTime now) override {
        Stmt s(db_, "SELECT b.host_id FROM bundles b JOIN hosts h ON h.host_id = b.host_id AND b.revision = h.revision "
                    "WHERE b.issued_at + (b.expires_at - b.issued_at) / 2 <= ?");
        s.bind(now);
        std::vector<std::string> out;
        while (s.step()) out.push_back(s.text(0));
        return out;
    }

    void add_grant(const GrantRecord& g) override {
        Stmt s(db_, "INSERT INTO grants (id, host_id, user, grant_json, not_after, state, request_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)");
        s.bind(g.id).bind(g.host_id).bind(g.user).bind(g.grant_json).bind(g.not_after).bind(g.state)
            .bind(g.request_id).run();
    }
    std::optional<GrantRecord> grant(const std::string& id) override {
        Stmt s(db_, select(kGrantCols, "FROM grants WHERE id = ?").c_str());
        s.bind(id);
        if (!s.step()) return std::nullopt;
        return read_grant(s);
    }
    std::vector<GrantRecord> grants(const std::string& host_id) override {
        Stmt s(db_, select(kGrantCols, "FROM grants WHERE host_id = ? AND state <> 'deleted' ORDER BY rowid").c_str());
        s.bind(host_id);
        std::vector<GrantRecord> out;
        while (s.step()) out.push_back(read_grant(s));
        return out;
    }
    void set_grant_end(const std::string& id, UnixTime not_after) override {
        Stmt s(db_, "UPDATE grants SET not_after = ? WHERE id = ?");
        s.bind(not_after).bind(id).run();
    }
    void revoke_grant(const std::string& id, UnixTime at, const std::string& by, const std::string& reason) override {
        Stmt s(db_, "UPDATE grants SET state = 'revoked', revoked_at = ?, revoked_by = ?, revoked_reason = ? "
                    "WHERE id = ? AND state = 'active'");
        s.bind(at).bind(by).bind(reason).bind(id).run();
    }

    void add_request(const RequestRecord& r) override {
        Stmt s(db_, (std::string("INSERT INTO requests (") + kRequestCols +
                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").c_str());
        s.bind(r.id).bind(r.host_id).bind(r.user).bind(r.requested_by).bind(r.origin).bind(r.body_json)
            .bind(r.state).bind(r.rule).bind(std::int64_t(r.approvals_required)).bind(r.created_at)
            .bind(r.expires_at).bind(r.extends).bind(r.grant_id).bind(json_list(r.decided_by)).bind(r.message).run();
    }
    std::optional<RequestRecord> request(const std::string& id) override {
        Stmt s(db_, select(kRequestCols, "FROM requests WHERE id = ?").c_str());
        s.bind(id);
        if (!s.step()) return std::nullopt;
        return read_request(s);
    }
    std::vector<RequestRecord> requests(const std::string& host_id, const std::string& state) override {
        Stmt s(db_, select(kRequestCols, "FROM requests WHERE (?1 = '' OR host_id = ?1) AND (?2 = '' OR state = ?2) "
                                         "ORDER BY created_at, rowid").c_str());
        s.bind(host_id).bind(state);
        std::vector<RequestRecord> out;
        while (s.step()) out.push_back(read_request(s));
        return out;
    }
    void update_request(const RequestRecord& r) override {
        Stmt s(db_, "UPDATE requests SET state = ?, decided_by = ?, grant_id = ?, message = ? WHERE id = ?");
        s.bind(r.state).bind(json_list(r.decided_by)).bind(r.grant_id).bind(r.message).bind(r.id).run();
    }
    void add_approval(const ApprovalRecord& a) override {
        Stmt s(db_, "INSERT INTO approvals (request_id, approver, at, comment) VALUES (?, ?, ?, ?)");
        s.bind(a.request_id).bind(a.approver).bind(a.at).bind(a.comment).run();
    }
    std::vector<ApprovalRecord> approvals(const std::string& request_id) override {
        Stmt s(db_, "SELECT request_id, approver, at, comment FROM approvals WHERE request_id = ? ORDER BY at, rowid");
        s.bind(request_id);
        std::vector<ApprovalRecord> out;
        while (s.step()) out.push_back(ApprovalRecord{s.text(0), s.text(1), s.integer(2), s.text(3)});
        return out;
    }

    void add_person(const PersonRecord& p) override {
        Stmt s(db_, "INSERT INTO people (name, token_hash, role, created_at, cert_sha256) VALUES (?, ?, ?, ?, ?)");
        s.bind(p.name).bind(p.token_hash).bind(p.role).bind(p.created_at).bind(p.cert_sha256).run();
    }
    std::optional<PersonRecord> person_by_token_hash(const std::string& hash) override {
        if (hash.empty()) return std::nullopt;
        return one_person("SELECT name, token_hash, role, created_at, cert_sha256 FROM people WHERE token_hash = ?", hash);
    }
    std::optional<PersonRecord> person_by_cert(const std::string& sha256) override {
        if (sha256.empty()) return std::nullopt;
        return one_person("SELECT name, token_hash, role, created_at, cert_sha256 FROM people WHERE cert_sha256 = ?", sha256);
    }
    bool remove_person(const std::string& name) override {
        Stmt s(db_, "DELETE FROM people WHERE name = ?");
        s.bind(name).run();
        return sqlite3_changes(db_) == 1;
    }
    bool set_person_cert(const std::string& name, const std::string& cert_sha256) override {
        Stmt s(db_, "UPDATE people SET cert_sha256 = ? WHERE name = ?");
        s.bind(cert_sha256).bind(name).run();
        return sqlite3_changes(db_) == 1;
    }
    std::vector<PersonRecord> people() override {
        Stmt s(db_, "SELECT name, token_hash, role, created_at, cert_sha256 FROM people ORDER BY name");
        std::vector<PersonRecord> out;
        while (s.step()) out.push_back(read_person(s));
        return out;
    }

    bool add_event(const EventRecord& e) override {
        Stmt s(db_, "INSERT OR IGNORE INTO events (host_id, seq, received_at, event_json) VALUES (?, ?, ?, ?)");
        s.bind(e.host_id).bind(e.seq).bind(e.received_at).bind(e.event_json).run();
        return sqlite3_changes(db_) == 1;
    }
    std::vector<EventRecord> events(const std::string& host_id, UnixTime since, std::size_t limit) override {
        Stmt s(db_, "SELECT host_id, seq, received_at, event_json FROM events WHERE (?1 = '' OR host_id = ?1) "
                    "AND received_at >= ?2 ORDER BY host_id, seq LIMIT ?3");
        s.bind(host_id).bind(since).bind(std::int64_t(limit));
        std::vector<EventRecord> out;
        while (s.step()) out.push_back(EventRecord{s.text(0), s.integer(1), s.integer(2), s.text(3)});
        return out;
    }

    void add_action(const ActionRecord& a) override {
        Stmt s(db_, "INSERT INTO actions (at, actor, source, action, target, detail_json) VALUES (?, ?, ?, ?, ?, ?)");
        s.bind(a.at).bind(a.actor).bind(a.source).bind(a.action).bind(a.target).bind(a.detail_json).run();
    }
    std::vector<ActionRecord> actions(UnixTime since, std::size_t limit) override {
        Stmt s(db_, "SELECT id, at, actor, source, action, target, detail_json FROM actions WHERE at >= ? "
                    "ORDER BY id LIMIT ?");
        s.bind(since).bind(std::int64_t(limit));
        std::vector<ActionRecord> out;
        while (s.step())
            out.push_back(ActionRecord{s.integer(0), s.integer(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6)});
        return out;
    }

private:
    // A row of people read by "SELECT name, token_hash, role, created_at, cert_sha256".
    static PersonRecord read_person(const Stmt& s) {
        return PersonRecord{s.text(0), s.text(1), s.text(2), s.integer(3), s.text(4)};
    }
    std::optional<PersonRecord> one_person(const char* sql, const std::string& value) {
        Stmt s(db_, sql);
        s.bind(value);
        if (!s.step()) return std::nullopt;
        return read_person(s);
    }
    void exec(const char* sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
            std::string msg = err ? err : "unknown error";
            sqlite3_free(err);
            throw StoreError("sqlite: " + msg);
        }
    }
    void migrate() {
        const int have = schema_version();
        const int known = int(std::size(kMigrations));
        if (have > known)
            throw StoreError("database schema version " + std::to_string(have) + " is newer than this jit-authority (" +
                             std::to_string(known) + ")");
        for (int v = have; v < known; ++v) {
            transaction([&] {
                exec(kMigrations[v]);
                exec(("PRAGMA user_version = " + std::to_string(v + 1)).c_str());
            });
        }
    }

    sqlite3* db_ = nullptr;
    int depth_ = 0;
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path, bool create) {
    return std::make_unique<SqliteStore>(path, create);
}

}  // namespace jit::authority
