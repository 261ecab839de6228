// libFuzzer target for jit-helperd's config parser (docs/config.md): arbitrary
// text must never crash or hang it, and every refusal must say where: each
// issue names the file and a line or a key, with a message. File-system checks
// are off (check_files = false): the parser alone.
#include <jit/helperd/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "require.hpp"

using jit::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::string file = "/etc/jit/helperd.conf";
    jit::helperd::ParseOptions options;
    options.check_files = false;
    options.default_host_id = "fuzz-host";

    std::size_t lines = 1;
    for (char c : text) lines += c == '\n';

    jit::helperd::Config cfg;
    const auto issues = jit::helperd::config_issues(text, file, options, &cfg);
    for (const auto& i : issues) {
        require(i.file == file && !i.message.empty(), "an issue names the file and says what");
        require(i.line > 0 || !i.key.empty(), "an issue names a line or a key");
        require(i.line >= 0 && static_cast<std::size_t>(i.line) <= lines, "an issue's line is in the text");
        require(i.to_string().rfind(file, 0) == 0, "an issue's text starts with the file");
    }
    // parse_config is config_issues plus the joining of the issues' texts
    // (helperd/src/config.cpp): it is not parsed a second time here, which
    // would halve the rate and reach nothing new.
    return 0;
}
