// Shared fixtures for the enforcement tests.
#pragma once

#include <jit/enforce/enforcer.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace jit::enforce::test {

inline constexpr UnixTime T0 = 1764250000;  // a fixed "now"

inline Grant grant(std::string id, std::string user, UnixTime nb, UnixTime na, bool login = true) {
    Grant g;
    g.id = std::move(id);
    g.user = std::move(user);
    g.login = login;
    g.not_before = nb;
    g.not_after = na;
    g.reason = "test";
    g.requested_by = "tester";
    return g;
}

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "jit-enforce-XXXXXX").string();
        char* p = ::mkdtemp(tmpl.data());
        path_ = p ? p : "";
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace jit::enforce::test
