// The jit-helperd process: wires config, sd-event, curl, the Daemon, the
// socket server, signals and sd_notify together. main() only parses options.
#pragma once

#include <string>

namespace jit::helperd {

struct AppOptions {
    std::string config_path;
    bool check_only = false;   // --check-config: validate and exit
};

// Exit codes: 0 ok, 1 runtime failure, 78 (EX_CONFIG) bad configuration.
int run_app(const AppOptions& options);
// Validates the config (and trusted keys, token file) and prints the result.
int check_config(const std::string& path, bool quiet = false);

}  // namespace jit::helperd
