// libFuzzer target for what jitlogin hands to sshd (policy/src/ssh_keys.cpp):
// the host's key options, grant key lines and principals. Input: the first
// line is ssh.key_options, every further line a key line of one active grant.
// Nothing reaches sshd that would not pass the validator again, every line is
// one line, and a refusal says why.
#include <jit/ssh_keys.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "require.hpp"

using jit::fuzz::require;

namespace {

bool one_printable_line(const std::string& s) {
    for (const char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    return !s.empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::size_t nl = text.find('\n');
    const std::string_view options_text = text.substr(0, nl);
    auto options = jit::parse_ssh_key_options(options_text);
    std::string opts;
    if (options) {
        opts = *options;
        auto again = jit::parse_ssh_key_options(opts);
        require(again && *again == opts, "canonical options parse to themselves");
        require(opts.find(' ') == std::string::npos || opts.find('"') != std::string::npos,
                "canonical options have no spaces outside quoted values");
        require(opts.find("command=") == std::string::npos && opts.find("environment=") == std::string::npos,
                "no option that widens a key is accepted");
    } else {
        require(options.error().code == "ssh.key_options" && !options.error().message.empty(),
                "a refused option list says why");
    }

    jit::Grant g;
    g.id = "g-fuzz";
    g.user = "alice";
    g.login = true;
    g.not_before = 1000;
    g.not_after = 2000;
    std::size_t start = nl == std::string_view::npos ? text.size() : nl + 1;
    while (start < text.size() && g.ssh_authorized_keys.size() < 64) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        g.ssh_authorized_keys.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    const auto keys = jit::authorized_keys_for({g}, "alice", 1500, opts);
    require(keys.lines.size() + keys.dropped.size() <= g.ssh_authorized_keys.size(), "no line out of nothing");
    const std::string prefix = "expiry-time=\"" + jit::ssh_expiry_time(1999) + "\"" + (opts.empty() ? "" : "," + opts) + " ";
    for (const auto& line : keys.lines) {
        require(one_printable_line(line), "a key line is one printable line");
        require(line.rfind(prefix, 0) == 0, "a key line starts with expiry-time and the host's options");
        require(jit::check_ssh_key_line(line.substr(prefix.size())).empty(), "the key part passes the validator");
    }
    for (const auto& why : keys.dropped) require(!why.empty() && why.rfind("grant g-fuzz key ", 0) == 0, "a drop names the key");
    require(jit::authorized_keys_for({g}, "alice", 2000, opts).lines.empty(), "nothing after the window");
    const auto principals = jit::authorized_principals_for({g}, "alice", 1500, opts);
    require(principals.lines.size() == 1 && principals.lines[0] == prefix + "alice", "one principal: the user");
    return 0;
}
