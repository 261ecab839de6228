// Looking a user up through NSS (getpwnam_r, getgrouplist, getgrgid_r) for the
// "who is managed" rules of jit::is_managed, shared by jit-helperd and the
// daemon-less fallback of pam_jit.so. Kept out of jit_policy (pure logic, no
// I/O) in its own library, jit_local_account, that needs nothing but libc.
//
// Every buffer grows on ERANGE up to a bound (a passwd or group entry of any
// realistic length works; a bigger one is an error, never a loop), and an
// answer that could not be read completely is reported as lookup_failed, never
// as "no such user" or "in no group". Throws only std::bad_alloc.
#pragma once

#include <jit/decision.hpp>

#include <optional>
#include <string>
#include <sys/types.h>

namespace jit {

// The largest buffer a single passwd/group entry may need (16 MiB: a group of
// hundreds of thousands of members); beyond it the lookup fails.
inline constexpr std::size_t kMaxNssEntryBuffer = 16u * 1024u * 1024u;

// uid and primary + supplementary group names of `user`; uid unset when no
// NSS source knows the user; lookup_failed when NSS answered with an error or
// an entry could not be read (too big, a group that vanished is skipped).
LocalAccount lookup_local_account(const std::string& user);

// The user name of `uid`, nullopt when unknown or on error.
std::optional<std::string> user_name_of(uid_t uid);

// The gid of group `name`; nullopt when unknown, and also on an NSS error,
// with *failed set then (so "no such group" and "could not read it" are told
// apart).
std::optional<gid_t> gid_of_group(const std::string& name, bool* failed = nullptr);

}  // namespace jit
