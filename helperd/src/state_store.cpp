#include <jit/helperd/state_store.hpp>

#include <jit/durable_file.hpp>

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace jit::helperd {
namespace {

constexpr std::string_view kMagic = "jit-helperd-state 1\n";
constexpr std::size_t kMaxStateBytes = limits::kMaxEnvelopeBytes + 4096;

Error sys_error(const std::string& what) { return make_error("state", what + ": " + std::strerror(errno)); }

std::optional<std::int64_t> to_int(std::string_view s) {
    if (s.empty() || s.size() > 18) return std::nullopt;
    std::int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

}  // namespace

StateStore::StateStore(std::string dir) : dir_(std::move(dir)) {}

Status StateStore::prepare() const {
    if (mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("mkdir " + dir_);
    struct stat st{};
    if (lstat(dir_.c_str(), &st) != 0) return sys_error("stat " + dir_);
    if (!S_ISDIR(st.st_mode)) return make_error("state", dir_ + ": not a directory");
    // 0700, or 0711 when the admin lets unprivileged processes reach the
    // world-readable NSS snapshot inside (traverse only, never list or write).
    const mode_t mode = st.st_mode & 07777;
    const mode_t wanted = (mode & 001) ? 0711 : 0700;
    if (mode != wanted && chmod(dir_.c_str(), wanted) != 0) return sys_error("chmod " + dir_);
    DIR* d = opendir(dir_.c_str());
    if (!d) return sys_error("opendir " + dir_);
    // Temporary files a crash left (grants.state, requests, enforce.json, NSS state).
    while (dirent* e = readdir(d)) {
        if (durable::is_temp_file_name(e->d_name)) unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
    return Ok{};
}

Status StateStore::save(const StoredState& state) const {
    std::string data(kMagic);
    data += "revision=" + std::to_string(state.revision) + "\n";
    data += "accepted_at=" + std::to_string(state.accepted_at) + "\n";
    data += "length=" + std::to_string(state.envelope.size()) + "\n\n";
    data += state.envelope;
    return durable::write_file_durably(file(), data);
}

Result<std::optional<std::string>> read_state_file(const std::string& path, std::size_t max_bytes) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return std::optional<std::string>{};
        return sys_error("open " + path);
    }
    struct stat st{};
    if (fstat(fd, &st) != 0) {
        Error e = sys_error("stat " + path);
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode) || std::size_t(st.st_size) > max_bytes) {
        close(fd);
        return make_error("state", path + ": not a regular file or too large");
    }
    if (st.st_mode & 022) {
        close(fd);
        return make_error("state", path + ": writable by group or others; refusing it");
    }
    std::string data;
    data.resize(std::size_t(st.st_size));
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = read(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            Error e = sys_error("read " + path);
            close(fd);
            return e;
        }
        if (n == 0) break;
        off += std::size_t(n);
    }
    close(fd);
    data.resize(off);
    return std::optional<std::string>(std::move(data));
}

Result<std::optional<StoredState>> StateStore::load() const {
    const std::string path = file();
    auto read = read_state_file(path, kMaxStateBytes);
    if (!read) return read.error();
    if (!read->has_value()) return std::optional<StoredState>{};
    const std::string& data = **read;
    auto bad = [&](const std::string& why) { return make_error("state", path + ": " + why); };
    std::string_view v(data);
    if (v.substr(0, kMagic.size()) != kMagic) return bad("not a jit-helperd state file");
    v.remove_prefix(kMagic.size());
    StoredState out;
    std::optional<std::int64_t> length;
    for (;;) {
        auto nl = v.find('\n');
        if (nl == std::string_view::npos) return bad("truncated header");
        std::string_view line = v.substr(0, nl);
        v.remove_prefix(nl + 1);
        if (line.empty()) break;
        auto eq = line.find('=');
        if (eq == std::string_view::npos) return bad("malformed header line");
        auto key = line.substr(0, eq);
        auto val = to_int(line.substr(eq + 1));
        if (!val) return bad("malformed value of '" + std::string(key) + "'");
        if (key == "revision") out.revision = *val;
        else if (key == "accepted_at") out.accepted_at = *val;
        else if (key == "length") length = *val;
    }
    if (!length || std::size_t(*length) != v.size()) return bad("length does not match (torn or edited file)");
    if (out.revision < 1) return bad("missing revision");
    out.envelope = std::string(v);
    return std::optional<StoredState>(std::move(out));
}

Result<AcceptedBundle> reverify_stored(const StoredState& state, const TrustedKeys& keys, const std::string& host_id) {
    auto env = parse_envelope(state.envelope);
    if (!env) return env.error();
    if (!keys.contains(env->key_id))
        return make_error("key_id", "stored bundle is signed with key '" + env->key_id + "' which is not trusted");
    if (auto st = keys.verify(env->key_id, env->payload, env->signature); !st) return st.error();
    auto payload = parse_payload(env->payload);
    if (!payload) return payload.error();
    if (payload->type != kGrantsType) return make_error("type", "stored bundle has type '" + payload->type + "'");
    if (payload->host_id != host_id)
        return make_error("host_id", "stored bundle is for host '" + payload->host_id + "', this host is '" + host_id + "'");
    if (payload->revision != state.revision)
        return make_error("state", "stored revision " + std::to_string(state.revision) + " does not match the payload's " +
                                       std::to_string(payload->revision));
    AcceptedBundle b{std::move(*env), std::move(*payload)};
    return b;
}

}  // namespace jit::helperd
