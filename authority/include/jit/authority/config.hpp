// /etc/jit/authority.conf: the daemon's settings and the access rules
// (docs/authority.md, "Configuration"). INI-style; every error names the file
// and line. Rules are pure data here; rules.hpp decides with them.
#pragma once

#include <jit/grant.hpp>
#include <jit/result.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace jit::authority {

struct Settings {
    std::string database = "/var/lib/jit-authority/authority.db";
    std::vector<std::string> listen = {"127.0.0.1:8443"};  // ADDR:PORT; plain http only on loopback
    std::string tls_cert;            // PEM; empty = plain http (loopback only)
    std::string tls_key;
    std::string client_ca;           // mTLS: client certificates from this CA; CN = host id
    std::string signing_key = "/etc/jit/authority/signing.key";
    std::string key_id;              // required
    std::int64_t bundle_ttl = 900;   // expires_at - issued_at
    std::int64_t request_ttl = 3600; // a pending request expires after this
    std::int64_t revoked_retention = 86400;
    std::int64_t max_wait = 60;
};

struct HostGroup {
    std::string name;
    std::vector<std::string> hosts;   // shell patterns on the host id (fnmatch)
    std::vector<std::string> labels;  // "key=value", all required
    int line = 0;
    // Webhooks on the group's requests and grants (docs/authority.md, "Webhooks").
    std::vector<std::string> webhooks;        // http(s) URLs
    std::string webhook_format = "slack";     // slack (Slack/Mattermost {"text"}) | plain (the event as JSON)
    std::string webhook_secret_file;          // HMAC-SHA256 key for X-Jit-Signature; "" = unsigned
};

struct Rule {
    std::string name;
    std::vector<std::string> groups;
    std::vector<std::string> requesters;  // names, or "*" for anyone
    std::vector<std::string> approvers;   // names, or "*" for any approver/admin
    int approvals = 1;                    // distinct approvers, never the requester
    std::int64_t max_duration = 4 * 3600;
    bool login = true;
    std::vector<std::string> sudo;        // commands that may be asked for ("ALL" = any); empty = no sudo
    std::vector<std::string> run_as = {"root"};
    bool extend = false;
    std::int64_t max_extension = 3600;
    int line = 0;
};

struct Config {
    std::string file;
    Settings settings;
    std::vector<HostGroup> groups;
    std::vector<Rule> rules;
};

// Error code "config"; the message lists every problem, one per line, as
// "FILE:LINE: what".
Result<Config> parse_config(std::string_view text, const std::string& file);
Result<Config> load_config(const std::string& file);

}  // namespace jit::authority
