#include "commands.hpp"
#include "daemon_client.hpp"
#include "output.hpp"

#include <cstring>
#include <iostream>

namespace {

bool wants_json(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--json") == 0) return true;
    return false;
}

// A command line jitctl did not understand: one message, exit 2 (not CLI11's
// internal codes). A first word that is no command is named as such.
int usage_error(const CLI::App& app, const CLI::ParseError& e, bool json) {
    std::string message = e.what();
    if (app.get_subcommands().empty()) {
        for (const auto& word : app.remaining()) {
            if (word.empty() || word[0] == '-') continue;
            message = "unknown command '" + word + "'";
            break;
        }
    }
    jit::ctl::print_error(json, "usage", message + " (see jitctl --help)");
    return jit::ctl::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"jitctl: inspect and operate jitlogin, the just-in-time login system for this host.\n"
                 "Access is granted by the central authority for a limited window; jitctl shows what\n"
                 "this host knows about those grants, explains its decisions and reads the audit trail."};
    app.name("jitctl");
    app.require_subcommand(1);
    app.set_version_flag("--version", "jitctl " JIT_VERSION);
    app.footer("Run 'jitctl COMMAND --help' for the options of a command.");
    jit::ctl::ExitCode exit_code;
    jit::ctl::register_bundle(app, exit_code);
    {
        std::shared_ptr<const jit::ctl::DaemonOptions> daemon = jit::ctl::add_daemon_options(app);
        jit::ctl::register_status(app, daemon, exit_code);
        jit::ctl::register_grants(app, daemon, exit_code);
        jit::ctl::register_check(app, daemon, exit_code);
        jit::ctl::register_check_config(app, exit_code);
        jit::ctl::register_request(app, daemon, exit_code);
        jit::ctl::register_request_status(app, daemon, exit_code);
    }
    jit::ctl::register_audit(app, exit_code);
    const bool json = wants_json(argc, argv);
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {  // --help, --help-all
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --version (CallForVersion)
        return usage_error(app, e, json);
    } catch (const std::exception& e) {
        jit::ctl::print_error(json, "internal", e.what());
        return 1;
    }
    return exit_code.value;
}
