// Trusted authority keys: Ed25519 public keys in PEM, verified with OpenSSL EVP.
#include "strict_json.hpp"

#include <jit/bundle.hpp>
#include <jit/names.hpp>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace jit {

struct TrustedKeys::Key {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey{nullptr, &EVP_PKEY_free};
};

TrustedKeys::TrustedKeys() = default;
TrustedKeys::~TrustedKeys() = default;
TrustedKeys::TrustedKeys(TrustedKeys&&) noexcept = default;
TrustedKeys& TrustedKeys::operator=(TrustedKeys&&) noexcept = default;

Status TrustedKeys::add_pem(const std::string& key_id, std::string_view pem) {
    if (!is_valid_key_id(key_id))
        return make_error("trusted_keys", "key id " + detail::quoted(key_id) +
                                              " does not match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$");
    if (keys_.count(key_id)) return make_error("trusted_keys", "key \"" + key_id + "\" is already loaded");
    if (pem.size() > limits::kMaxKeyFileBytes)
        return make_error("trusted_keys", "key \"" + key_id + "\" is larger than a PEM public key can be");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                  &BIO_free);
    if (!bio) return make_error("trusted_keys", "out of memory reading key \"" + key_id + "\"");
    auto key = std::make_shared<Key>();
    key->pkey.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!key->pkey)
        return make_error("trusted_keys", "key \"" + key_id + "\" is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
    if (EVP_PKEY_get_base_id(key->pkey.get()) != EVP_PKEY_ED25519)
        return make_error("trusted_keys", "key \"" + key_id + "\" is not an Ed25519 key");
    keys_.emplace(key_id, std::move(key));
    return Ok{};
}

Status TrustedKeys::verify(const std::string& key_id, std::string_view data, std::string_view signature) const {
    const auto it = keys_.find(key_id);
    if (it == keys_.end())
        return make_error("key_id", "envelope is signed with key_id " + detail::quoted(key_id) +
                                        ", which is not one of the " + std::to_string(keys_.size()) + " trusted keys");
    if (signature.size() != limits::kEd25519SignatureBytes)
        return make_error("signature", "signature is " + std::to_string(signature.size()) +
                                           " bytes; an Ed25519 signature is exactly 64");
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, it->second->pkey.get()) != 1)
        return make_error("signature", "OpenSSL could not set up Ed25519 verification");
    const int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                    signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                                    data.size());
    if (rc != 1)
        return make_error("signature", "Ed25519 signature does not verify with trusted key \"" + key_id +
                                           "\": the payload was altered or signed with another key");
    return Ok{};
}

Result<TrustedKeys> TrustedKeys::load_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto dir_status = fs::status(dir, ec);
    if (ec || !fs::is_directory(dir_status))
        return make_error("trusted_keys", "trusted key directory " + dir + " is not a readable directory");
    // A trust anchor anyone else can replace is no anchor.
    if ((dir_status.permissions() & (fs::perms::group_write | fs::perms::others_write)) != fs::perms::none)
        return make_error("trusted_keys", "trusted key directory " + dir + " is writable by group or others");

    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path& p = it->path();
        if (p.extension() == ".pub") files.push_back(p);
    }
    if (ec) return make_error("trusted_keys", "cannot list " + dir + ": " + ec.message());
    std::sort(files.begin(), files.end());

    TrustedKeys keys;
    for (const fs::path& p : files) {
        const std::string key_id = p.stem().string();
        if (!is_valid_key_id(key_id))
            return make_error("trusted_keys", p.string() + ": file name is not <key_id>.pub with a valid key id");
        const auto st = fs::status(p, ec);
        if (ec || !fs::is_regular_file(st)) return make_error("trusted_keys", p.string() + " is not a regular file");
        if ((st.permissions() & (fs::perms::group_write | fs::perms::others_write)) != fs::perms::none)
            return make_error("trusted_keys", p.string() + " is writable by group or others");
        const auto size = fs::file_size(p, ec);
        if (ec || size > limits::kMaxKeyFileBytes)
            return make_error("trusted_keys", p.string() + " is unreadable or too large for a public key");
        std::ifstream in(p, std::ios::binary);
        std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in && !in.eof()) return make_error("trusted_keys", "cannot read " + p.string());
        if (auto added = keys.add_pem(key_id, pem); !added)
            return make_error("trusted_keys", p.string() + ": " + added.error().message);
    }
    if (keys.size() == 0)
        return make_error("trusted_keys", "no trusted keys (<key_id>.pub) in " + dir);
    return keys;
}

}  // namespace jit
