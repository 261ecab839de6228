// Event construction helpers, field/value sanitising and the one-line format.
#include "jit/audit.hpp"
#include "jit/grant.hpp"

namespace jit::audit {

Event& Event::add(std::string name, std::string value) {
    fields.emplace_back(std::move(name), std::move(value));
    return *this;
}

Event& Event::add(std::string name, std::int64_t value) {
    return add(std::move(name), std::to_string(value));
}

Event& Event::add(const Fields& more) {
    fields.insert(fields.end(), more.begin(), more.end());
    return *this;
}

std::optional<std::string_view> Event::field(std::string_view name) const {
    for (const auto& [k, v] : fields)
        if (k == name) return std::string_view(v);
    return std::nullopt;
}

bool valid_field_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    if (name[0] == '_' || (name[0] >= '0' && name[0] <= '9')) return false;
    for (char c : name) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) return false;
    }
    return true;
}

std::string sanitize_field_name(std::string_view name) {
    std::string out;
    out.reserve(name.size() + 1);
    for (char c : name) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        out.push_back(ok ? c : '_');
    }
    if (out.empty() || out[0] == '_' || (out[0] >= '0' && out[0] <= '9')) out.insert(out.begin(), 'X');
    if (out.size() > 64) out.resize(64);
    return out;
}

std::string sanitize_value(std::string_view value) {
    std::string out(value);
    for (char& c : out) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) c = ' ';
    }
    return out;
}

Fields grant_fields(const jit::Grant& grant, std::optional<std::uint32_t> uid) {
    Fields f;
    f.reserve(9);
    f.emplace_back(field::kUser, grant.user);
    if (!uid) uid = grant.uid;
    if (uid) f.emplace_back(field::kUid, std::to_string(*uid));
    f.emplace_back(field::kGrantId, grant.id);
    f.emplace_back(field::kNotBefore, std::to_string(grant.not_before));
    f.emplace_back(field::kNotAfter, std::to_string(grant.not_after));
    f.emplace_back(field::kRequestedBy, grant.requested_by);
    std::string approvers;
    for (const auto& a : grant.approved_by) {
        if (!approvers.empty()) approvers += ',';
        approvers += a;
    }
    f.emplace_back(field::kApprovedBy, std::move(approvers));
    if (!grant.ticket.empty()) f.emplace_back(field::kTicket, grant.ticket);
    f.emplace_back(field::kReason, grant.reason);
    return f;
}

namespace {

void append_value(std::string& out, std::string_view value) {
    bool quote = value.empty();
    for (char c : value)
        if (c == ' ' || c == '"' || c == '=' || c == '\\') quote = true;
    if (!quote) {
        out += sanitize_value(value);
        return;
    }
    out += '"';
    for (char c : sanitize_value(value)) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

}  // namespace

std::string format_line(const Event& event) {
    std::string line;
    line.reserve(128);
    line += event_name(event.type);
    line += " priority=";
    line += std::to_string(priority(event.type));
    line += " message=";
    append_value(line, event.message);
    for (const auto& [k, v] : event.fields) {
        line += ' ';
        line += valid_field_name(k) ? k : sanitize_field_name(k);
        line += '=';
        append_value(line, v);
    }
    return line;
}

std::size_t RecordingSink::count(EventType type) const {
    std::size_t n = 0;
    for (const auto& e : events)
        if (e.type == type) ++n;
    return n;
}

const Event* RecordingSink::last(EventType type) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it)
        if (it->type == type) return &*it;
    return nullptr;
}

}  // namespace jit::audit
