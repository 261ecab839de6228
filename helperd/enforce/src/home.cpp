// Home retention (docs/enforcement.md, "Home retention").
#include <jit/enforce/home.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
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

}  // namespace jit::enforce
