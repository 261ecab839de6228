// Syntax of the identifiers in the authority protocol. The policy parser uses
// these; other components use them to reject names before any lookup.
#pragma once

#include <string>
#include <string_view>

namespace jit {

// ^[a-z_][a-z0-9_-]{0,31}$ : POSIX login names (user, sudo run_as) and, by
// our stricter reading, group names.
bool is_posix_name(std::string_view s);
// ^[A-Za-z0-9._-]{1,64}$
bool is_valid_grant_id(std::string_view s);
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$
bool is_valid_host_id(std::string_view s);
// Same syntax as a host id: it names the file <key_id>.pub, so no leading dot
// and no slash.
bool is_valid_key_id(std::string_view s);

// A Grant's sudo command as the payload parser accepts it ("ALL", or an
// absolute path optionally followed by single-spaced arguments with none of
// the characters sudoers interprets): "" when fine, else what is wrong
// ("contains ','..."). Host limits (helperd.conf) use the same rule.
std::string sudo_command_problem(const std::string& command);

}  // namespace jit
