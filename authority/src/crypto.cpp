#include <jit/authority/crypto.hpp>
#include <jit/base64.hpp>
#include <jit/json_text.hpp>

#include <json/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace jit::authority {
namespace {

std::string hex(const unsigned char* p, std::size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

std::string random_hex(std::size_t bytes) {
    unsigned char buf[64];
    if (bytes > sizeof buf || RAND_bytes(buf, int(bytes)) != 1) throw std::runtime_error("RAND_bytes failed");
    return hex(buf, bytes);
}

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

struct Signer::Key {
    EVP_PKEY* pkey = nullptr;
    ~Key() { EVP_PKEY_free(pkey); }
};

Signer::Signer(std::unique_ptr<Key> key, std::string key_id) : key_(std::move(key)), key_id_(std::move(key_id)) {}
Signer::Signer(Signer&&) noexcept = default;
Signer& Signer::operator=(Signer&&) noexcept = default;
Signer::~Signer() = default;

Result<Signer> Signer::load(const std::string& path, std::string key_id) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return make_error("key", "cannot open signing key " + path + ": " + std::strerror(errno));
    struct stat st{};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return make_error("key", "signing key " + path + " is not a regular file");
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        return make_error("key", "signing key " + path + " is readable by group or others (chmod 600 it)");
    }
    std::unique_ptr<std::FILE, FileCloser> f(fdopen(fd, "r"));
    if (!f) {
        close(fd);
        return make_error("key", "cannot read signing key " + path);
    }
    auto key = std::make_unique<Key>();
    key->pkey = PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr);
    if (key->pkey == nullptr) return make_error("key", "signing key " + path + " is not a PEM private key");
    if (EVP_PKEY_get_id(key->pkey) != EVP_PKEY_ED25519)
        return make_error("key", "signing key " + path + " is not an Ed25519 key");
    return Signer(std::move(key), std::move(key_id));
}

Status Signer::generate(const std::string& private_path, const std::string& public_path) {
    EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (pkey == nullptr) return make_error("key", "Ed25519 key generation failed");
    Key key;
    key.pkey = pkey;
    int fd = open(private_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return make_error("key", "cannot create " + private_path + ": " + std::strerror(errno));
    std::unique_ptr<std::FILE, FileCloser> priv(fdopen(fd, "w"));
    if (!priv || PEM_write_PrivateKey(priv.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
        std::fflush(priv.get()) != 0 || fsync(fd) != 0)
        return make_error("key", "cannot write " + private_path);
    std::unique_ptr<std::FILE, FileCloser> pub(std::fopen(public_path.c_str(), "w"));
    if (!pub || PEM_write_PUBKEY(pub.get(), pkey) != 1 || std::fflush(pub.get()) != 0)
        return make_error("key", "cannot write " + public_path);
    return Ok{};
}

std::string Signer::sign(std::string_view data) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::string sig(64, '\0');
    std::size_t len = sig.size();
    bool ok = ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_->pkey) == 1 &&
              EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok || len != 64) throw std::runtime_error("Ed25519 signing failed");
    return sig;
}

std::string Signer::envelope(std::string_view payload) const {
    Json::Value env(Json::objectValue);
    env["key_id"] = key_id_;
    env["payload"] = base64_encode(payload);
    env["signature"] = base64_encode(sign(payload));
    return compact_json(env);
}

std::string Signer::public_pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    std::string out;
    if (bio != nullptr && PEM_write_bio_PUBKEY(bio, key_->pkey) == 1) {
        char* p = nullptr;
        long n = BIO_get_mem_data(bio, &p);
        out.assign(p, std::size_t(n));
    }
    BIO_free(bio);
    return out;
}

std::string new_token() { return "jit_" + random_hex(32); }

std::string token_hash(std::string_view token) {
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_Digest(token.data(), token.size(), md, &n, EVP_sha256(), nullptr) != 1 || n != 32)
        throw std::runtime_error("SHA-256 failed");
    return hex(md, n);
}

Result<CertificateId> certificate_id(std::string_view pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
    X509* cert = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    if (cert == nullptr) return make_error("certificate", "not a PEM X.509 certificate (-----BEGIN CERTIFICATE-----)");
    auto id = certificate_id(cert);
    X509_free(cert);
    return id;
}

Result<CertificateId> certificate_id(const X509* cert) {
    unsigned char* der = nullptr;
    const int n = i2d_X509(cert, &der);
    if (n <= 0) return make_error("certificate", "the certificate cannot be encoded as DER");
    CertificateId id;
    id.sha256 = token_hash(std::string_view(reinterpret_cast<const char*>(der), std::size_t(n)));
    OPENSSL_free(der);
    char cn[256] = {};
    const int len = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    if (len > 0 && std::size_t(len) < sizeof cn) id.cn.assign(cn, std::size_t(len));
    return id;
}

std::string new_id(std::string_view prefix) { return std::string(prefix) + "-" + random_hex(8); }

}  // namespace jit::authority
