// Sudoers drop-in rendering and atomic publishing (see rights.hpp).
#include <jit/rights.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace jit::rights {
namespace {

const char* const kHeader =
    "# jitlogin: sudo rights of the grants active on this host.\n"
    "# Written by jit-helperd whenever grants change or a window opens or closes;\n"
    "# do not edit, changes are lost. Each rule carries NOTBEFORE/NOTAFTER so that\n"
    "# sudo stops honouring it at the window's end even if jit-helperd is not running.\n"
    "# NOPASSWD: JIT accounts have no password; the approved grant is the authentication.\n";

bool valid_name(const std::string& s) {
    // POSIX login name as PROTOCOL.md's Grant.user: ^[a-z_][a-z0-9_-]{0,31}$
    if (s.empty() || s.size() > 32) return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
    return true;
}

// Characters sudoers reads literally inside a command word. Everything else is
// refused: , : = \ ! ( ) are syntax, # starts a comment or a uid, " quotes,
// * ? [ ] are globs, ^ $ make a regular expression, whitespace/controls split
// or break lines.
bool literal_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '.' ||
           c == '_' || c == '-' || c == '+' || c == '@' || c == '%' || c == '~';
}

std::vector<std::string> split_words(const std::string& s) {
    std::vector<std::string> words;
    std::string cur;
    for (char c : s) {
        if (c == ' ') {
            if (!cur.empty()) words.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) words.push_back(std::move(cur));
    return words;
}

std::string normalized_command(const std::string& command) {
    if (command == "ALL") return "ALL";
    std::string out;
    for (const std::string& w : split_words(command)) {
        if (!out.empty()) out += ' ';
        out += w;
    }
    return out;
}

std::string generalized_time(UnixTime t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    if (!gmtime_r(&tt, &tm)) return {};
    char buf[32];
    if (std::strftime(buf, sizeof(buf), "%Y%m%d%H%M%SZ", &tm) == 0) return {};
    return buf;
}

std::string iso_time(UnixTime t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    if (!gmtime_r(&tt, &tm)) return std::to_string(t);
    char buf[32];
    if (std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return std::to_string(t);
    return buf;
}

bool valid_grant_id(const std::string& id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    return true;
}

std::string errno_text(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

bool write_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += std::size_t(n);
    }
    return true;
}

bool read_file(const std::string& path, std::string* out) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    out->clear();
    char buf[8192];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { close(fd); return false; }
        if (n == 0) break;
        out->append(buf, std::size_t(n));
        if (out->size() > (16u << 20)) { close(fd); return false; }
    }
    close(fd);
    return true;
}

}  // namespace

std::string check_command(const std::string& command) {
    if (command == "ALL") return {};
    std::vector<std::string> words = split_words(command);
    if (words.empty()) return "empty command";
    for (char c : command)
        if (c != ' ' && !literal_char(c))
            return std::string("contains a character sudoers would not read literally: ") +
                   (c >= 0x21 && c <= 0x7e ? std::string("'") + c + "'" : "byte " + std::to_string(unsigned(c & 0xff)));
    const std::string& path = words[0];
    if (path[0] != '/') return "is not an absolute path";
    if (path.back() == '/') return "names a directory (sudoers would allow every command in it)";
    for (std::size_t start = 1; start <= path.size();) {
        std::size_t end = path.find('/', start);
        if (end == std::string::npos) end = path.size();
        std::string comp = path.substr(start, end - start);
        if (comp.empty() || comp == "." || comp == "..") return "path is not canonical (empty, '.' or '..' component)";
        start = end + 1;
    }
    std::string base = path.substr(path.rfind('/') + 1);
    if (base == "sudoedit") return "sudoedit cannot be granted as a path";
    if (command.size() > 4096) return "longer than 4096 bytes";
    return {};
}

RenderedSudoers render_sudoers(const std::vector<Grant>& grants, UnixTime now) {
    RenderedSudoers out;
    out.text = kHeader;
    std::vector<const Grant*> active;
    for (const Grant& g : grants)
        if (g.sudo && g.active_at(now)) active.push_back(&g);
    std::sort(active.begin(), active.end(), [](const Grant* a, const Grant* b) {
        if (a->user != b->user) return a->user < b->user;
        if (a->not_after != b->not_after) return a->not_after < b->not_after;
        return a->id < b->id;
    });
    for (const Grant* g : active) {
        const std::string gid = valid_grant_id(g->id) ? g->id : std::string("(invalid id)");
        const std::string where = "grant " + gid;
        if (!valid_grant_id(g->id)) { out.problems.push_back(where + ": id is not [A-Za-z0-9._-]{1,64}; left out"); continue; }
        if (!valid_name(g->user)) { out.problems.push_back(where + ": user is not a valid login name; left out"); continue; }
        const std::string& run_as = g->sudo->run_as;
        if (run_as != "ALL" && !valid_name(run_as)) {
            out.problems.push_back(where + ": run_as is not a login name or ALL; left out");
            continue;
        }
        std::vector<std::string> cmds;
        for (std::size_t i = 0; i < g->sudo->commands.size(); ++i) {
            const std::string& c = g->sudo->commands[i];
            std::string why = check_command(c);
            if (!why.empty()) {
                out.problems.push_back(where + ": command " + std::to_string(i + 1) + " " + why + "; left out");
                continue;
            }
            std::string norm = normalized_command(c);
            if (std::find(cmds.begin(), cmds.end(), norm) == cmds.end()) cmds.push_back(std::move(norm));
        }
        if (cmds.empty()) {
            out.problems.push_back(where + ": no command can be granted; rule left out");
            continue;
        }
        // "ALL" alone: any other entries are redundant.
        if (std::find(cmds.begin(), cmds.end(), "ALL") != cmds.end()) cmds = {"ALL"};
        const std::string nb = generalized_time(g->not_before), na = generalized_time(g->not_after);
        if (nb.empty() || na.empty()) { out.problems.push_back(where + ": window out of range; left out"); continue; }
        out.text += "\n# grant " + g->id + " for " + g->user + ": " + iso_time(g->not_before) + " .. " +
                    iso_time(g->not_after) + "\n";
        out.text += g->user + " ALL=(" + run_as + ") NOTBEFORE=" + nb + " NOTAFTER=" + na + " NOPASSWD: ";
        for (std::size_t i = 0; i < cmds.size(); ++i) {
            if (i) out.text += ", ";
            out.text += cmds[i];
        }
        out.text += "\n";
        ++out.rules;
    }
    return out;
}

Result<StagedSudoers> stage_sudoers(const std::string& path, const std::vector<Grant>& grants, UnixTime now,
                                    const PublishOptions& options) {
    const std::size_t slash = path.rfind('/');
    if (path.empty() || path[0] != '/' || slash == std::string::npos || slash + 1 == path.size())
        return make_error("sudoers.path", "sudoers path '" + path + "' is not an absolute file path");
    const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    const std::string name = path.substr(slash + 1);
    if (name.find('.') != std::string::npos || name.back() == '~')
        return make_error("sudoers.path", "sudoers path '" + path +
                                              "': sudo's #includedir ignores names containing '.' or ending in '~'");
    StagedSudoers staged;
    staged.path = path;
    const std::string tmp = dir + "/." + name + ".tmp";

    RenderedSudoers r = render_sudoers(grants, now);
    staged.report.rules = r.rules;
    staged.report.problems = r.problems;

    std::string current;
    struct stat st {};
    if (read_file(path, &current) && current == r.text && lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        (st.st_mode & 07777) == 0440 && (!options.chown_root || (st.st_uid == 0 && st.st_gid == 0))) {
        return staged;  // unchanged
    }

    unlink(tmp.c_str());  // a leftover from a crash or an abandoned check
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
    if (fd < 0) return make_error("sudoers.write", errno_text("create", tmp));
    auto fail = [&](Error e) -> Result<StagedSudoers> {
        if (fd >= 0) close(fd);
        unlink(tmp.c_str());
        return e;
    };
    if (!write_all(fd, r.text)) return fail(make_error("sudoers.write", errno_text("write", tmp)));
    if (options.chown_root && fchown(fd, 0, 0) != 0) return fail(make_error("sudoers.write", errno_text("chown root:root", tmp)));
    if (fchmod(fd, 0440) != 0) return fail(make_error("sudoers.write", errno_text("chmod 0440", tmp)));
    if (fsync(fd) != 0) return fail(make_error("sudoers.write", errno_text("fsync", tmp)));
    if (close(fd) != 0) { fd = -1; return fail(make_error("sudoers.write", errno_text("close", tmp))); }
    staged.tmp = tmp;
    staged.report.changed = true;
    return staged;
}

bool uses_visudo(const PublishOptions& options) {
    return !options.visudo.empty() && access(options.visudo.c_str(), X_OK) == 0;
}

std::string visudo_output_path(const StagedSudoers& staged) {
    return staged.tmp.empty() ? std::string() : staged.tmp.substr(0, staged.tmp.size() - 4) + ".visudo";
}

Result<pid_t> start_visudo(const std::string& visudo, const std::string& file, const std::string& output_path) {
    unlink(output_path.c_str());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::string a0 = visudo, a1 = "-cqf", a2 = file;
    char* argv[] = {a0.data(), a1.data(), a2.data(), nullptr};
    char env0[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char env1[] = "LC_ALL=C";
    char* envp[] = {env0, env1, nullptr};
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, visudo.c_str(), &fa, nullptr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return make_error("sudoers.invalid", "cannot run " + visudo + ": " + std::strerror(rc));
    return pid;
}

std::string visudo_verdict(const std::string& visudo, int wait_status, const std::string& output_path) {
    std::string output;
    const bool read = read_file(output_path, &output);
    unlink(output_path.c_str());
    if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) return {};
    if (!read) output.clear();
    if (output.size() > 4096) output.resize(4096);
    while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
    std::replace(output.begin(), output.end(), '\n', ' ');
    const std::string how = WIFSIGNALED(wait_status) ? " (killed by signal " + std::to_string(WTERMSIG(wait_status)) + ")"
                                                     : "";
    return visudo + " rejected the rendered file" + how + ": " + (output.empty() ? "(no output)" : output);
}

Status commit_sudoers(const StagedSudoers& staged) {
    if (staged.tmp.empty()) return Ok{};
    if (rename(staged.tmp.c_str(), staged.path.c_str()) != 0) {
        const std::string why = errno_text("rename to", staged.path);
        unlink(staged.tmp.c_str());
        return make_error("sudoers.write", why);
    }
    const std::size_t slash = staged.path.rfind('/');
    const std::string dir = slash == 0 ? "/" : staged.path.substr(0, slash);
    int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return make_error("sudoers.write", errno_text("open directory", dir));
    const bool synced = fsync(dfd) == 0;
    const std::string why = synced ? std::string() : errno_text("fsync directory", dir);
    close(dfd);
    if (!synced) return make_error("sudoers.write", why);  // renamed, but not yet durable
    return Ok{};
}

void discard_sudoers(const StagedSudoers& staged) {
    if (staged.tmp.empty()) return;
    unlink(staged.tmp.c_str());
    unlink(visudo_output_path(staged).c_str());
}

Result<PublishReport> publish_sudoers(const std::string& path, const std::vector<Grant>& grants, UnixTime now,
                                      const PublishOptions& options) {
    auto staged = stage_sudoers(path, grants, now, options);
    if (!staged) return staged.error();
    if (staged->tmp.empty()) return staged->report;
    if (uses_visudo(options)) {
        const std::string out = visudo_output_path(*staged);
        auto pid = start_visudo(options.visudo, staged->tmp, out);
        if (!pid) {
            discard_sudoers(*staged);
            return pid.error();
        }
        int status = 0;
        while (waitpid(*pid, &status, 0) < 0)
            if (errno != EINTR) {
                const std::string why = "waitpid for visudo: " + std::string(std::strerror(errno));
                discard_sudoers(*staged);
                return make_error("sudoers.invalid", why);
            }
        const std::string why = visudo_verdict(options.visudo, status, out);
        if (!why.empty()) {
            discard_sudoers(*staged);
            return make_error("sudoers.invalid", why);
        }
    }
    if (auto st = commit_sudoers(*staged); !st) return st.error();
    return staged->report;
}

Status remove_sudoers(const std::string& path) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return make_error("sudoers.remove", errno_text("unlink", path));
    return Ok{};
}

}  // namespace jit::rights
