// Each jitctl subcommand lives in its own file and registers itself on the
// CLI11 app here; main.cpp only wires them together.
#pragma once

#include <CLI/CLI.hpp>

namespace jit::ctl {

// A subcommand's run() sets the process exit code through this.
struct ExitCode {
    int value = 0;
};

void register_bundle(CLI::App& app, ExitCode& exit_code);  // cmd_bundle.cpp
void register_daemon_commands(CLI::App& app, ExitCode& exit_code);  // cmd_status.cpp: status, grants, check, check-config, explain, request
void register_audit(CLI::App& app, ExitCode& exit_code);   // cmd_audit.cpp

}  // namespace jit::ctl
