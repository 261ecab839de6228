// The sudo rights of active grants, as a sudoers drop-in that jit-helperd
// publishes atomically (default /etc/sudoers.d/jitlogin).
//
// Rendering is pure. Each active grant with a `sudo` object becomes one rule
//   alice ALL=(root) NOTBEFORE=20261127130000Z NOTAFTER=20261127153000Z NOPASSWD: /usr/bin/apt-get, /usr/bin/systemctl restart nginx
// The NOTBEFORE/NOTAFTER date spec makes sudo itself stop honouring the rule
// at the window's end even if the daemon is not running to rewrite the file.
// Anything that sudoers could read as more than the literal command (globs,
// regular expressions, directories, escapes, aliases, negation) is refused and
// reported in `problems`; a refused command never widens a rule, it is left out.
#pragma once

#include <jit/grant.hpp>
#include <jit/paths.h>
#include <jit/result.hpp>

#include <string>
#include <vector>

namespace jit::rights {

inline constexpr const char* kDefaultSudoersPath = JIT_SUDOERS_PATH;

struct RenderedSudoers {
    std::string text;                   // complete file contents, header included
    std::size_t rules = 0;              // number of rule lines
    std::vector<std::string> problems;  // "grant g-1: command 3 '/usr/bin/*': ..." (left out)
};

// Grants active at `now` (not_before <= now < not_after) with a sudo object.
// Deterministic: rules are ordered by user, not_after, grant id.
RenderedSudoers render_sudoers(const std::vector<Grant>& grants, UnixTime now);

// Checks one command as the authority wrote it; "" when it can be rendered
// literally, otherwise why not. "ALL" is accepted.
std::string check_command(const std::string& command);

struct PublishOptions {
    // visudo used to validate the temp file before it replaces the live one;
    // skipped when this path does not exist (documented) or is "".
    std::string visudo = "/usr/sbin/visudo";
    // chown root:root (only possible as root; tests running unprivileged set false).
    bool chown_root = true;
};

struct PublishReport {
    bool changed = false;               // false: the file already had exactly this content
    std::size_t rules = 0;
    std::vector<std::string> problems;  // from rendering
};

// Renders and publishes with jit::durable::write_file_durably: temp file
// ".tmp.<name>.XXXXXX" in the same directory (sudo's #includedir ignores names
// containing '.'), 0440 root:root, fsync, `visudo -cqf`, rename over `path`,
// fsync of the directory. With no active sudo grants the
// file holds only the header (a stable, self-explaining file, no rights).
// On any error the live file is untouched and the temp file removed.
Result<PublishReport> publish_sudoers(const std::string& path, const std::vector<Grant>& grants, UnixTime now,
                                      const PublishOptions& options = {});

// The same publish in steps, for a caller that must not wait for visudo
// (jit-helperd's loop): stage_sudoers() renders and writes the temp file;
// start_visudo() starts `visudo -cqf` on it without waiting (the caller
// watches the pid); visudo_verdict() reads what it said; commit_sudoers() or
// discard_sudoers() ends the publish. publish_sudoers() above is these steps
// with a blocking wait, for tests and tools.
struct StagedSudoers {
    std::string path;      // the live file
    std::string tmp;       // the checked-to-be temp file; empty: nothing to change
    PublishReport report;  // changed = !tmp.empty()
};
Result<StagedSudoers> stage_sudoers(const std::string& path, const std::vector<Grant>& grants, UnixTime now,
                                    const PublishOptions& options = {});
// Whether options.visudo is to be run (set and executable).
bool uses_visudo(const PublishOptions& options);
// Starts `visudo -cqf file` (no shell, clean environment, stdin /dev/null,
// stdout and stderr to `output_path`, created 0600); returns its pid.
Result<pid_t> start_visudo(const std::string& visudo, const std::string& file, const std::string& output_path);
// "" when visudo accepted the file (exit 0), else why not, with its output
// (at most 4 KiB of it, one line). Removes `output_path`.
std::string visudo_verdict(const std::string& visudo, int wait_status, const std::string& output_path);
// Renames the temp file over the live one and fsyncs the directory; on error
// the temp file is removed and the live file is untouched.
Status commit_sudoers(const StagedSudoers& staged);
void discard_sudoers(const StagedSudoers& staged);
// Where start_visudo's output goes for `staged` (beside the temp file).
std::string visudo_output_path(const StagedSudoers& staged);

// Removes the drop-in (e.g. on uninstall); missing file is not an error.
Status remove_sudoers(const std::string& path);

}  // namespace jit::rights
