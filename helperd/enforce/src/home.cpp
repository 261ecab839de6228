// Home retention (docs/enforcement.md, "Home retention").
#include <jit/enforce/home.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

extern char** environ;

namespace jit::enforce {
namespace {

Error home_error(const std::string& path, const std::string& why) { return make_error("enforce.home", path + ": " + why); }

std::string parent_of(const std::string& p) {
    auto s = std::filesystem::path(p).lexically_normal().parent_path().string();
    return s.empty() ? "/" : s;
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

Result<std::string> archive_home(const std::string& user, const CreatedHome& home, const std::string& archive_dir,
                                 UnixTime now) {
    if (auto c = check_created_home(home); !c) return c.error();
    if (::mkdir(archive_dir.c_str(), 0700) != 0 && errno != EEXIST)
        return home_error(archive_dir, std::string("mkdir: ") + std::strerror(errno));
    struct stat ds {};
    if (::lstat(archive_dir.c_str(), &ds) != 0 || !S_ISDIR(ds.st_mode) || (ds.st_mode & 077))
        return home_error(archive_dir, "archive dir is not a 0700 directory");
    const std::string out = archive_dir + "/" + user + "-" + std::to_string(now) + ".tar.gz";
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return home_error(out, std::string("create: ") + std::strerror(errno));

    const std::string parent = parent_of(home.path);
    const std::string base = std::filesystem::path(home.path).filename().string();
    std::vector<std::string> args{"tar",     "--create",         "--gzip",  "--file=-", "--one-file-system",
                                  "--numeric-owner", "--directory=" + parent, "--",      base};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    pid_t pid = 0;
    int r = posix_spawnp(&pid, "tar", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fd);
    if (r != 0) {
        ::unlink(out.c_str());
        return home_error(out, std::string("cannot run tar: ") + std::strerror(r));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ::unlink(out.c_str());
        return home_error(out, "tar failed (status " + std::to_string(status) + ")");
    }
    if (auto d = delete_home(home); !d) return d.error();
    return out;
}

Status delete_home(const CreatedHome& home) {
    if (auto c = check_created_home(home); !c) return c.error();
    std::error_code ec;
    std::filesystem::remove_all(home.path, ec);  // removes links, never follows them
    if (ec) return home_error(home.path, "remove: " + ec.message());
    return Ok{};
}

}  // namespace jit::enforce
