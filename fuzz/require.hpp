// The C++ fuzzers' invariant check: a broken invariant names itself on stderr
// and aborts, and libFuzzer keeps the input as a crash file.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace jit::fuzz {

inline void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
}

}  // namespace jit::fuzz
