// Adapters from the daemon's Publisher interface to the JIT user database
// (helperd/nss) and the sudoers drop-in (helperd/rights).
#pragma once

#include <memory>
#include <string>

#include <jit/helperd/daemon.hpp>

namespace jit::nss {
class UserDb;
}

namespace jit::helperd {

// Adds the NSS and sudoers publishers configured in `daemon.config()` (an
// empty sudo.dropin_path means no sudoers file). Returns the JIT user database
// (for add_enforcement). Errors: the NSS publisher cannot open its state.
// `visudo`: the program that checks each new sudoers drop-in (tests give
// their own; "" or a missing program: not checked, as rights.hpp says).
Result<std::shared_ptr<nss::UserDb>> add_standard_publishers(Daemon& daemon, const std::string& visudo = "/usr/sbin/visudo");

}  // namespace jit::helperd
