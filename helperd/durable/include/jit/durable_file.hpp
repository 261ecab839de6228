// Durable replacement of a file. Readers see the old file or the new one,
// never a partial one, and once write_file_durably returns Ok the new file
// survives a power cut.
//
//   1. a temporary file ".tmp.<name>.XXXXXX" is created (O_EXCL) beside `path`;
//   2. the bytes are written, owner and mode are set, the file is fsync'd;
//   3. `check` (if any) inspects the finished temporary file;
//   4. it is renamed over `path` and the directory is fsync'd.
// Any failure before the rename removes the temporary file and leaves `path`
// untouched; a failed directory fsync after the rename is reported (the new
// file is in place but may not survive a crash).
#pragma once

#include <jit/result.hpp>

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>

namespace jit::durable {

struct WriteOptions {
    mode_t mode = 0600;
    bool owner_root = false;  // fchown to root:root before the rename
    // false: no fsync of file or directory (still atomic). Only for data
    // whose loss in a power cut costs nothing but repeated work.
    bool sync = true;
    // Validates the finished temporary file (e.g. visudo -c); an error keeps
    // `path` as it was and is returned as is.
    std::function<Status(const std::string& temp_path)> check = nullptr;
};

// Error code "io"; the message names the step and the file.
Status write_file_durably(const std::string& path, std::string_view bytes, const WriteOptions& options = {});

// The same in two steps, for a check that runs while the caller goes on
// (visudo in a child process jit-helperd's loop watches): stage_file_durably()
// does steps 1-2 and returns the temporary file's path; commit_staged() does
// step 4 (on a failed rename the temporary file is removed); discard_staged()
// removes it. write_file_durably() is stage, check, commit.
Result<std::string> stage_file_durably(const std::string& path, std::string_view bytes, const WriteOptions& options = {});
Status commit_staged(const std::string& temp_path, const std::string& path, const WriteOptions& options = {});
void discard_staged(const std::string& temp_path);

// fsync of a directory (after creating, renaming or removing entries in it).
Status sync_directory(const std::string& dir);

// Whether `name` (a directory entry) is a temporary file of write_file_durably.
bool is_temp_file_name(std::string_view name);

// Removes temporary files that a crash left beside `path` (only those for
// `path`'s name). Best effort: a file that cannot be removed stays.
void remove_temp_files(const std::string& path);

}  // namespace jit::durable
