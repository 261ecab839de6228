// Shared helpers for the NSS tests: snapshot files.
#pragma once

#include "snapshot_writer.hpp"

#include <jit/test/temp_dir.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace jit::nss::test {

using jit::test::TempDir;

inline void write_text(const std::string& path, const std::string& text, mode_t mode = 0644) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    ::chmod(path.c_str(), mode);
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Replaces `path` the way the publisher does (rename, then mark the old file
// superseded so that mapped readers notice at once).
inline void replace_file(const std::string& path, const std::string& bytes, mode_t mode = 0644) {
    auto st = replace_snapshot_file(path, bytes, mode);
    ASSERT_TRUE(st.ok()) << st.error().message;
}

// Replaces `path` by rename only, as a tool other than the publisher would.
inline void replace_file_unmarked(const std::string& path, const std::string& bytes, mode_t mode = 0644) {
    const std::string tmp = path + ".new";
    write_text(tmp, bytes, mode);
    ASSERT_EQ(::rename(tmp.c_str(), path.c_str()), 0);
}

}  // namespace jit::nss::test
