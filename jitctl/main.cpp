#include "commands.hpp"

#include <iostream>

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
    jit::ctl::register_daemon_commands(app, exit_code);
    jit::ctl::register_audit(app, exit_code);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::cerr << "jitctl: " << e.what() << "\n";
        return 1;
    }
    return exit_code.value;
}
