// The payload parser in the pieces verify_and_accept needs to apply the
// acceptance rules in the protocol's order. Internal to jit_policy.
#pragma once

#include <jit/grant.hpp>
#include <jit/result.hpp>

#include <json/value.h>

#include <string_view>

namespace jit::detail {

// Well-formed, bounded JSON object (code "payload").
Result<Json::Value> parse_payload_json(std::string_view bytes);
// type, host_id, revision, issued_at, expires_at: present and of the right
// type and syntax (codes "type", "host_id", "revision", "issued_at",
// "expires_at"). Does not compare expires_at with issued_at.
Status parse_payload_header(const Json::Value& root, GrantsPayload& out);
// expires_at > issued_at (code "expires_at").
Status check_expiry_order(const GrantsPayload& p);
// grants and revoked (codes "payload", "grant", "revoked").
Status parse_payload_body(const Json::Value& root, GrantsPayload& out);

}  // namespace jit::detail
