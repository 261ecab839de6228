// Durable state: the last accepted envelope (exact bytes) and its revision,
// in <state_dir>/grants.state. Written with write-temp + fsync + rename + dir
// fsync, mode 0600, so a crash at any instant leaves the old or the new file,
// never a torn one. Leftover temp files are ignored (and removed at start).
#pragma once

#include <jit/bundle.hpp>
#include <jit/result.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace jit::helperd {

struct StoredState {
    std::int64_t revision = 0;
    UnixTime accepted_at = 0;
    std::string envelope;  // exact bytes received from the authority
};

class StateStore {
public:
    explicit StateStore(std::string dir);

    // Creates the directory (0700) if missing and tightens its mode (0700, or
    // 0711 if it had the execute bits for others: traversal to nss.db); removes
    // leftover temp files of interrupted writes.
    Status prepare() const;
    // Atomically replaces the stored state.
    Status save(const StoredState& state) const;
    // nullopt when nothing was ever stored. Error code "state" for an
    // unreadable or malformed file.
    Result<std::optional<StoredState>> load() const;

    const std::string& dir() const { return dir_; }
    std::string file() const { return dir_ + "/grants.state"; }

private:
    std::string dir_;
};

// Re-verifies a stored envelope: signature against `keys`, payload well-formed,
// type and host id; revision equal to the stored one. Time is not checked here
// (staleness is the caller's business). Error codes as verify_and_accept, plus
// "state" for a revision mismatch.
Result<AcceptedBundle> reverify_stored(const StoredState& state, const TrustedKeys& keys, const std::string& host_id);

// Reads a whole state file (no symlink; a regular file of at most `max_bytes`,
// not writable by group or others). nullopt when it does not exist; error
// code "state" (or the system error) naming the path otherwise.
Result<std::optional<std::string>> read_state_file(const std::string& path, std::size_t max_bytes);

}  // namespace jit::helperd
