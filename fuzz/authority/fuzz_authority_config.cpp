// libFuzzer target for jit-authority's configuration and rules
// (authority/src/config.cpp, rules.cpp; docs/authority.md, "Configuration"):
// arbitrary text must never crash or hang the parser, every refusal names the
// file and a line of the text ("FILE:LINE: what", or "FILE: no [authority]
// section"), and whatever is accepted can be used by the rules: each rule
// names known groups, and check_request / check_approver decide a few asks
// (hosts matched by the config's patterns and labels) without trouble.
#include <jit/authority/config.hpp>
#include <jit/authority/rules.hpp>

#include <cstddef>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "require.hpp"

using jit::fuzz::require;
using namespace jit::authority;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::string file = "/etc/jit/authority.conf";
    std::size_t lines = 1;
    for (char c : text) lines += c == '\n';

    auto cfg = parse_config(text, file);
    if (!cfg) {
        require(cfg.error().code == "config" && !cfg.error().message.empty(), "a refusal is a config error with a message");
        std::istringstream msg(cfg.error().message);
        for (std::string p; std::getline(msg, p);) {
            require(p.rfind(file + ":", 0) == 0, "each problem starts with the file");
            if (p == file + ": no [authority] section") continue;
            const std::string rest = p.substr(file.size() + 1);
            std::size_t digits = 0;
            while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
            require(digits > 0 && digits < 10 && rest.compare(digits, 2, ": ") == 0, "each problem names a line");
            const std::size_t line = std::stoul(rest.substr(0, digits));
            require(line >= 1 && line <= lines, "the line is in the text");
        }
        return 0;
    }
    std::set<std::string> groups;
    for (const auto& g : cfg->groups) groups.insert(g.name);
    for (const auto& r : cfg->rules) {
        require(!r.groups.empty() && !r.requesters.empty(), "a rule has groups and requesters");
        for (const auto& g : r.groups) require(groups.count(g) == 1, "a rule names known groups");
        require(r.approvals >= 0 && (r.approvals == 0 || !r.approvers.empty()), "approvals need approvers");
    }
    // The rules decide, with hosts and people the config may or may not name.
    static const char* kHosts[] = {"web-01", "db-01", "*", ""};
    for (const char* host : kHosts) {
        for (const bool sudo : {false, true}) {
            AccessAsk ask{host, {"env=prod", "role=web"}, "alice", true, std::nullopt, 3600, false};
            if (sudo) ask.sudo = jit::SudoRule{"root", {"/usr/bin/apt-get"}};
            const Verdict v = check_request(*cfg, ask);
            require(v ? v.error.empty() : !v.error.empty() && !v.message.empty(), "a verdict is a rule or a reason");
            if (v) (void)check_approver(*v.rule, "alice", "carol", {});
        }
    }
    return 0;
}
