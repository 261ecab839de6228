// jit-helperd's enforcement adapter: the daemon-side half of enforcement,
// beside the other adapters (publishers.cpp, app.cpp's upload transport).
//
// Layering (one way): enforce/ (jit_enforce: scheduler, Enforcer, session
// table, terminators, home retention) knows policy, audit and the Loop
// interface (jit_loop) only; it never sees the Daemon. This adapter knows
// both: it wires the Enforcer into the daemon (grants changes, session
// open/close, config reload, status) with absolute CLOCK_REALTIME timers on
// the daemon's loop, a monotonic timer for the kill grace, and a clock-change
// watch. Picks logind when it is there (see logind_available()), the /proc
// fallback otherwise, and says which on stderr and in `jitctl status`.
#pragma once

#include <jit/result.hpp>

namespace jit::helperd {

class Daemon;

// Must be called before Daemon::start() (it loads the session table and sees
// the first grants).
Status add_enforcement(Daemon& daemon);

}  // namespace jit::helperd
