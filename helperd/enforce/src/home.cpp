// Home directories: creation at the first session and retention
// (docs/enforcement.md, "Home retention").
#include <jit/enforce/home.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>
#include <vector>

extern char** environ;

namespace jit::enforce {
namespace {

Error home_error(const std::string& path, const std::string& why) { return make_error("enforce.home", path + ": " + why); }

std::string parent_of(const std::string& p) {
    auto s = std::filesystem::path(p).lexically_normal().parent_path().string();
    return s.empty() ? "/" : s;
}

// The program's absolute path from PATH (resolved before fork: the child
// only makes async-signal-safe calls).
std::optional<std::string> find_program(const char* name) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path && *path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty() || dir[0] != '/') continue;
        const std::string p = dir + "/" + name;
        if (::access(p.c_str(), X_OK) == 0) return p;
    }
    return std::nullopt;
}

// fork + exec with a clean signal mask, stdin from /dev/null, stdout to
// `out_fd` (or /dev/null), nice 10, RLIMIT_FSIZE `max_bytes` (0: none), and
// SIGKILL when the daemon dies.
Result<pid_t> spawn(const std::string& what, const char* program, std::vector<std::string> args, int out_fd,
                    std::uint64_t max_bytes) {
    auto exe = find_program(program);
    if (!exe) return home_error(what, std::string("cannot run ") + program + ": not found in PATH");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0) return home_error(what, std::string("open /dev/null: ") + std::strerror(errno));
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int e = errno;
        ::close(null_fd);
        return home_error(what, std::string("fork: ") + std::strerror(e));
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        for (int sig : {SIGPIPE, SIGXFSZ, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaction(sig, &dfl, nullptr);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) _exit(126);
        setpriority(PRIO_PROCESS, 0, 10);
        if (max_bytes > 0) {
            rlimit rl{max_bytes, max_bytes};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        if (dup2(null_fd, 0) < 0 || dup2(out_fd >= 0 ? out_fd : null_fd, 1) < 0) _exit(126);
        execve(exe->c_str(), argv.data(), environ);
        _exit(127);
    }
    ::close(null_fd);
    return pid;
}

}  // namespace

Status check_created_home(const CreatedHome& home) {
    if (home.path.empty() || home.path[0] != '/' || home.path == "/")
        return home_error(home.path, "not an absolute home path");
    if (std::filesystem::path(home.path).lexically_normal().string() != home.path)
        return home_error(home.path, "not a normalized path");
    struct stat st {};
    if (::lstat(home.path.c_str(), &st) != 0) return home_error(home.path, std::string("lstat: ") + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) return home_error(home.path, "not a directory (or a symbolic link)");
    if (st.st_uid != home.uid)
        return home_error(home.path, "owned by uid " + std::to_string(st.st_uid) + ", not " + std::to_string(home.uid));
    const std::string parent = parent_of(home.path);
    struct stat ps {};
    if (::lstat(parent.c_str(), &ps) != 0 || !S_ISDIR(ps.st_mode))
        return home_error(parent, "parent is not a directory");
    if (ps.st_uid != 0 && ps.st_uid != ::geteuid()) return home_error(parent, "parent is not owned by root");
    if (ps.st_mode & (S_IWGRP | S_IWOTH)) return home_error(parent, "parent is writable by group or others");
    return Ok{};
}

std::string archive_path_for(const std::string& archive_dir, const std::string& user, UnixTime now) {
    return archive_dir + "/" + user + "-" + std::to_string(now) + ".tar.gz";
}

Result<pid_t> start_archive(const CreatedHome& home, const std::string& archive_dir, const std::string& out,
                            std::uint64_t max_bytes) {
    if (auto c = check_created_home(home); !c) return c.error();
    if (::mkdir(archive_dir.c_str(), 0700) != 0 && errno != EEXIST)
        return home_error(archive_dir, std::string("mkdir: ") + std::strerror(errno));
    struct stat ds {};
    if (::lstat(archive_dir.c_str(), &ds) != 0 || !S_ISDIR(ds.st_mode) || (ds.st_mode & 077))
        return home_error(archive_dir, "archive dir is not a 0700 directory");
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return home_error(out, std::string("create: ") + std::strerror(errno));
    const std::string base = std::filesystem::path(home.path).filename().string();
    auto pid = spawn(home.path, "tar",
                     {"tar", "--create", "--gzip", "--sparse", "--file=-", "--one-file-system", "--numeric-owner",
                      "--directory=" + parent_of(home.path), "--", base},
                     fd, max_bytes);
    ::close(fd);
    if (!pid) {
        ::unlink(out.c_str());
        return pid.error();
    }
    return pid;
}

Result<pid_t> start_delete(const CreatedHome& home) {
    if (auto c = check_created_home(home); !c) return c.error();
    return spawn(home.path, "rm", {"rm", "--recursive", "--force", "--one-file-system", "--", home.path}, -1, 0);
}

std::string job_failure(const char* what, int wait_status) {
    if (wait_status < 0) return std::string(what) + ": lost track of the child process";
    if (WIFEXITED(wait_status)) {
        if (WEXITSTATUS(wait_status) == 0) return "";
        return std::string(what) + " failed (exit status " + std::to_string(WEXITSTATUS(wait_status)) + ")";
    }
    if (WIFSIGNALED(wait_status)) {
        const int sig = WTERMSIG(wait_status);
        return std::string(what) + " was killed by signal " + std::to_string(sig) +
               (sig == SIGXFSZ ? " (the archive reached its size limit)" : "");
    }
    return std::string(what) + " failed (wait status " + std::to_string(wait_status) + ")";
}

// ---- creation ---------------------------------------------------------------

namespace {

constexpr int kMaxDepth = 32;

Error sys_error(const std::string& what, const std::string& path) {
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

Status copy_file(int src_dir, int dst_dir, const char* name, mode_t mode, uid_t uid, gid_t gid,
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

Status copy_tree(int src_dir, int dst_dir, uid_t uid, gid_t gid, const std::string& where, int depth) {
    if (depth > kMaxDepth) return make_error("home", where + " is nested too deeply");
    int scan_fd = ::dup(src_dir);
    if (scan_fd < 0) return sys_error("cannot read", where);
    DIR* dir = ::fdopendir(scan_fd);
    if (dir == nullptr) {
        ::close(scan_fd);
        return sys_error("cannot read", where);
    }
    ::rewinddir(dir);
    Status status = Ok{};
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

Result<bool> create_home(const std::string& home, std::uint32_t uid, std::uint32_t gid,
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
    Status status = Ok{};
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

}  // namespace jit::enforce
