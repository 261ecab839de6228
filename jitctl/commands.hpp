// Each jitctl subcommand lives in its own file and registers itself on the
// CLI11 app here; main.cpp only wires them together.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>

namespace jit::ctl {

// A subcommand's run() sets the process exit code through this.
struct ExitCode {
    int value = 0;
};

struct DaemonOptions;  // daemon_client.hpp: --socket, --timeout-ms

void register_bundle(CLI::App& app, ExitCode& exit_code);          // cmd_bundle.cpp: bundle verify
void register_status(CLI::App& app, std::shared_ptr<const DaemonOptions> daemon, ExitCode& exit_code);  // cmd_status.cpp
void register_grants(CLI::App& app, std::shared_ptr<const DaemonOptions> daemon, ExitCode& exit_code);  // cmd_grants.cpp
void register_check(CLI::App& app, std::shared_ptr<const DaemonOptions> daemon, ExitCode& exit_code);   // cmd_check.cpp
void register_check_config(CLI::App& app, ExitCode& exit_code);    // cmd_check_config.cpp
void register_request(CLI::App& app, std::shared_ptr<const DaemonOptions> daemon, ExitCode& exit_code);  // cmd_request.cpp
void register_request_status(CLI::App& app, std::shared_ptr<const DaemonOptions> daemon,
                             ExitCode& exit_code);                 // cmd_request_status.cpp
void register_audit(CLI::App& app, ExitCode& exit_code);           // cmd_audit.cpp

// The --json flag of a command (output.cpp).
void add_json_flag(CLI::App* sub, bool& json);

}  // namespace jit::ctl
