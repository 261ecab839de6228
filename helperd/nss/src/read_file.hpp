// Reading a whole file for the NSS publisher (its own state, the local
// account files). Files are written with jit/durable_file.hpp.
#pragma once

#include <jit/result.hpp>

#include <string>

namespace jit::nss {

// Whole file; error "io" naming the path when it cannot be read. A missing
// file is reported with code "io.missing".
jit::Result<std::string> read_file(const std::string& path);

}  // namespace jit::nss
