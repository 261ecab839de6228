// How jit-helperd reaches the authority over HTTPS: the TLS and auth settings
// of helperd.conf's [authority] section, with the bearer token read from its
// file. The one place that knows them; every transport takes a TlsSettings.
#pragma once

#include <jit/helperd/config.hpp>
#include <jit/result.hpp>

#include <string>

namespace jit::helperd {

struct TlsSettings {
    std::string ca_file;      // "" = system store
    std::string client_cert;  // "" = no mTLS
    std::string client_key;
    std::string bearer_token; // "" = none
    bool allow_plain_http = false;  // only for loopback URLs (validated by the config)
    std::string user_agent;   // "jitlogin/<version>"
};

// Reads the token file (first line, trimmed). Error code "config".
Result<std::string> read_token_file(const std::string& path);
// TlsSettings from the config (reads the token file).
Result<TlsSettings> tls_settings_from(const Config& config, const std::string& user_agent);

}  // namespace jit::helperd
