#include <jit/helperd/request_owners.hpp>

#include <jit/durable_file.hpp>
#include <jit/helperd/state_store.hpp>
#include <jit/names.hpp>

#include <algorithm>
#include <charconv>
#include <string_view>
#include <vector>

namespace jit::helperd {
namespace {

constexpr std::string_view kHeader = "jit-requests 1";
// Header + kMaxTotal lines of at most 64 + 1 + 10 + 1 + 20 + 1 bytes.
constexpr std::size_t kMaxFileBytes = 64 + RequestOwners::kMaxTotal * 100;

template <class Int>
bool parse_int(std::string_view s, Int& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Status RequestOwners::load() {
    records_.clear();
    auto read = read_state_file(path_, kMaxFileBytes);
    if (!read) return read.error();
    if (!read->has_value()) return Ok{};
    const std::string& text = **read;
    std::map<std::string, Record> out;
    std::size_t start = 0;
    int lineno = 0;
    while (start < text.size()) {
        const auto end = text.find('\n', start);
        if (end == std::string::npos) return make_error("state", path_ + ": last line is not terminated");
        std::string_view line(text.data() + start, end - start);
        start = end + 1;
        const std::string where = path_ + ":" + std::to_string(++lineno);
        if (lineno == 1) {
            if (line != kHeader) return make_error("state", where + ": expected '" + std::string(kHeader) + "'");
            continue;
        }
        std::vector<std::string_view> f;
        for (std::size_t p = 0;;) {
            const auto tab = line.find('\t', p);
            f.push_back(line.substr(p, tab == std::string_view::npos ? std::string_view::npos : tab - p));
            if (tab == std::string_view::npos) break;
            p = tab + 1;
        }
        Record r;
        if (f.size() != 3) return make_error("state", where + ": expected 3 tab-separated fields");
        if (!jit::is_valid_grant_id(f[0])) return make_error("state", where + ": bad request id");
        if (!parse_int(f[1], r.uid)) return make_error("state", where + ": bad uid");
        if (!parse_int(f[2], r.at)) return make_error("state", where + ": bad time");
        r.order = next_order_++;
        if (!out.emplace(std::string(f[0]), r).second) return make_error("state", where + ": duplicate request id");
    }
    if (lineno == 0) return make_error("state", path_ + ": empty file");
    records_ = std::move(out);
    trim();
    return Ok{};
}

void RequestOwners::trim() {
    auto drop_oldest = [this](auto keep) {
        auto oldest = records_.end();
        for (auto it = records_.begin(); it != records_.end(); ++it)
            if (!keep(it->second) && (oldest == records_.end() || it->second.order < oldest->second.order)) oldest = it;
        if (oldest != records_.end()) records_.erase(oldest);
    };
    std::map<uid_t, std::size_t> per_uid;
    for (const auto& [id, r] : records_) ++per_uid[r.uid];
    for (auto& [uid, n] : per_uid)
        for (; n > kMaxPerUid; --n) drop_oldest([uid = uid](const Record& r) { return r.uid != uid; });
    while (records_.size() > kMaxTotal) drop_oldest([](const Record&) { return false; });
}

std::string RequestOwners::encode() const {
    std::vector<std::pair<std::uint64_t, const std::string*>> order;
    for (const auto& [id, r] : records_) order.emplace_back(r.order, &id);
    std::sort(order.begin(), order.end());
    std::string out(kHeader);
    out += '\n';
    for (const auto& [o, id] : order) {
        const Record& r = records_.at(*id);
        out += *id + '\t' + std::to_string(r.uid) + '\t' + std::to_string(r.at) + '\n';
    }
    return out;
}

Status RequestOwners::add(const std::string& id, uid_t uid, UnixTime at) {
    records_[id] = Record{uid, at, next_order_++};
    trim();
    return durable::write_file_durably(path_, encode());
}

std::optional<uid_t> RequestOwners::owner(const std::string& id) const {
    auto it = records_.find(id);
    if (it == records_.end()) return std::nullopt;
    return it->second.uid;
}

}  // namespace jit::helperd
