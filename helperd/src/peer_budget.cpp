#include <jit/helperd/peer_budget.hpp>

#include <algorithm>
#include <vector>

namespace jit::helperd {

void PeerBudget::refill(Bucket& b, std::int64_t now_ms) const {
    if (now_ms <= b.updated_ms || refill_ms_ <= 0) return;
    const std::int64_t earned = (now_ms - b.updated_ms) / refill_ms_;
    if (earned == 0) return;
    b.tokens = std::min(burst_, b.tokens + earned);
    // Keep the fraction of a token already earned, unless the bucket is full.
    b.updated_ms = b.tokens == burst_ ? now_ms : b.updated_ms + earned * refill_ms_;
}

void PeerBudget::make_room(std::int64_t now_ms) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        refill(it->second, now_ms);
        it = it->second.tokens == burst_ ? buckets_.erase(it) : std::next(it);
    }
    // Still full: every tracked uid is spending; drop the fullest half (those
    // closest to a full bucket lose the least).
    if (buckets_.size() < kMaxTracked) return;
    std::int64_t median = 0;
    {
        std::vector<std::int64_t> t;
        t.reserve(buckets_.size());
        for (const auto& [uid, b] : buckets_) t.push_back(b.tokens);
        std::nth_element(t.begin(), t.begin() + long(t.size() / 2), t.end());
        median = t[t.size() / 2];
    }
    for (auto it = buckets_.begin(); it != buckets_.end() && buckets_.size() >= kMaxTracked / 2;)
        it = it->second.tokens >= median ? buckets_.erase(it) : std::next(it);
}

PeerBudget::Verdict PeerBudget::take(uid_t uid, std::int64_t now_ms) {
    if (uid == 0) return {};
    auto it = buckets_.find(uid);
    if (it == buckets_.end()) {
        if (buckets_.size() >= kMaxTracked) make_room(now_ms);
        it = buckets_.emplace(uid, Bucket{burst_, now_ms, false}).first;
    }
    Bucket& b = it->second;
    refill(b, now_ms);
    if (b.tokens > 0) {
        --b.tokens;
        b.refused = false;
        return {};
    }
    Verdict v;
    v.allowed = false;
    v.first_refusal = !b.refused;
    b.refused = true;
    v.retry_after_ms = std::max<std::int64_t>(0, b.updated_ms + refill_ms_ - now_ms);
    return v;
}

}  // namespace jit::helperd
