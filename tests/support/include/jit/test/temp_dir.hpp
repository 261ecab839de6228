// A directory of its own for one test: made under $TMPDIR (or /tmp) with mode
// 0755 (unprivileged readers, such as the NSS module's users, reach files in
// it), removed with everything in it when the TempDir goes.
#pragma once

#include <string>

namespace jit::test {

class TempDir {
public:
    // `prefix` names the test in the directory's name ("jit-test.XXXXXX").
    // Throws std::runtime_error when the directory cannot be made.
    explicit TempDir(const std::string& prefix = "jit-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    // path() + "/" + name.
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

}  // namespace jit::test
