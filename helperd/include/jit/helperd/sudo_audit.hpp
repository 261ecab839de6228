// What jitlogin's sudo audit plugin reports (op=sudo_audit, docs/sudo.md):
// parsed once, at the socket edge, into a typed record with limits.
#pragma once

#include <jit/ipc.hpp>
#include <jit/result.hpp>

#include <string>
#include <vector>

namespace jit::helperd {

struct SudoAuditRecord {
    enum class Kind { Accept, Reject, Error } kind = Kind::Reject;
    std::string user;     // who ran sudo (POSIX name)
    std::string run_as;   // target user: a POSIX name or "#<uid>"
    std::string cwd;      // "" when sudo did not say
    std::string tty;      // "" without a terminal
    std::string message;  // sudo's audit message (reject/error)
    std::vector<std::string> argv;  // the command and its arguments, argv[0] the command path
    bool truncated = false;         // the plugin left arguments out (frame limit)
};

inline constexpr std::size_t kSudoMaxArgs = 4096;
inline constexpr std::size_t kSudoMaxCommandBytes = 60 * 1024;

// Keys: event (accept|reject|error), user, run_as, cwd?, tty?, message?,
// argc, arg.0 .. arg.<argc-1>, truncated? (yes|no). Errors (code
// "bad_request") name the key and what is wrong with it.
Result<SudoAuditRecord> parse_sudo_audit(const ipc::Message& message);

// The command line as a shell would read it back: words of safe characters
// as they are, others in $'…' quoting (control characters as \xNN), so
// nothing is lost and one record is one line. "…(truncated)" appended when
// the plugin left arguments out.
std::string render_command_line(const std::vector<std::string>& argv, bool truncated);

}  // namespace jit::helperd
