// Test helpers: a fresh Ed25519 key pair per test, payloads built as JSON and
// signed with OpenSSL, envelopes assembled the way an authority would.
#pragma once

#include <jit/base64.hpp>
#include <jit/bundle.hpp>
#include <jit/json_text.hpp>

#include <json/value.h>
#include <json/writer.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

namespace jit::test {

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline std::string vector_path(const std::string& name) { return std::string(JIT_TEST_VECTORS) + "/" + name; }

class Signer {
public:
    explicit Signer(const char* algorithm = "ED25519") : key_(EVP_PKEY_Q_keygen(nullptr, nullptr, algorithm), &EVP_PKEY_free) {
        if (!key_) throw std::runtime_error("key generation failed");
    }

    std::string public_pem() const {
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
        if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) throw std::runtime_error("PEM export failed");
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio.get(), &data);
        return std::string(data, static_cast<std::size_t>(n));
    }

    std::string sign(const std::string& data) const {
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
        std::size_t len = 64;
        std::string sig(len, '\0');
        if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
            EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
            throw std::runtime_error("signing failed");
        sig.resize(len);
        return sig;
    }

    std::string envelope(const std::string& payload, const std::string& key_id = "test-key") const {
        return envelope_raw(key_id, base64_encode(payload), base64_encode(sign(payload)));
    }

    static std::string envelope_raw(const std::string& key_id, const std::string& payload_b64,
                                    const std::string& sig_b64) {
        return "{\"key_id\":\"" + key_id + "\",\"payload\":\"" + payload_b64 + "\",\"signature\":\"" + sig_b64 +
               "\"}";
    }

    TrustedKeys trusted(const std::string& key_id = "test-key") const {
        TrustedKeys keys;
        if (!keys.add_pem(key_id, public_pem())) throw std::runtime_error("add_pem failed");
        return keys;
    }

private:
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_;
};

// A well-formed payload (like the shared vector) to mutate in each test.
inline constexpr std::int64_t kIssued = 1764250000;

inline Json::Value good_grant(const std::string& id = "g-1", const std::string& user = "alice") {
    Json::Value g(Json::objectValue);
    g["id"] = id;
    g["user"] = user;
    g["login"] = true;
    g["not_before"] = static_cast<Json::Int64>(kIssued);
    g["not_after"] = static_cast<Json::Int64>(kIssued + 3600);
    g["reason"] = "investigate INC-1";
    g["requested_by"] = user;
    g["approved_by"] = Json::Value(Json::arrayValue);
    g["approved_by"].append("bob");
    return g;
}

inline Json::Value good_payload(std::int64_t revision = 42) {
    Json::Value p(Json::objectValue);
    p["type"] = "jit.grants.v1";
    p["host_id"] = "web-01";
    p["revision"] = static_cast<Json::Int64>(revision);
    p["issued_at"] = static_cast<Json::Int64>(kIssued);
    p["expires_at"] = static_cast<Json::Int64>(kIssued + 900);
    p["grants"] = Json::Value(Json::arrayValue);
    p["grants"].append(good_grant());
    return p;
}

inline std::string to_bytes(const Json::Value& v) { return compact_json(v); }

}  // namespace jit::test
