// Adapters from the daemon's Publisher interface to the JIT user database
// (helperd/nss) and the sudoers drop-in (helperd/rights). Each is built only
// when its library is part of the build.
#pragma once

#include <string>

#include <jit/helperd/daemon.hpp>

namespace jit::helperd {

// Adds the NSS and sudoers publishers configured in `daemon.config()` (an
// empty sudo.dropin_path means no sudoers file). Errors: the NSS publisher
// cannot open its state.
// `visudo`: the program that checks each new sudoers drop-in (tests give
// their own; "" or a missing program: not checked, as rights.hpp says).
Status add_standard_publishers(Daemon& daemon, const std::string& visudo = "/usr/sbin/visudo");

}  // namespace jit::helperd
