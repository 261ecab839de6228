#include <jit/durable_file.hpp>

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace jit::durable {
namespace {

constexpr std::string_view kTempPrefix = ".tmp.";

Error io_error(const std::string& what, const std::string& path, int err) {
    return make_error("io", "cannot " + what + " " + path + ": " + std::strerror(err));
}

std::string dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string temp_prefix_for(const std::string& path) { return std::string(kTempPrefix) + base_of(path) + "."; }

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    // close(2) once; its error is the caller's to report.
    int close() {
        int fd = fd_;
        fd_ = -1;
        return ::close(fd);
    }

private:
    int fd_;
};

}  // namespace

Status sync_directory(const std::string& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) {
        const int err = errno;
        return io_error("open directory", dir, err);
    }
    if (::fsync(fd.get()) != 0) {
        const int err = errno;
        return io_error("fsync directory", dir, err);
    }
    return Ok{};
}

Result<std::string> stage_file_durably(const std::string& path, std::string_view bytes, const WriteOptions& options) {
    const std::string dir = dir_of(path);
    std::string tmp = dir + "/" + temp_prefix_for(path) + "XXXXXX";
    Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (fd.get() < 0) {
        const int err = errno;
        return io_error("create a temporary file in", dir + " for " + path, err);
    }
    auto fail = [&](const char* what) -> Result<std::string> {
        const int err = errno;
        Error e = io_error(what, tmp, err);
        ::unlink(tmp.c_str());
        return e;
    };
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("write");
        if (n == 0) {
            errno = EIO;
            return fail("write");
        }
        done += static_cast<std::size_t>(n);
    }
    if (options.owner_root && ::fchown(fd.get(), 0, 0) != 0) return fail("chown root:root");
    if (::fchmod(fd.get(), options.mode) != 0) return fail("chmod");
    if (options.sync && ::fsync(fd.get()) != 0) return fail("fsync");
    if (fd.close() != 0) return fail("close");
    return tmp;
}

Status commit_staged(const std::string& tmp, const std::string& path, const WriteOptions& options) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        Error e = io_error("rename " + tmp + " over", path, err);
        ::unlink(tmp.c_str());
        return e;
    }
    if (!options.sync) return Ok{};
    return sync_directory(dir_of(path));
}

void discard_staged(const std::string& tmp) { ::unlink(tmp.c_str()); }

Status write_file_durably(const std::string& path, std::string_view bytes, const WriteOptions& options) {
    auto tmp = stage_file_durably(path, bytes, options);
    if (!tmp) return tmp.error();
    if (options.check) {
        if (auto st = options.check(*tmp); !st) {
            discard_staged(*tmp);
            return st;
        }
    }
    return commit_staged(*tmp, path, options);
}

bool is_temp_file_name(std::string_view name) { return name.starts_with(kTempPrefix); }

void remove_temp_files(const std::string& path) {
    const std::string prefix = temp_prefix_for(path);
    DIR* d = ::opendir(dir_of(path).c_str());
    if (!d) return;
    while (dirent* e = ::readdir(d)) {
        std::string_view name(e->d_name);
        // prefix + the six characters mkostemp filled in
        if (name.size() == prefix.size() + 6 && name.starts_with(prefix)) ::unlinkat(::dirfd(d), e->d_name, 0);
    }
    ::closedir(d);
}

}  // namespace jit::durable
