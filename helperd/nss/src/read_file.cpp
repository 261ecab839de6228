#include "read_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace jit::nss {

namespace {

jit::Error io_error(const std::string& what, const std::string& path, int err) {
    return make_error("io", what + " " + path + ": " + std::strerror(err));
}

}  // namespace

jit::Result<std::string> read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT) return make_error("io.missing", path + " does not exist");
        return io_error("cannot open", path, err);
    }
    std::string out;
    char buf[65536];
    int err = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) err = errno;
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (err != 0) return io_error("cannot read", path, err);
    return out;
}

}  // namespace jit::nss
