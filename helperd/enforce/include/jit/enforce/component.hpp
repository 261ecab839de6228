// jit-helperd's enforcement component: wires the Enforcer into the daemon
// (grants changes, session_open/close, config reload, status) with absolute
// CLOCK_REALTIME timers on the daemon's loop, a monotonic timer for the kill
// grace, and a clock-change watch. Picks logind when it is there (see
// logind_available()), the /proc fallback otherwise, and says which on stderr
// and in `jitctl status`.
#pragma once

#include <jit/result.hpp>

namespace jit::helperd {
class Daemon;
}

namespace jit::enforce {

// Must be called before Daemon::start() (it loads the session table and sees
// the first grants).
Status add_enforcement(helperd::Daemon& daemon);

}  // namespace jit::enforce
