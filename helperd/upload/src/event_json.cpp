// The uploaded form of an event (PROTOCOL.md §3) and of a batch.
#include "jit/upload.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <variant>

namespace jit::upload {
namespace {

// A JSON string literal of `s` (valid UTF-8 already: see clean()).
void quote_into(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                out += "\\u00";
                out += kHex[c >> 4];
                out += kHex[c & 0xf];
            } else {
                out += ch;
            }
        }
    }
    out += '"';
}

bool numeric_field(std::string_view key) {
    return key == "uid" || key == "not_before" || key == "not_after" || key == "revision" || key == "count" ||
           key == "pid" || key == "seconds_left";
}

std::string upload_key(std::string_view name) {
    if (name.starts_with("JIT_")) name.remove_prefix(4);
    std::string key(name);
    for (char& c : key)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return key;
}

// Field values come from anywhere (a sudo command line, a remote host name):
// keep them valid UTF-8 (invalid bytes become U+FFFD) and short enough that an
// event stays far below the authority's per-event limit (64 KiB).
constexpr std::size_t kMaxValueBytes = 4096;

std::string clean(std::string_view in) {
    std::string out;
    out.reserve(std::min(in.size(), kMaxValueBytes));
    std::size_t i = 0;
    while (i < in.size()) {
        if (out.size() >= kMaxValueBytes) {
            out += "...[truncated]";
            break;
        }
        auto c = static_cast<unsigned char>(in[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        bool ok = len > 0 && i + len <= in.size();
        for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(in[i + k]) & 0xc0) == 0x80;
        if (ok && len == 2) ok = c >= 0xc2;  // no overlong 2-byte forms
        if (ok && len == 3) {
            auto c1 = static_cast<unsigned char>(in[i + 1]);
            ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogates
        }
        if (ok && len == 4) {
            auto c1 = static_cast<unsigned char>(in[i + 1]);
            ok = c <= 0xf4 && !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
        }
        if (!ok) {
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
        }
        out.append(in.data() + i, len);
        i += len;
    }
    return out;
}

}  // namespace

// Written directly (this runs for every audit event, in the daemon's loop):
// one compact object, members in key order, strings as clean() UTF-8.
std::string event_json(const audit::Event& event, std::uint64_t seq, std::int64_t time) {
    std::map<std::string, std::variant<std::int64_t, std::uint64_t, std::string>> o;
    o.emplace("seq", seq);
    o.emplace("time", time);
    o.emplace("type", std::string(audit::event_name(event.type)));
    o.emplace("message", clean(event.message));
    for (const auto& [name, value] : event.fields) {
        std::string key = upload_key(audit::valid_field_name(name) ? name : audit::sanitize_field_name(name));
        if (key == "event" || o.count(key)) continue;  // the first of a name wins; seq, time, type, message are ours
        std::int64_t n = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (numeric_field(key) && ec == std::errc() && end == value.data() + value.size() && !value.empty())
            o.emplace(std::move(key), n);
        else
            o.emplace(std::move(key), clean(value));
    }
    std::string out;
    out.reserve(256);
    out += '{';
    for (const auto& [key, value] : o) {
        if (out.size() > 1) out += ',';
        quote_into(out, key);
        out += ':';
        if (const auto* str = std::get_if<std::string>(&value)) quote_into(out, *str);
        else if (const auto* i = std::get_if<std::int64_t>(&value)) out += std::to_string(*i);
        else out += std::to_string(std::get<std::uint64_t>(value));
    }
    out += '}';
    return out;
}

std::string Batch::body() const {
    std::string out = "{\"events\":[";
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (i) out += ',';
        out += events[i].json;
    }
    out += "]}";
    return out;
}

ClockMs system_clock_ms() {
    return [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
}

void UploadingSink::emit(const audit::Event& event) {
    local_.emit(event);
    auto st = queue_.enqueue(event);
    if (!st) {
        audit::Event alert{audit::EventType::SecurityAlert,
                           "audit event " + std::string(audit::event_name(event.type)) +
                               " could not be queued for upload to the authority: " + st.error().message,
                           {}};
        alert.add(std::string(audit::field::kAlert), "upload.spool_failed")
            .add(std::string(audit::field::kError), st.error().code)
            .add(std::string(audit::field::kReason), st.error().message);
        local_.emit(alert);
    }
}

}  // namespace jit::upload
