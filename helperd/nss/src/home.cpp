// Home directories for JIT users, created at first session. The copy is
// built under a temporary root-owned 0700 name and renamed into place only
// when complete, so the user never sees (or races with) a half-made home and
// a failure leaves nothing behind.
#include <jit/nss_user_db.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

namespace jit::nss {

namespace {

constexpr int kMaxDepth = 32;

jit::Error sys_error(const std::string& what, const std::string& path) {
    return make_error("home", what + " " + path + ": " + std::strerror(errno));
}

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

jit::Status copy_file(int src_dir, int dst_dir, const char* name, mode_t mode, uid_t uid, gid_t gid,
                      const std::string& where) {
    Fd in(::openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
    if (in.fd < 0) return sys_error("cannot open", where);
    Fd out(::openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (out.fd < 0) return sys_error("cannot create", where);
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(in.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("cannot read", where);
        if (n == 0) break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::write(out.fd, buf + done, static_cast<std::size_t>(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return sys_error("cannot write", where);
            done += w;
        }
    }
    if (::fchown(out.fd, uid, gid) != 0 || ::fchmod(out.fd, mode & 0777) != 0)
        return sys_error("cannot set owner/mode of", where);
    return Ok{};
}

jit::Status copy_tree(int src_dir, int dst_dir, uid_t uid, gid_t gid, const std::string& where, int depth) {
    if (depth > kMaxDepth) return make_error("home", where + " is nested too deeply");
    int scan_fd = ::dup(src_dir);
    if (scan_fd < 0) return sys_error("cannot read", where);
    DIR* dir = ::fdopendir(scan_fd);
    if (dir == nullptr) {
        ::close(scan_fd);
        return sys_error("cannot read", where);
    }
    ::rewinddir(dir);
    jit::Status status = Ok{};
    while (status) {
        errno = 0;
        struct dirent* e = ::readdir(dir);
        if (e == nullptr) {
            if (errno != 0) status = sys_error("cannot read", where);
            break;
        }
        const char* name = e->d_name;
        if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
        const std::string path = where + "/" + name;
        struct stat st;
        if (::fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            status = sys_error("cannot stat", path);
        } else if (S_ISREG(st.st_mode)) {
            status = copy_file(src_dir, dst_dir, name, st.st_mode, uid, gid, path);
        } else if (S_ISDIR(st.st_mode)) {
            if (::mkdirat(dst_dir, name, 0700) != 0) {
                status = sys_error("cannot create", path);
                continue;
            }
            Fd sub_src(::openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            Fd sub_dst(::openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (sub_src.fd < 0 || sub_dst.fd < 0) {
                status = sys_error("cannot open", path);
                continue;
            }
            status = copy_tree(sub_src.fd, sub_dst.fd, uid, gid, path, depth + 1);
            if (status && (::fchown(sub_dst.fd, uid, gid) != 0 || ::fchmod(sub_dst.fd, st.st_mode & 0777) != 0))
                status = sys_error("cannot set owner/mode of", path);
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = ::readlinkat(src_dir, name, target, sizeof target - 1);
            if (n < 0) {
                status = sys_error("cannot read link", path);
                continue;
            }
            target[n] = '\0';
            if (::symlinkat(target, dst_dir, name) != 0 || ::fchownat(dst_dir, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
                status = sys_error("cannot create link", path);
        }
        // Devices, fifos and sockets in a skeleton are not copied.
    }
    ::closedir(dir);
    return status;
}

// Removes what we created under a temporary name (never follows links).
void remove_tree(int parent, const char* name, int depth) {
    if (depth <= kMaxDepth) {
        int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            DIR* dir = ::fdopendir(fd);
            if (dir == nullptr) {
                ::close(fd);
            } else {
                while (struct dirent* e = ::readdir(dir)) {
                    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
                    if (::unlinkat(::dirfd(dir), e->d_name, 0) != 0) remove_tree(::dirfd(dir), e->d_name, depth + 1);
                }
                ::closedir(dir);
            }
        }
    }
    ::unlinkat(parent, name, AT_REMOVEDIR);
}

}  // namespace

jit::Result<bool> create_home(const std::string& home, std::uint32_t uid, std::uint32_t gid,
                              const HomeOptions& options) {
    if (home.size() < 2 || home[0] != '/' || home.back() == '/' || home.find("/../") != std::string::npos ||
        home.find("/./") != std::string::npos || home.find("//") != std::string::npos)
        return make_error("home.path", "home '" + home + "' is not a clean absolute path");
    const auto slash = home.rfind('/');
    const std::string parent = slash == 0 ? "/" : home.substr(0, slash);
    const std::string base = home.substr(slash + 1);
    if (base == "." || base == "..") return make_error("home.path", "home '" + home + "' is not a clean absolute path");

    Fd pfd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (pfd.fd < 0) return sys_error("cannot open the parent of the home", parent);
    struct stat pst;
    if (::fstat(pfd.fd, &pst) != 0) return sys_error("cannot stat", parent);
    if ((pst.st_uid != 0 && pst.st_uid != ::geteuid()) || (pst.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return make_error("home.parent", parent + " must be owned by root and not group/world writable");

    struct stat hst;
    if (::fstatat(pfd.fd, base.c_str(), &hst, AT_SYMLINK_NOFOLLOW) == 0) return false;
    if (errno != ENOENT) return sys_error("cannot stat", home);

    std::random_device rd;
    char tmp[64];
    std::snprintf(tmp, sizeof tmp, ".jit-home-%08x", static_cast<unsigned>(rd()));
    if (::mkdirat(pfd.fd, tmp, 0700) != 0) return sys_error("cannot create a temporary home in", parent);
    jit::Status status = Ok{};
    {
        Fd hfd(::openat(pfd.fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (hfd.fd < 0) {
            status = sys_error("cannot open the temporary home in", parent);
        } else {
            Fd skel(::open(options.skel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (skel.fd >= 0)
                status = copy_tree(skel.fd, hfd.fd, uid, gid, options.skel, 0);
            else if (errno != ENOENT)
                status = sys_error("cannot open the skeleton", options.skel);
            if (status && (::fchown(hfd.fd, uid, gid) != 0 || ::fchmod(hfd.fd, options.mode & 07777) != 0))
                status = sys_error("cannot set owner/mode of", home);
        }
    }
    if (status && ::renameat2(pfd.fd, tmp, pfd.fd, base.c_str(), RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST) {
            remove_tree(pfd.fd, tmp, 0);
            return false;  // created concurrently by someone else
        }
        status = sys_error("cannot move the new home into place at", home);
    }
    if (!status) {
        remove_tree(pfd.fd, tmp, 0);
        return status.error();
    }
    ::fsync(pfd.fd);
    return true;
}

jit::Result<bool> create_home(const UserDb& publisher, const std::string& user, const HomeOptions& options) {
    auto uid = publisher.uid_of(user);
    if (!uid) return make_error("home.unknown_user", "no uid is known for JIT user " + user);
    return create_home(publisher.home_of(user), *uid, *uid, options);
}

}  // namespace jit::nss
