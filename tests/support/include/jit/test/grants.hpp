// Grants for tests: the fields every test sets, the rest left empty (no uid,
// no sudo, no groups, no keys); tests change what they need afterwards.
#pragma once

#include <jit/grant.hpp>

#include <string>

namespace jit::test {

// A grant `id` for `user` with the window [nb, na), login as given,
// reason "test", requested by "tester".
Grant grant(std::string id, std::string user, UnixTime nb, UnixTime na, bool login = true);

// The same, without login and with sudo as `run_as` for ALL commands.
Grant sudo_grant(std::string id, std::string user, UnixTime nb, UnixTime na, std::string run_as = "root");

}  // namespace jit::test
