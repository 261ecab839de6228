// What an unprivileged local user can make jit-helperd do on their behalf is
// bounded. Operations that cost the daemon a write (an audit event, an upload
// spool entry, a state file write) or an authority call — relaying an access
// request, asking the authority about one — spend a token from the peer's
// per-uid bucket: `burst` at once, then one more every `refill_ms`. Root (the
// PAM module in sshd/su/sudo) is never limited: its decisions are the trail.
#pragma once

#include <cstdint>
#include <map>
#include <sys/types.h>

namespace jit::helperd {

class PeerBudget {
public:
    struct Verdict {
        bool allowed = true;
        bool first_refusal = false;  // the first refusal since the uid was last allowed: alert once
        std::int64_t retry_after_ms = 0;  // refused: when the next token comes
    };
    PeerBudget(std::int64_t burst, std::int64_t refill_ms) : burst_(burst), refill_ms_(refill_ms) {}
    // Spends one token of `uid` at monotonic time `now_ms` if it has one.
    Verdict take(uid_t uid, std::int64_t now_ms);
    // At most this many uids are remembered; full buckets are forgotten first.
    static constexpr std::size_t kMaxTracked = 4096;

private:
    struct Bucket {
        std::int64_t tokens = 0;
        std::int64_t updated_ms = 0;  // when `tokens` was last brought up to date
        bool refused = false;
    };
    void refill(Bucket& b, std::int64_t now_ms) const;
    void make_room(std::int64_t now_ms);
    std::int64_t burst_;
    std::int64_t refill_ms_;
    std::map<uid_t, Bucket> buckets_;
};

}  // namespace jit::helperd
