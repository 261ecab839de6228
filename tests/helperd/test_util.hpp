// Helpers for the jit-helperd tests: an Ed25519 signer, payload/envelope
// builders, a fake transport and fake accounts.
#pragma once

#include <jit/base64.hpp>
#include <jit/bundle.hpp>
#include <jit/enforce/session.hpp>
#include <jit/helperd/daemon.hpp>
#include <jit/helperd/transport.hpp>
#include <jit/test/temp_dir.hpp>  // TempDir (tests/support)

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace jit::test {

class Signer {
public:
    Signer() {
        EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
        if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &key_) <= 0) throw std::runtime_error("keygen");
        EVP_PKEY_CTX_free(ctx);
    }
    ~Signer() { EVP_PKEY_free(key_); }
    Signer(const Signer&) = delete;
    Signer& operator=(const Signer&) = delete;

    std::string public_pem() const {
        BIO* bio = BIO_new(BIO_s_mem());
        PEM_write_bio_PUBKEY(bio, key_);
        char* data = nullptr;
        long n = BIO_get_mem_data(bio, &data);
        std::string out(data, std::size_t(n));
        BIO_free(bio);
        return out;
    }
    std::string sign(const std::string& data) const {
        EVP_MD_CTX* md = EVP_MD_CTX_new();
        std::string sig(64, '\0');
        size_t len = sig.size();
        if (EVP_DigestSignInit(md, nullptr, nullptr, nullptr, key_) <= 0 ||
            EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()) <= 0)
            throw std::runtime_error("sign");
        EVP_MD_CTX_free(md);
        return sig;
    }
    TrustedKeys keys(const std::string& key_id = "test-key") const {
        TrustedKeys k;
        auto st = k.add_pem(key_id, public_pem());
        if (!st) throw std::runtime_error(st.error().message);
        return k;
    }
    std::string envelope(const std::string& payload, const std::string& key_id = "test-key") const {
        return R"({"key_id":")" + key_id + R"(","payload":")" + base64_encode(payload) + R"(","signature":")" +
               base64_encode(sign(payload)) + R"("})";
    }

private:
    EVP_PKEY* key_ = nullptr;
};

struct TestGrant {
    std::string id = "g-1";
    std::string user = "alice";
    bool login = true;
    bool sudo = false;
    UnixTime not_before = 0;
    UnixTime not_after = 0;
    std::string sudo_commands = R"(["ALL"])";  // JSON array, with sudo
};

inline std::string payload_json(const std::string& host, std::int64_t revision, UnixTime issued, UnixTime expires,
                                const std::vector<TestGrant>& grants) {
    std::string s = R"({"type":"jit.grants.v1","host_id":")" + host + R"(","revision":)" + std::to_string(revision) +
                    R"(,"issued_at":)" + std::to_string(issued) + R"(,"expires_at":)" + std::to_string(expires) +
                    R"(,"grants":[)";
    bool first = true;
    for (const auto& g : grants) {
        if (!first) s += ",";
        first = false;
        s += R"({"id":")" + g.id + R"(","user":")" + g.user + R"(","login":)" + (g.login ? "true" : "false");
        if (g.sudo) s += R"(,"sudo":{"run_as":"root","commands":)" + g.sudo_commands + "}";
        s += R"(,"not_before":)" + std::to_string(g.not_before) + R"(,"not_after":)" + std::to_string(g.not_after) +
             R"(,"reason":"test","requested_by":")" + g.user + R"(","approved_by":["bob"]})";
    }
    s += R"(],"revoked":[]})";
    return s;
}

// Requests are recorded; the test answers them (asynchronously, as curl would).
class FakeTransport final : public helperd::Transport {
public:
    struct Pending {
        RequestId id;
        helperd::HttpRequest request;
        Done done;
    };
    RequestId start(const helperd::HttpRequest& request, Done done) override {
        RequestId id = next_++;
        pending.push_back(Pending{id, request, std::move(done)});
        ++started;
        return id;
    }
    void cancel(RequestId id) override {
        for (auto it = pending.begin(); it != pending.end(); ++it)
            if (it->id == id) {
                pending.erase(it);
                ++cancelled;
                return;
            }
    }
    // Answers the oldest pending request.
    void answer(long status, std::string body = {}, std::string error = {}) {
        if (pending.empty()) throw std::runtime_error("no pending request");
        Pending p = std::move(pending.front());
        pending.pop_front();
        p.done(helperd::HttpResponse{status, std::move(body), std::move(error)});
    }
    // The server's certificate did not verify (what libcurl reports as CURLE_PEER_FAILED_VERIFICATION).
    void answer_tls_failure(std::string error) {
        if (pending.empty()) throw std::runtime_error("no pending request");
        Pending p = std::move(pending.front());
        pending.pop_front();
        helperd::HttpResponse r{0, {}, std::move(error)};
        r.tls_verify_failed = true;
        p.done(std::move(r));
    }
    std::deque<Pending> pending;
    int started = 0;
    int cancelled = 0;

private:
    RequestId next_ = 1;
};

// Answers from `users` (unknown: an empty account / no name) and counts the
// questions. Not thread-safe by itself (lookups_test's GatedAccounts wraps it).
class FakeAccounts final : public helperd::Accounts {
public:
    LocalAccount lookup(const std::string& user) override {
        ++lookups;
        auto it = users.find(user);
        return it == users.end() ? LocalAccount{} : it->second;
    }
    std::optional<std::string> name_of(uid_t uid) override {
        ++names;
        for (const auto& [name, acct] : users)
            if (acct.uid && *acct.uid == uid) return name;
        return std::nullopt;
    }
    std::map<std::string, LocalAccount> users;
    std::int64_t lookups = 0, names = 0;
};

// The daemon set-up the daemon tests and the daemon fuzzer share: host web-01
// at https://jit.example.com, state under `dir`/state, no sudoers drop-in.
// The daemon's SessionTable for tests that run the Daemon without the
// Enforcer (jit-helperd's table): keeps what op=session_open hands it, keyed
// the way the Enforcer keys it.
class MemorySessions final : public helperd::SessionTable {
public:
    std::vector<helperd::SessionInfo> opened;           // every registration, in order
    std::map<std::string, helperd::SessionInfo> live;  // by key
    std::string open(const helperd::SessionInfo& s) override {
        helperd::SessionInfo kept = s;
        kept.key = enforce::session_key(s.logind_session, s.pid, s.tty);
        opened.push_back(kept);
        live[kept.key] = kept;
        return kept.key;
    }
    std::optional<helperd::SessionInfo> close(const helperd::SessionInfo& c) override {
        for (auto it = live.begin(); it != live.end(); ++it) {
            const helperd::SessionInfo& s = it->second;
            if (!helperd::close_names(c, s.user, s.logind_session, s.pid)) continue;
            helperd::SessionInfo closed = s;
            live.erase(it);
            return closed;
        }
        return std::nullopt;
    }
    std::size_t count(const std::optional<std::string>& user) const override {
        std::size_t n = 0;
        for (const auto& [key, s] : live) n += !user || s.user == *user;
        return n;
    }
    // With hold_opened, a session_open answer waits in `held` (as for a home
    // being made) until the test runs it.
    bool hold_opened = false;
    std::vector<std::function<void()>> held;
    void when_opened(const helperd::SessionInfo&, std::function<void()> then) override {
        if (hold_opened) held.push_back(std::move(then));
        else then();
    }
};

inline helperd::Config daemon_config(const std::string& dir) {
    helperd::Config c;
    c.authority.url = "https://jit.example.com";
    c.authority.host_id = "web-01";
    c.policy.host_id = "web-01";
    c.state_dir = dir + "/state";
    c.sudoers_path = "";
    return c;
}
// alice (1000: the grants' user in most tests), carol (70005: in the managed
// uid range, no grant), dave (1001: local, unmanaged) and root.
inline void add_daemon_accounts(FakeAccounts& accounts) {
    accounts.users["alice"] = LocalAccount{1000, {"alice"}};
    accounts.users["carol"] = LocalAccount{70005, {"carol"}};
    accounts.users["dave"] = LocalAccount{1001, {"dave"}};
    accounts.users["root"] = LocalAccount{0, {"root"}};
}

}  // namespace jit::test
