// Payload parsing: untrusted JSON in, typed GrantsPayload out, every limit of
// the Grant table (and our stricter readings, docs/protocol.md) enforced.
#include "payload_parts.hpp"
#include "strict_json.hpp"

#include <jit/base64.hpp>
#include <jit/bundle.hpp>
#include <jit/names.hpp>
#include <jit/ssh_keys.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <unordered_map>

namespace jit {
namespace detail {

namespace {

// Where a field lives, for messages such as
//   grant "g-7f3a" (grants[0]): field "uid": 999 is outside 1000..2147483646
struct Where {
    std::string code;
    std::string prefix;
};

Error field_error(const Where& w, std::string_view field, const std::string& what) {
    return make_error(w.code, w.prefix + ": field \"" + std::string(field) + "\" " + what);
}

const char* json_type_name(const Json::Value& v) {
    switch (v.type()) {
    case Json::nullValue: return "null";
    case Json::intValue:
    case Json::uintValue: return "an integer";
    case Json::realValue: return "a number with a fraction or exponent";
    case Json::stringValue: return "a string";
    case Json::booleanValue: return "a boolean";
    case Json::arrayValue: return "an array";
    case Json::objectValue: return "an object";
    }
    return "an unknown JSON type";
}

const Json::Value* member(const Json::Value& obj, std::string_view name) {
    return obj.find(name.data(), name.data() + name.size());
}

enum class Need { required, optional };

// Checks a string value already known to be a JSON string: UTF-8 (jsoncpp
// turns \uDC00 into bytes that are not), no control characters, bounded.
Status check_text(const Where& w, std::string_view field, const std::string& s,
                  std::size_t max_bytes, bool allow_empty) {
    if (!is_valid_utf8(s)) return field_error(w, field, "is not valid UTF-8");
    if (has_control_chars(s))
        return field_error(w, field, "contains a control character (newline, tab, NUL, escape...)");
    if (s.size() > max_bytes)
        return field_error(w, field, "is " + std::to_string(s.size()) + " bytes long; at most " +
                                         std::to_string(max_bytes) + " allowed");
    if (!allow_empty && s.empty()) return field_error(w, field, "must not be empty");
    return Ok{};
}

// Returns false in `present` when an optional field is absent.
Status get_string(const Json::Value& obj, std::string_view field, Need need, std::size_t max_bytes,
                  bool allow_empty, const Where& w, std::string& out, bool* present = nullptr) {
    const Json::Value* v = member(obj, field);
    if (present) *present = v != nullptr;
    if (!v) {
        if (need == Need::required) return field_error(w, field, "is required");
        return Ok{};
    }
    if (!v->isString()) return field_error(w, field, std::string("must be a string, not ") + json_type_name(*v));
    out = v->asString();
    return check_text(w, field, out, max_bytes, allow_empty);
}

// Integers must be JSON integers: 1.0, 1e3 and "1" are all refused.
Status get_int(const Json::Value& obj, std::string_view field, Need need, std::int64_t min,
               std::int64_t max, const Where& w, std::int64_t& out, bool* present = nullptr) {
    const Json::Value* v = member(obj, field);
    if (present) *present = v != nullptr;
    if (!v) {
        if (need == Need::required) return field_error(w, field, "is required");
        return Ok{};
    }
    if (v->type() != Json::intValue && v->type() != Json::uintValue)
        return field_error(w, field, std::string("must be an integer, not ") + json_type_name(*v));
    if (!v->isInt64())
        return field_error(w, field, "is outside " + std::to_string(min) + ".." + std::to_string(max));
    const std::int64_t n = v->asInt64();
    if (n < min || n > max)
        return field_error(w, field, std::to_string(n) + " is outside " + std::to_string(min) + ".." +
                                         std::to_string(max));
    out = n;
    return Ok{};
}

Status get_time(const Json::Value& obj, std::string_view field, const Where& w, UnixTime& out) {
    return get_int(obj, field, Need::required, 0, limits::kMaxTime, w, out);
}

Status get_bool(const Json::Value& obj, std::string_view field, const Where& w, bool& out) {
    const Json::Value* v = member(obj, field);
    if (!v) return field_error(w, field, "is required");
    if (!v->isBool()) return field_error(w, field, std::string("must be a boolean, not ") + json_type_name(*v));
    out = v->asBool();
    return Ok{};
}

// An array of strings, each checked by `check` (which returns "" when fine, or
// what is wrong). Duplicates are refused: a repeated approver, group or key is
// either a mistake or an attempt to look like more than it is.
using ElementCheck = std::function<std::string(const std::string&)>;

Status get_string_array(const Json::Value& obj, std::string_view field, Need need,
                        std::size_t max_count, std::size_t max_bytes, const ElementCheck& check,
                        const Where& w, std::vector<std::string>& out, bool* present = nullptr) {
    const Json::Value* v = member(obj, field);
    if (present) *present = v != nullptr;
    if (!v) {
        if (need == Need::required) return field_error(w, field, "is required");
        return Ok{};
    }
    if (!v->isArray()) return field_error(w, field, std::string("must be an array, not ") + json_type_name(*v));
    if (v->size() > max_count)
        return field_error(w, field, "has " + std::to_string(v->size()) + " entries; at most " +
                                         std::to_string(max_count) + " allowed");
    std::set<std::string> seen;
    for (Json::ArrayIndex i = 0; i < v->size(); ++i) {
        const std::string name = std::string(field) + "[" + std::to_string(i) + "]";
        const Json::Value& e = (*v)[i];
        if (!e.isString()) return field_error(w, name, std::string("must be a string, not ") + json_type_name(e));
        std::string s = e.asString();
        if (auto st = check_text(w, name, s, max_bytes, false); !st) return st;
        if (const std::string bad = check ? check(s) : std::string{}; !bad.empty())
            return field_error(w, name, quoted(s) + " " + bad);
        if (!seen.insert(s).second) return field_error(w, name, quoted(s) + " is listed twice");
        out.push_back(std::move(s));
    }
    return Ok{};
}

bool is_path_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '+' || c == '/';
}

// An absolute, normalised path of plain characters: "/bin/bash", not
// "/bin/../bin/bash", "/bin//bash", "bash" or "/bin/ba sh".
std::string check_absolute_path(std::string_view p) {
    if (p.empty() || p[0] != '/') return "is not an absolute path";
    if (p.size() > 1 && p.back() == '/') return "ends with '/'";
    for (const char c : p) {
        if (!is_path_char(c)) return "contains a character not allowed in a path here (allowed: A-Z a-z 0-9 . _ - + /)";
    }
    std::size_t start = 1;
    while (start <= p.size()) {
        std::size_t end = p.find('/', start);
        if (end == std::string_view::npos) end = p.size();
        const std::string_view seg = p.substr(start, end - start);
        if (seg.empty() && end != p.size()) return "contains '//'";
        if (seg == "." || seg == "..") return "contains a '.' or '..' component";
        start = end + 1;
    }
    return {};
}

// "ALL", or an absolute path optionally followed by arguments. Stricter than
// the protocol: printable ASCII, single spaces, and none of the characters
// sudoers gives a meaning to (, : = \ # " and the wildcards * ? [ ]), so that
// what the authority wrote is literally what sudo will allow.
std::string check_sudo_command(const std::string& cmd) {
    if (cmd == "ALL") return {};
    for (const char c : cmd) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7E) return "contains a non-printable or non-ASCII character";
    }
    if (cmd.front() == ' ' || cmd.back() == ' ') return "has leading or trailing spaces";
    if (cmd.find("  ") != std::string::npos) return "has consecutive spaces";
    static constexpr std::string_view kSudoersSpecial = ",:=\\#\"*?[]";
    for (const char c : cmd) {
        if (kSudoersSpecial.find(c) != std::string_view::npos)
            return std::string("contains '") + c + "', which sudoers would interpret (not allowed: , : = \\ # \" * ? [ ])";
    }
    const std::string path = cmd.substr(0, cmd.find(' '));
    if (std::string bad = check_absolute_path(path); !bad.empty())
        return "is not \"ALL\" and its command path " + bad;
    return {};
}

// The grant's key lines: the one validator sshd's lines also pass (jit/ssh_keys.hpp).
std::string check_ssh_key(const std::string& line) { return check_ssh_key_line(line); }

std::string check_posix_name(const std::string& s) {
    return is_posix_name(s) ? std::string{} : "is not a POSIX name (^[a-z_][a-z0-9_-]{0,31}$)";
}

Status parse_sudo(const Json::Value& v, const Where& w, SudoRule& out) {
    if (!v.isObject()) return field_error(w, "sudo", std::string("must be an object, not ") + json_type_name(v));
    const Where sw{w.code, w.prefix + ": sudo"};
    if (auto st = get_string(v, "run_as", Need::required, 32, false, sw, out.run_as); !st) return st;
    if (!is_posix_name(out.run_as))
        return field_error(sw, "run_as", quoted(out.run_as) + " " + check_posix_name(out.run_as));
    if (auto st = get_string_array(v, "commands", Need::required, limits::kMaxSudoCommands,
                                   limits::kMaxSudoCommandBytes, check_sudo_command, sw, out.commands);
        !st)
        return st;
    if (out.commands.empty()) return field_error(sw, "commands", "is empty (omit \"sudo\" for no sudo)");
    return Ok{};
}

Status parse_grant(const Json::Value& v, std::size_t index, Grant& g) {
    const std::string at = "grants[" + std::to_string(index) + "]";
    if (!v.isObject()) return make_error("grant", at + " must be an object, not " + json_type_name(v));
    // The id first, so every later message can name the grant.
    Where w{"grant", at};
    if (auto st = get_string(v, "id", Need::required, 64, false, w, g.id); !st) return st;
    if (!is_valid_grant_id(g.id))
        return field_error(w, "id", quoted(g.id) + " does not match ^[A-Za-z0-9._-]{1,64}$");
    w.prefix = "grant \"" + g.id + "\" (" + at + ")";

    if (auto st = get_string(v, "user", Need::required, 32, false, w, g.user); !st) return st;
    if (!is_posix_name(g.user)) return field_error(w, "user", quoted(g.user) + " " + check_posix_name(g.user));

    std::int64_t uid = 0;
    bool has_uid = false;
    if (auto st = get_int(v, "uid", Need::optional, limits::kMinUid, limits::kMaxUid, w, uid, &has_uid); !st)
        return st;
    if (has_uid) g.uid = static_cast<std::uint32_t>(uid);

    if (auto st = get_string(v, "display_name", Need::optional, limits::kMaxDisplayNameBytes, true, w,
                             g.display_name);
        !st)
        return st;
    if (g.display_name.find(':') != std::string::npos)
        return field_error(w, "display_name", "contains ':' (the passwd field separator)");

    bool has_shell = false;
    if (auto st = get_string(v, "shell", Need::optional, limits::kMaxShellBytes, false, w, g.shell, &has_shell); !st)
        return st;
    if (has_shell) {
        if (std::string bad = check_absolute_path(g.shell); !bad.empty())
            return field_error(w, "shell", quoted(g.shell) + " " + bad);
    }

    if (auto st = get_bool(v, "login", w, g.login); !st) return st;

    if (const Json::Value* sudo = member(v, "sudo")) {
        SudoRule rule;
        if (auto st = parse_sudo(*sudo, w, rule); !st) return st;
        g.sudo = std::move(rule);
    }

    if (auto st = get_string_array(v, "groups", Need::optional, limits::kMaxGroups, 32, check_posix_name, w,
                                   g.groups);
        !st)
        return st;

    if (auto st = get_time(v, "not_before", w, g.not_before); !st) return st;
    if (auto st = get_time(v, "not_after", w, g.not_after); !st) return st;
    if (g.not_after <= g.not_before)
        return field_error(w, "not_after", std::to_string(g.not_after) + " must be later than not_before (" +
                                               std::to_string(g.not_before) + ")");

    if (auto st = get_string(v, "reason", Need::required, limits::kMaxReasonBytes, false, w, g.reason); !st)
        return st;
    if (auto st = get_string(v, "ticket", Need::optional, limits::kMaxTicketBytes, true, w, g.ticket); !st)
        return st;
    if (auto st = get_string(v, "requested_by", Need::required, limits::kMaxPersonBytes, false, w, g.requested_by);
        !st)
        return st;
    if (auto st = get_string_array(v, "approved_by", Need::required, limits::kMaxApprovers,
                                   limits::kMaxPersonBytes, nullptr, w, g.approved_by);
        !st)
        return st;
    if (auto st = get_string_array(v, "ssh_authorized_keys", Need::optional, limits::kMaxSshKeys,
                                   limits::kMaxSshKeyBytes, check_ssh_key, w, g.ssh_authorized_keys);
        !st)
        return st;
    return Ok{};
}

// One user is one account: two grants may not give one user two uids, nor
// one uid to two users.
Status check_cross_grant(const std::vector<Grant>& grants) {
    std::unordered_map<std::string, std::size_t> by_id;
    std::unordered_map<std::string, std::uint32_t> uid_of_user;
    std::unordered_map<std::uint32_t, std::string> user_of_uid;
    for (std::size_t i = 0; i < grants.size(); ++i) {
        const Grant& g = grants[i];
        const std::string at = "grant \"" + g.id + "\" (grants[" + std::to_string(i) + "])";
        if (auto [it, fresh] = by_id.emplace(g.id, i); !fresh)
            return make_error("grant", at + ": field \"id\" duplicates grants[" + std::to_string(it->second) + "]");
        if (!g.uid) continue;
        if (auto [it, fresh] = uid_of_user.emplace(g.user, *g.uid); !fresh && it->second != *g.uid)
            return make_error("grant", at + ": field \"uid\" " + std::to_string(*g.uid) + " conflicts with uid " +
                                           std::to_string(it->second) + " given to user \"" + g.user +
                                           "\" by another grant");
        if (auto [it, fresh] = user_of_uid.emplace(*g.uid, g.user); !fresh && it->second != g.user)
            return make_error("grant", at + ": field \"uid\" " + std::to_string(*g.uid) +
                                           " is already given to user \"" + it->second + "\" by another grant");
    }
    return Ok{};
}

Status parse_revoked(const Json::Value& root, const std::vector<Grant>& grants, std::vector<Revocation>& out) {
    const Json::Value* v = member(root, "revoked");
    if (!v) return Ok{};  // audit-only information; absent means none
    if (!v->isArray()) return make_error("revoked", std::string("payload: field \"revoked\" must be an array, not ") + json_type_name(*v));
    if (v->size() > limits::kMaxRevoked)
        return make_error("revoked", "payload: field \"revoked\" has " + std::to_string(v->size()) +
                                         " entries; at most " + std::to_string(limits::kMaxRevoked) + " allowed");
    std::set<std::string> live;
    for (const Grant& g : grants) live.insert(g.id);
    std::set<std::string> seen;
    for (Json::ArrayIndex i = 0; i < v->size(); ++i) {
        const Json::Value& e = (*v)[i];
        const std::string at = "revoked[" + std::to_string(i) + "]";
        if (!e.isObject()) return make_error("revoked", at + " must be an object, not " + json_type_name(e));
        const Where w{"revoked", at};
        Revocation r;
        if (auto st = get_string(e, "id", Need::required, 64, false, w, r.id); !st) return st;
        if (!is_valid_grant_id(r.id))
            return field_error(w, "id", quoted(r.id) + " does not match ^[A-Za-z0-9._-]{1,64}$");
        if (auto st = get_time(e, "at", w, r.at); !st) return st;
        if (auto st = get_string(e, "by", Need::optional, limits::kMaxPersonBytes, true, w, r.by); !st) return st;
        if (auto st = get_string(e, "reason", Need::optional, limits::kMaxReasonBytes, true, w, r.reason); !st)
            return st;
        if (live.count(r.id))
            return field_error(w, "id", "\"" + r.id + "\" is also in grants: a grant cannot be live and revoked");
        if (!seen.insert(r.id).second) return field_error(w, "id", "\"" + r.id + "\" is listed twice");
        out.push_back(std::move(r));
    }
    return Ok{};
}

}  // namespace

Result<Json::Value> parse_payload_json(std::string_view bytes) {
    if (bytes.size() > limits::kMaxEnvelopeBytes)
        return make_error("payload", "payload is " + std::to_string(bytes.size()) + " bytes; at most " +
                                         std::to_string(limits::kMaxEnvelopeBytes) + " allowed");
    return parse_strict_json(bytes, limits::kMaxPayloadDepth, limits::kMaxPayloadElements, "payload", "payload");
}

Status parse_payload_header(const Json::Value& root, GrantsPayload& out) {
    const Json::Value* type = member(root, "type");
    if (!type) return make_error("type", "payload: field \"type\" is required");
    if (!type->isString() || type->asString() != kGrantsType)
        return make_error("type", "payload: field \"type\" is " +
                                      (type->isString() ? quoted(type->asString()) : std::string(json_type_name(*type))) +
                                      "; only \"jit.grants.v1\" is understood");
    out.type = type->asString();

    if (auto st = get_string(root, "host_id", Need::required, 128, false, Where{"host_id", "payload"}, out.host_id); !st)
        return st;
    if (!is_valid_host_id(out.host_id))
        return make_error("host_id", "payload: field \"host_id\" " + quoted(out.host_id) +
                                         " does not match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$");
    if (auto st = get_int(root, "revision", Need::required, 1, std::numeric_limits<std::int64_t>::max(),
                          Where{"revision", "payload"}, out.revision);
        !st)
        return st;
    if (auto st = get_time(root, "issued_at", Where{"issued_at", "payload"}, out.issued_at); !st) return st;
    if (auto st = get_time(root, "expires_at", Where{"expires_at", "payload"}, out.expires_at); !st) return st;
    return Ok{};
}

Status check_expiry_order(const GrantsPayload& p) {
    if (p.expires_at <= p.issued_at)
        return make_error("expires_at", "payload: field \"expires_at\" " + std::to_string(p.expires_at) +
                                            " must be later than issued_at (" + std::to_string(p.issued_at) + ")");
    return Ok{};
}

Status parse_payload_body(const Json::Value& root, GrantsPayload& out) {
    const Json::Value* grants = member(root, "grants");
    if (!grants) return make_error("payload", "payload: field \"grants\" is required (an empty array for no grants)");
    if (!grants->isArray())
        return make_error("payload", std::string("payload: field \"grants\" must be an array, not ") + json_type_name(*grants));
    if (grants->size() > limits::kMaxGrants)
        return make_error("payload", "payload: field \"grants\" has " + std::to_string(grants->size()) +
                                         " entries; at most " + std::to_string(limits::kMaxGrants) + " allowed");
    out.grants.clear();
    out.grants.reserve(grants->size());
    for (Json::ArrayIndex i = 0; i < grants->size(); ++i) {
        Grant g;
        if (auto st = parse_grant((*grants)[i], i, g); !st) return st;
        out.grants.push_back(std::move(g));
    }
    if (auto st = check_cross_grant(out.grants); !st) return st;
    out.revoked.clear();
    return parse_revoked(root, out.grants, out.revoked);
}

}  // namespace detail

Result<GrantsPayload> parse_payload(std::string_view bytes) {
    auto root = detail::parse_payload_json(bytes);
    if (!root) return root.error();
    GrantsPayload p;
    if (auto st = detail::parse_payload_header(*root, p); !st) return st.error();
    if (auto st = detail::check_expiry_order(p); !st) return st.error();
    if (auto st = detail::parse_payload_body(*root, p); !st) return st.error();
    return p;
}

std::string sudo_command_problem(const std::string& command) { return detail::check_sudo_command(command); }

}  // namespace jit
