// Adapters from the daemon's Publisher interface to the NSS snapshot writer
// (helperd/nss) and the sudoers drop-in (helperd/rights). Each is built only
// when its library is part of the build.
#pragma once

#include <jit/helperd/daemon.hpp>

namespace jit::helperd {

// Adds the NSS and sudoers publishers configured in `daemon.config()` (an
// empty sudo.dropin_path means no sudoers file). Errors: the NSS publisher
// cannot open its state.
Status add_standard_publishers(Daemon& daemon);

}  // namespace jit::helperd
