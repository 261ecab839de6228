// Verification and acceptance of authority envelopes, exactly as PROTOCOL.md §1
// says. Pure functions: the clock and the previous state come in as arguments.
// docs/protocol.md lists every error code and the stricter readings chosen.
#pragma once

#include <jit/grant.hpp>
#include <jit/result.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace jit {

// Limits on untrusted input. The protocol gives some (field lengths, uid
// range); the others are ours, generous for any real host and small enough
// that a hostile or broken authority cannot exhaust memory or stack.
namespace limits {
inline constexpr std::size_t kMaxEnvelopeBytes = 4 * 1024 * 1024;
inline constexpr std::size_t kMaxEnvelopeDepth = 1;  // one flat object
// root > grants > grant > sudo > commands: five levels, and no more.
inline constexpr std::size_t kMaxPayloadDepth = 5;
// Array elements plus object members in a whole document: jsoncpp needs
// ~100 bytes for each, so this bounds memory to well under 100 MiB.
inline constexpr std::size_t kMaxEnvelopeElements = 64;
inline constexpr std::size_t kMaxPayloadElements = 512 * 1024;
inline constexpr std::size_t kMaxGrants = 4096;
inline constexpr std::size_t kMaxRevoked = 4096;
inline constexpr std::size_t kMaxGroups = 64;
inline constexpr std::size_t kMaxSudoCommands = 128;
inline constexpr std::size_t kMaxSudoCommandBytes = 4096;
inline constexpr std::size_t kMaxSshKeys = 32;
inline constexpr std::size_t kMaxSshKeyBytes = 16 * 1024;
inline constexpr std::size_t kMaxApprovers = 64;
inline constexpr std::size_t kMaxPersonBytes = 256;  // requested_by, approved_by[], revoked[].by
inline constexpr std::size_t kMaxDisplayNameBytes = 256;
inline constexpr std::size_t kMaxReasonBytes = 1024;
inline constexpr std::size_t kMaxTicketBytes = 128;
inline constexpr std::size_t kMaxShellBytes = 256;
inline constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;
inline constexpr std::int64_t kMinUid = 1000;
inline constexpr std::int64_t kMaxUid = 2147483646;
inline constexpr UnixTime kMaxTime = 253402300799;  // 9999-12-31T23:59:59Z
inline constexpr std::size_t kEd25519SignatureBytes = 64;
}  // namespace limits

inline constexpr std::string_view kGrantsType = "jit.grants.v1";

// A signed envelope with its base64 fields decoded (nothing verified yet).
struct Envelope {
    std::string key_id;
    std::string payload;    // exact signed bytes
    std::string signature;  // raw 64-byte Ed25519 signature
};

// Error codes: "envelope" (size, JSON, missing field, payload base64),
// "key_id" (missing or not a valid key id), "signature" (missing, bad base64,
// not 64 bytes).
Result<Envelope> parse_envelope(std::string_view json);

// Trusted authority public keys: a directory of PEM files named <key_id>.pub.
class TrustedKeys {
public:
    // Loads every <key_id>.pub in `dir` (other files are ignored). Error code
    // "trusted_keys": unreadable directory or file, a file writable by group or
    // others, a key that is not Ed25519, or no key at all.
    static Result<TrustedKeys> load_dir(const std::string& dir);
    // For tests and tools: one key from PEM text. Error code "trusted_keys".
    Status add_pem(const std::string& key_id, std::string_view pem);

    // Error code "signature" when the signature does not verify, "key_id"
    // when the key is not trusted.
    Status verify(const std::string& key_id, std::string_view data, std::string_view signature) const;
    std::size_t size() const { return keys_.size(); }
    bool contains(const std::string& key_id) const { return keys_.count(key_id) != 0; }

    TrustedKeys();
    ~TrustedKeys();
    TrustedKeys(TrustedKeys&&) noexcept;
    TrustedKeys& operator=(TrustedKeys&&) noexcept;

private:
    struct Key;
    std::map<std::string, std::shared_ptr<Key>> keys_;
};

// Parses and validates the payload JSON (rule 5: every grant well-formed,
// every limit in the Grant table; also expires_at > issued_at). Does not check
// signature, host or time. Error codes: "payload", "type", "host_id",
// "revision", "issued_at", "expires_at", "grant", "revoked".
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
// "revision", "fork", "issued_at", "expires_at", "grant", "revoked" (messages
// name the grant id/index and the field).
// An equal revision is accepted only when ctx.last_payload holds the same
// bytes: callers that do not know the previous bytes get "fork" (fail closed).
Result<AcceptedBundle> verify_and_accept(std::string_view envelope_json, const TrustedKeys& keys,
                                         const AcceptContext& ctx);

// The PROTOCOL.md §1 acceptance rule (1-5) an error code of verify_and_accept
// belongs to, for logs and messages; 0 for codes that are not a rule
// ("trusted_keys", unknown codes).
int acceptance_rule(std::string_view code);

// Once now > expires_at and nothing newer was accepted, the view is stale
// (PROTOCOL.md §1). The one statement of the rule: everything that asks
// "stale?" (the daemon's view, its status, jitctl bundle verify) asks here.
inline bool is_stale(UnixTime expires_at, UnixTime now) { return now > expires_at; }
inline bool is_stale(const GrantsPayload& p, UnixTime now) { return is_stale(p.expires_at, now); }

}  // namespace jit
