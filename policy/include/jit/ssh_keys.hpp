// What jitlogin hands to sshd: the grant's OpenSSH public keys as
// authorized_keys lines (AuthorizedKeysCommand) and the principals a
// certificate may name (AuthorizedPrincipalsCommand), both only while a login
// window is open, each line limited to its window by expiry-time="…".
// Pure: no I/O, no daemon state (docs/ssh.md).
#pragma once

#include <jit/grant.hpp>
#include <jit/result.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace jit {

// "<type> <base64 blob> [comment]" with no options prefix, no control
// characters, a known key type and a blob that decodes and names that type.
// "" when the line is fine, else what is wrong ("has key type …").
std::string check_ssh_key_line(std::string_view line);

// The restrictions a host puts on every grant key (helperd.conf ssh.key_options):
// a comma-separated list of authorized_keys options from an allow-list
// (restrict, no-*-forwarding, no-pty, no-user-rc, pty, from="…",
// permitopen="…", permitlisten="…", …). Options that would change what the
// key does beyond restricting it (command=, environment=, principals=,
// cert-authority, tunnel=) and expiry-time (jitlogin sets it) are refused.
// Returns the canonical text (no spaces) or an error (code "ssh.key_options")
// naming the offending option.
Result<std::string> parse_ssh_key_options(std::string_view text);

// 20261206153000Z: sshd's expiry-time format, UTC.
std::string ssh_expiry_time(UnixTime t);

// Keys and principals for one user at `now`.
struct SshAuthorization {
    std::vector<std::string> lines;    // ready for sshd, one per entry, no newline
    std::vector<std::string> dropped;  // one reason per key line left out ("grant g-1 key 2: has …")
};

// The keys of `user`'s login grants active at `now` (not_before <= now <
// not_after, login: true), each as
//   expiry-time="<not_after, UTC>"[,<options>] <type> <blob> [comment]
// A key in several active grants appears once, with the latest not_after.
// Lines that fail check_ssh_key_line are dropped with their reason.
// `options` must come from parse_ssh_key_options.
SshAuthorization authorized_keys_for(const std::vector<Grant>& grants, std::string_view user, UnixTime now,
                                     std::string_view options);

// The principals a certificate must name to log in as `user` (the user's own
// name) while one of its login grants is active at `now`:
//   expiry-time="<latest not_after>"[,<options>] <user>
// Empty outside every login window.
SshAuthorization authorized_principals_for(const std::vector<Grant>& grants, std::string_view user, UnixTime now,
                                           std::string_view options);

}  // namespace jit
