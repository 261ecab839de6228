#include "atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace jit::nss {

namespace {

jit::Error io_error(const std::string& what, const std::string& path, int err) {
    return make_error("io", what + " " + path + ": " + std::strerror(err));
}

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }

private:
    int fd_;
};

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

}  // namespace

jit::Status write_file_atomically(const std::string& path, std::string_view bytes, mode_t mode) {
    const std::string dir = dir_of(path);
    std::string tmp = dir + "/." + base_of(path) + ".XXXXXX";
    Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (fd.get() < 0) return io_error("cannot create a temporary file for", path, errno);
    auto fail = [&](const std::string& what) {
        int err = errno;
        ::unlink(tmp.c_str());
        return io_error(what, tmp, err);
    };
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail("cannot write");
        done += static_cast<std::size_t>(n);
    }
    if (::geteuid() == 0 && ::fchown(fd.get(), 0, 0) != 0) return fail("cannot chown");
    if (::fchmod(fd.get(), mode) != 0) return fail("cannot chmod");
    if (::fsync(fd.get()) != 0) return fail("cannot fsync");
    if (::close(fd.release()) != 0) return fail("cannot close");
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename over " + path + ":");
    Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd.get() < 0 || ::fsync(dfd.get()) != 0) return io_error("cannot fsync directory", dir, errno);
    return Ok{};
}

jit::Result<std::string> read_file(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (fd.get() < 0) {
        int err = errno;
        if (err == ENOENT) return make_error("io.missing", path + " does not exist");
        return io_error("cannot open", path, err);
    }
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return io_error("cannot read", path, errno);
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

}  // namespace jit::nss
