#include <jit/helperd/config_check.hpp>

#include <sstream>

namespace jit::helperd {

std::string CheckedConfig::message() const {
    std::string out;
    for (const auto& p : problems) out += (out.empty() ? "" : "\n") + p;
    return out;
}

std::string CheckedConfig::summary(const std::string& path) const {
    if (!ok() || !config) return "";
    std::string out = path + ": OK (host " + config->authority.host_id + ", authority " + config->authority.url + ", " +
                      std::to_string(keys.size()) + " trusted key(s))\n";
    for (const auto& w : warnings) out += "warning: " + w + "\n";
    return out;
}

CheckedConfig check_config_file(const std::string& path, const std::string& user_agent) {
    CheckedConfig c;
    auto cfg = load_config(path);
    if (!cfg) {
        std::istringstream lines(cfg.error().message);
        for (std::string line; std::getline(lines, line);) c.problems.push_back(line);
        return c;
    }
    auto keys = TrustedKeys::load_dir(cfg->authority.trusted_keys_dir);
    if (!keys) c.problems.push_back(path + ": key 'authority.trusted_keys_dir': " + keys.error().message);
    else c.keys = std::move(*keys);
    auto tls = tls_settings_from(*cfg, user_agent);
    if (!tls) c.problems.push_back(path + ": key 'authority.token_file': " + tls.error().message);
    else c.tls = std::move(*tls);
    if (cfg->authority.plain_http)
        c.warnings.push_back("plain http to a loopback authority: for development and tests only");
    c.config = std::move(*cfg);
    return c;
}

}  // namespace jit::helperd
