// jitctl check-config: validates helperd.conf, its trusted keys and its token
// file without the daemon, with the check jit-helperd itself runs
// (jit/helperd/config_check.hpp). Exit 0 valid, 1 problems (each on stderr).
#include "commands.hpp"
#include "output.hpp"

#include <jit/helperd/config_check.hpp>

#include <iostream>
#include <memory>

namespace jit::ctl {
namespace {

void run_check_config(const std::string& path, bool json, ExitCode& ec) {
    const helperd::CheckedConfig checked = helperd::check_config_file(path, "jitlogin/" JIT_VERSION);
    if (json) {
        Json::Value v(Json::objectValue);
        v["config"] = path;
        v["ok"] = checked.ok();
        Json::Value list(Json::arrayValue);
        for (const auto& p : checked.problems) list.append(p);
        v["problems"] = list;
        Json::Value warnings(Json::arrayValue);
        for (const auto& w : checked.warnings) warnings.append(w);
        v["warnings"] = warnings;
        if (checked.ok()) {
            v["host_id"] = checked.config->authority.host_id;
            v["authority_url"] = checked.config->authority.url;
            v["trusted_keys"] = Json::UInt64(checked.keys.size());
        }
        print_json(v);
    } else if (checked.ok()) {
        std::cout << checked.summary(path);
    } else {
        for (const auto& p : checked.problems) std::cerr << p << "\n";
    }
    ec.value = checked.ok() ? 0 : kExitError;
}

}  // namespace

void register_check_config(CLI::App& app, ExitCode& ec) {
    auto j = std::make_shared<bool>(false);
    auto path = std::make_shared<std::string>(std::string(helperd::kDefaultConfigPath));
    auto* sub = app.add_subcommand("check-config", "validate helperd.conf (and trusted keys, token file) without the daemon");
    sub->add_option("-c,--config", *path, "configuration file (default " JIT_HELPERD_CONFIG_PATH ")");
    add_json_flag(sub, *j);
    sub->callback([path, j, &ec] { run_check_config(*path, *j, ec); });
}

}  // namespace jit::ctl
