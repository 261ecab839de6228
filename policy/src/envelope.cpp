// The signed envelope and the acceptance rules of PROTOCOL.md §1.
#include "payload_parts.hpp"
#include "strict_json.hpp"

#include <jit/base64.hpp>
#include <jit/bundle.hpp>
#include <jit/names.hpp>

namespace jit {

namespace {

Result<std::string> envelope_string(const Json::Value& root, const char* field, const std::string& code) {
    const Json::Value* v = root.find(field, field + std::char_traits<char>::length(field));
    if (!v) return make_error(code, std::string("envelope: field \"") + field + "\" is required");
    if (!v->isString()) return make_error(code, std::string("envelope: field \"") + field + "\" must be a string");
    return v->asString();
}

}  // namespace

Result<Envelope> parse_envelope(std::string_view json) {
    if (json.size() > limits::kMaxEnvelopeBytes)
        return make_error("envelope", "envelope is " + std::to_string(json.size()) + " bytes; at most " +
                                          std::to_string(limits::kMaxEnvelopeBytes) + " allowed");
    auto root = detail::parse_strict_json(json, limits::kMaxEnvelopeDepth, limits::kMaxEnvelopeElements, "envelope", "envelope");
    if (!root) return root.error();

    Envelope env;
    auto key_id = envelope_string(*root, "key_id", "key_id");
    if (!key_id) return key_id.error();
    if (!is_valid_key_id(*key_id))
        return make_error("key_id", "envelope: field \"key_id\" " + detail::quoted(*key_id) +
                                        " does not match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$");
    env.key_id = std::move(*key_id);

    auto payload = envelope_string(*root, "payload", "envelope");
    if (!payload) return payload.error();
    auto payload_bytes = base64_decode(*payload);
    if (!payload_bytes)
        return make_error("envelope", "envelope: field \"payload\" is not valid base64: " + payload_bytes.error().message);
    if (payload_bytes->empty()) return make_error("envelope", "envelope: field \"payload\" is empty");
    env.payload = std::move(*payload_bytes);

    auto signature = envelope_string(*root, "signature", "signature");
    if (!signature) return signature.error();
    auto sig_bytes = base64_decode(*signature);
    if (!sig_bytes)
        return make_error("signature", "envelope: field \"signature\" is not valid base64: " + sig_bytes.error().message);
    if (sig_bytes->size() != limits::kEd25519SignatureBytes)
        return make_error("signature", "envelope: field \"signature\" decodes to " + std::to_string(sig_bytes->size()) +
                                           " bytes; an Ed25519 signature is exactly 64");
    env.signature = std::move(*sig_bytes);
    return env;
}

int acceptance_rule(std::string_view code) {
    if (code == "envelope" || code == "key_id" || code == "signature") return 1;
    if (code == "type" || code == "host_id") return 2;
    if (code == "revision" || code == "fork") return 3;
    if (code == "issued_at" || code == "expires_at") return 4;
    if (code == "payload" || code == "grant" || code == "revoked") return 5;
    return 0;
}

Result<AcceptedBundle> verify_and_accept(std::string_view envelope_json, const TrustedKeys& keys,
                                         const AcceptContext& ctx) {
    // Rule 1: the signature, before the payload is even looked at.
    auto env = parse_envelope(envelope_json);
    if (!env) return env.error();
    if (auto st = keys.verify(env->key_id, env->payload, env->signature); !st) return st.error();

    auto root = detail::parse_payload_json(env->payload);
    if (!root) return root.error();
    GrantsPayload p;
    if (auto st = detail::parse_payload_header(*root, p); !st) return st.error();

    // Rule 2: type (checked by the header parser) and host.
    if (!is_valid_host_id(ctx.host_id))
        return make_error("host_id", "this host's id " + detail::quoted(ctx.host_id) +
                                         " is not a valid host id, so no bundle can be accepted");
    if (p.host_id != ctx.host_id)
        return make_error("host_id", "payload is for host \"" + p.host_id + "\", but this host is \"" +
                                         ctx.host_id + "\"");

    // Rule 3: no rollback, no fork.
    if (p.revision < ctx.last_revision)
        return make_error("revision", "payload revision " + std::to_string(p.revision) +
                                          " is older than the last accepted revision " +
                                          std::to_string(ctx.last_revision) + " (rollback)");
    if (p.revision == ctx.last_revision && env->payload != ctx.last_payload)
        return make_error("fork", "payload revision " + std::to_string(p.revision) +
                                      " equals the last accepted revision but its bytes differ (fork)" +
                                      (ctx.last_payload.empty() ? "; the previously accepted bytes are unknown" : ""));

    // Rule 4: issued_at within the skew allowance, expires_at after issued_at.
    // No value of now or skew may overflow: a difference too large for int64
    // is certainly beyond any allowance.
    std::int64_t ahead = 0;
    const bool overflow = __builtin_sub_overflow(p.issued_at, ctx.now, &ahead);
    if (p.issued_at > ctx.now && (overflow || ahead > ctx.clock_skew))
        return make_error("issued_at", "payload issued_at " + std::to_string(p.issued_at) + " is " +
                                           (overflow ? std::string("far") : std::to_string(ahead) + " s") +
                                           " in the future; the clock-skew allowance is " +
                                           std::to_string(ctx.clock_skew) + " s");
    if (auto st = detail::check_expiry_order(p); !st) return st.error();

    // Rule 5: every grant well-formed.
    if (auto st = detail::parse_payload_body(*root, p); !st) return st.error();

    return AcceptedBundle{std::move(*env), std::move(p)};
}

}  // namespace jit
