// Signing (Ed25519, OpenSSL), envelopes, and the secrets people and hosts
// authenticate with. Verification stays in policy/ (jit::TrustedKeys): the
// authority's unit tests check what it signs with the host's own verifier.
#pragma once

#include <jit/result.hpp>

#include <memory>
#include <string>
#include <string_view>

struct x509_st;  // OpenSSL's X509

namespace jit::authority {

class Signer {
public:
    // Reads an Ed25519 private key (PEM). Error code "key": unreadable, group-
    // or world-accessible (must be 0600 or stricter), or not Ed25519.
    static Result<Signer> load(const std::string& path, std::string key_id);
    // Writes a new key pair: private (0600, refuses to overwrite) and public PEM.
    static Status generate(const std::string& private_path, const std::string& public_path);

    const std::string& key_id() const { return key_id_; }
    std::string sign(std::string_view data) const;  // raw 64-byte signature
    // {"key_id", "payload": base64(payload), "signature": base64(sign(payload))}
    std::string envelope(std::string_view payload) const;
    std::string public_pem() const;

    Signer(Signer&&) noexcept;
    Signer& operator=(Signer&&) noexcept;
    ~Signer();

private:
    struct Key;
    Signer(std::unique_ptr<Key> key, std::string key_id);
    std::unique_ptr<Key> key_;
    std::string key_id_;
};

// A new random bearer token ("jit_" + 64 hex digits, 256 bits).
std::string new_token();
// How tokens are kept at rest: SHA-256, hex. The tokens carry 256 random bits,
// so a fast hash is enough (no password stretching needed).
std::string token_hash(std::string_view token);
// A client certificate as people are bound to it: SHA-256 (hex) of the DER of
// the first certificate in `pem`, and its subject's CN ("" when it has none).
// Error code "certificate" when pem holds no readable X.509 certificate.
struct CertificateId {
    std::string sha256;
    std::string cn;
};
Result<CertificateId> certificate_id(std::string_view pem);
// The same of a parsed certificate (a TLS peer's): the one reading of both.
Result<CertificateId> certificate_id(const x509_st* cert);
// Random identifier "<prefix>-<16 hex digits>".
std::string new_id(std::string_view prefix);

}  // namespace jit::authority
