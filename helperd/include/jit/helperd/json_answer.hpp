// The answer to op=status and op=grants: compact JSON in one frame of the
// local protocol (at most ipc::kMaxBody). Where the JSON would not fit (a
// host with a thousand sessions, a bundle of 4,096 grants), the longest of
// the named lists is cut from its end until it fits, and "<list>_not_listed"
// beside it says how many entries were left out: the counts elsewhere in the
// answer stay whole, and the reader is told the list is not.
#pragma once

#include <jit/ipc.hpp>
#include <jit/json_text.hpp>

#include <json/json.h>

#include <string>
#include <vector>

namespace jit::helperd {

// `lists`: each a path of object keys to an array in `v` ({"enforcement",
// "sessions"}, {"grants"}); paths that name no array are left alone. The
// error reply "internal" when even with every list empty it does not fit.
ipc::Message json_answer(Json::Value v, const std::vector<std::vector<std::string>>& lists);

using jit::compact_json;  // jit/json_text.hpp

}  // namespace jit::helperd
