// jit-helperd: the jitlogin host daemon (docs/config.md, docs/socket-protocol.md).
#include <jit/helperd/app.hpp>
#include <jit/helperd/config.hpp>

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
    CLI::App cli{"jit-helperd: keeps this host's just-in-time grants current and answers pam_jit.so and jitctl."};
    cli.name("jit-helperd");
    jit::helperd::AppOptions options;
    options.config_path = std::string(jit::helperd::kDefaultConfigPath);
    cli.add_option("-c,--config", options.config_path, "configuration file")->capture_default_str();
    cli.add_flag("--check-config", options.check_only, "validate the configuration and exit");
    cli.set_version_flag("--version", "jit-helperd " JIT_VERSION);
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e);
    }
    if (options.check_only) return jit::helperd::check_config(options.config_path);
    return jit::helperd::run_app(options);
}
