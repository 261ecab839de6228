// Durable replacement of a file: temp file in the same directory, fsync,
// rename over the target, fsync of the directory. Readers see the old or the
// new file, never a partial one.
#pragma once

#include <jit/result.hpp>

#include <sys/types.h>

#include <string>
#include <string_view>

namespace jit::nss {

// Root-owned (when running as root) with `mode`.
jit::Status write_file_atomically(const std::string& path, std::string_view bytes, mode_t mode);

// Whole file; error "io" naming the path when it cannot be read. A missing
// file is reported with code "io.missing".
jit::Result<std::string> read_file(const std::string& path);

}  // namespace jit::nss
