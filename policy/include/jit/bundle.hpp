// Verification and acceptance of authority envelopes, exactly as PROTOCOL.md §1
// says. Pure functions: the clock and the previous state come in as arguments.
#pragma once

#include <jit/grant.hpp>
#include <jit/result.hpp>

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace jit {

// A signed envelope with its base64 fields decoded (nothing verified yet).
struct Envelope {
    std::string key_id;
    std::string payload;    // exact signed bytes
    std::string signature;  // raw 64-byte Ed25519 signature
};

Result<Envelope> parse_envelope(std::string_view json);

// Trusted authority public keys: a directory of PEM files named <key_id>.pub.
class TrustedKeys {
public:
    static Result<TrustedKeys> load_dir(const std::string& dir);
    // For tests and tools: one key from PEM text.
    Status add_pem(const std::string& key_id, std::string_view pem);

    // Error code "signature" when the signature does not verify, "key_id"
    // when the key is not trusted.
    Status verify(const std::string& key_id, std::string_view data, std::string_view signature) const;
    std::size_t size() const { return keys_.size(); }

    TrustedKeys();
    ~TrustedKeys();
    TrustedKeys(TrustedKeys&&) noexcept;
    TrustedKeys& operator=(TrustedKeys&&) noexcept;

private:
    struct Key;
    std::map<std::string, std::shared_ptr<Key>> keys_;
};

// Parses and validates the payload JSON (rule 5: every grant well-formed,
// every limit in the Grant table). Does not check signature, host or time.
Result<GrantsPayload> parse_payload(std::string_view bytes);

struct AcceptContext {
    std::string host_id;             // this host's id
    std::int64_t last_revision = 0;  // 0: nothing accepted yet
    std::string last_payload;        // exact bytes of the last accepted payload ("" if none)
    UnixTime now = 0;
    std::int64_t clock_skew = 300;   // seconds issued_at may lie in the future
};

struct AcceptedBundle {
    Envelope envelope;
    GrantsPayload payload;
};

// Rules 1-5 of PROTOCOL.md §1, in order; the first that fails is the error.
// Error codes: "envelope", "key_id", "signature", "payload", "type", "host_id",
// "revision", "fork", "issued_at", "expires_at", "grant" (message names grant
// id/index and field).
Result<AcceptedBundle> verify_and_accept(std::string_view envelope_json, const TrustedKeys& keys,
                                         const AcceptContext& ctx);

// Once now > expires_at and nothing newer was accepted, the view is stale.
inline bool is_stale(const GrantsPayload& p, UnixTime now) { return now > p.expires_at; }

}  // namespace jit
