#include "commands.hpp"

namespace jit::ctl {

// Not yet implemented: owned by the work on this subcommand.
void register_audit(CLI::App&, ExitCode&) {}

}  // namespace jit::ctl
