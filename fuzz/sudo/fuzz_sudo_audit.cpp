// libFuzzer target for the sudo audit plugin's message as jit-helperd reads it
// (op=sudo_audit, helperd/src/sudo_audit.cpp): arbitrary socket bodies are
// decoded, parsed and rendered. An accepted record stays within its limits and
// renders as one printable line; a refusal names a key.
#include <jit/helperd/sudo_audit.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "require.hpp"

using jit::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    std::string error;
    auto message = jit::ipc::decode_body(body, &error);
    if (!message) return 0;
    auto r = jit::helperd::parse_sudo_audit(*message);
    if (!r) {
        require(r.error().code == "bad_request", "a refusal is bad_request");
        require(r.error().message.rfind("'", 0) == 0, "a refusal names the key");
        return 0;
    }
    require(!r->argv.empty() && r->argv.size() <= jit::helperd::kSudoMaxArgs, "argc within its limits");
    std::size_t total = 0;
    for (const auto& a : r->argv) total += a.size();
    require(total <= jit::helperd::kSudoMaxCommandBytes, "command within its limit");
    const std::string line = jit::helperd::render_command_line(r->argv, r->truncated);
    for (const char c : line)
        require(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, "the command line is one printable line");
    require(line.size() >= r->argv[0].size(), "nothing of the command is lost");
    return 0;
}
