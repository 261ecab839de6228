// JSON values written as text, one way everywhere (the daemon's answers, the
// audit report, the authority's documents and store, jitadm, jitctl, state
// files): UTF-8 left as it is, never \u-escaped; objects' keys in order.
#pragma once

#include <json/value.h>

#include <string>

namespace jit {

// One line, no spaces: what goes on the wire, into a column or a journal field.
std::string compact_json(const Json::Value& v);
// One member per line, nested by `indentation`: what a person or a diff reads.
std::string indented_json(const Json::Value& v, const std::string& indentation = "  ");

}  // namespace jit
