// jit-helperd's enforcement adapter: the daemon-side half of enforcement,
// beside the other adapters (publishers.cpp, app.cpp's upload transport).
//
// Layering (one way): enforce/ (jit_enforce: scheduler, Enforcer, session
// table, terminators, home retention) knows policy, audit and the Loop
// interface (jit_loop) only; it never sees the Daemon. This adapter knows
// both: it wires the Enforcer into the daemon (grants changes, session
// open/close, config reload, status), makes the daemon's one SessionTable
// the Enforcer's table (op=session_open registers a session with the grant
// its decision named), makes a user's home at the first session through the
// Enforcer (which records it for retention), and runs the Enforcer on
// absolute CLOCK_REALTIME timers on
// the daemon's loop, a monotonic timer for the kill grace, and a clock-change
// watch. Picks logind when it is there (see logind_available()), the /proc
// fallback otherwise, and says which on stderr and in `jitctl status`.
#pragma once

#include <jit/result.hpp>

#include <memory>

namespace jit::nss {
class UserDb;
}

namespace jit::helperd {

class Daemon;

// Must be called before Daemon::start() (it loads the session table and sees
// the first grants). `homes`: the NSS publisher, whose uid and home path a
// user's home is made with at the first session (when nss.create_home).
Status add_enforcement(Daemon& daemon, std::shared_ptr<const nss::UserDb> homes);

}  // namespace jit::helperd
