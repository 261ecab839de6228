// The one check of a helperd.conf: the file's syntax and values, its trusted
// keys directory and its token file. jit-helperd runs it at start, on SIGHUP
// and for --check-config; `jitctl check-config` runs it without the daemon.
// Both print summary() when it passed.
#pragma once

#include <jit/bundle.hpp>
#include <jit/helperd/config.hpp>
#include <jit/helperd/tls_settings.hpp>

#include <optional>
#include <string>
#include <vector>

namespace jit::helperd {

struct CheckedConfig {
    std::optional<Config> config;       // set when the file parsed (even if its keys or token are bad)
    TrustedKeys keys;                   // authority.trusted_keys_dir, loaded
    TlsSettings tls;                    // with the token read from authority.token_file
    std::vector<std::string> problems;  // one line each: "file:line: key 'section.key': message"
    std::vector<std::string> warnings;  // accepted, but said (plain http to a loopback authority)
    bool ok() const { return problems.empty(); }
    std::string message() const;        // the problems, one per line
    // When ok(): "PATH: OK (host H, authority URL, N trusted key(s))", then
    // "warning: ..." per warning, each line ending in a newline.
    std::string summary(const std::string& path) const;
};

// Loads `path` (load_config), then its trusted keys and token file. When the
// file itself has problems, the keys and token are not looked at.
CheckedConfig check_config_file(const std::string& path, const std::string& user_agent);

}  // namespace jit::helperd
