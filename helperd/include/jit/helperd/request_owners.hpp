// Who asked: each access request relayed to the authority is recorded with
// the requester's uid (SO_PEERCRED), so that op=request_status answers an
// unprivileged peer only about its own requests. Durable in
// <state_dir>/requests (0600, written atomically after each relay):
//
//   jit-requests 1
//   <request id> TAB <uid> TAB <relayed at, unix seconds>
//
// Bounded: the newest kMaxPerUid records per uid and kMaxTotal in all, so no
// local user can grow the file or push out another user's records.
#pragma once

#include <jit/grant.hpp>
#include <jit/result.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>

namespace jit::helperd {

class RequestOwners {
public:
    explicit RequestOwners(std::string path) : path_(std::move(path)) {}
    // Reads the file (a missing one is empty). Errors name the file and line:
    // the caller sets the file aside and starts with no records.
    Status load();
    // Records `id` as relayed for `uid` at `at`, durably.
    Status add(const std::string& id, uid_t uid, UnixTime at);
    std::optional<uid_t> owner(const std::string& id) const;
    const std::string& path() const { return path_; }
    std::size_t size() const { return records_.size(); }

    static constexpr std::size_t kMaxPerUid = 64;
    static constexpr std::size_t kMaxTotal = 4096;

private:
    struct Record {
        uid_t uid = 0;
        UnixTime at = 0;
        std::uint64_t order = 0;  // insertion order: the oldest goes first
    };
    void trim();
    std::string encode() const;
    std::string path_;
    std::map<std::string, Record> records_;
    std::uint64_t next_order_ = 1;
};

}  // namespace jit::helperd
