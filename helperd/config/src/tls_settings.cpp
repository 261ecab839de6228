#include <jit/helperd/tls_settings.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sys/stat.h>

namespace jit::helperd {

Result<std::string> read_token_file(const std::string& path) {
    struct stat st{};
    if (stat(path.c_str(), &st) != 0) return make_error("config", path + ": " + std::strerror(errno));
    if (st.st_mode & 077) return make_error("config", path + ": token file must not be accessible by group or others");
    std::ifstream in(path);
    if (!in) return make_error("config", path + ": cannot read");
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    std::size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    line.erase(0, i);
    if (line.empty()) return make_error("config", path + ": empty token");
    for (char c : line)
        if (c < 0x21 || c > 0x7e) return make_error("config", path + ": token contains a space or non-ASCII character");
    return line;
}

Result<TlsSettings> tls_settings_from(const Config& config, const std::string& user_agent) {
    TlsSettings t;
    t.ca_file = config.authority.ca_file;
    t.client_cert = config.authority.client_cert;
    t.client_key = config.authority.client_key;
    t.allow_plain_http = config.authority.plain_http;
    t.user_agent = user_agent;
    if (!config.authority.token_file.empty()) {
        auto tok = read_token_file(config.authority.token_file);
        if (!tok) return tok.error();
        t.bearer_token = *tok;
    }
    return t;
}

}  // namespace jit::helperd
