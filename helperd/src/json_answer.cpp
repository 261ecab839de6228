#include <jit/helperd/json_answer.hpp>

#include <algorithm>

namespace jit::helperd {

namespace {

// The frame body "status=ok\njson=<escaped>\n": the local protocol doubles
// every backslash (and would escape a newline, which compact JSON has none of).
std::size_t body_size(const std::string& json) {
    return sizeof "status=ok\njson=\n" - 1 + json.size() + std::size_t(std::count(json.begin(), json.end(), '\\'));
}

Json::Value* find_list(Json::Value& v, const std::vector<std::string>& path, Json::Value** parent) {
    Json::Value* at = &v;
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (!at->isObject() || !at->isMember(path[i])) return nullptr;
        if (i + 1 == path.size()) *parent = at;
        at = &(*at)[path[i]];
    }
    return at->isArray() ? at : nullptr;
}

}  // namespace

ipc::Message json_answer(Json::Value v, const std::vector<std::vector<std::string>>& lists) {
    std::string json = compact_json(v);
    // Each round cuts the longest list by the share the answer is over (plus
    // a little), at least one entry: a few rounds, each one serialization.
    while (body_size(json) > ipc::kMaxBody) {
        Json::Value* longest = nullptr;
        Json::Value* parent = nullptr;
        std::string name;
        for (const auto& path : lists) {
            Json::Value* p = nullptr;
            Json::Value* list = find_list(v, path, &p);
            if (list && !list->empty() && (!longest || list->size() > longest->size())) {
                longest = list;
                parent = p;
                name = path.back();
            }
        }
        if (!longest) return {{"status", "error"}, {"error", "internal"}, {"message", "the answer is too large to send"}};
        const std::size_t size = body_size(json), n = longest->size();
        const std::size_t cut = std::min<std::size_t>(n, std::max<std::size_t>(1, n * (size - ipc::kMaxBody) / size + n / 32 + 1));
        longest->resize(Json::ArrayIndex(n - cut));
        const std::string counter = name + "_not_listed";
        (*parent)[counter] = Json::UInt64((*parent)[counter].asUInt64() + cut);
        json = compact_json(v);
    }
    return {{"status", "ok"}, {"json", json}};
}

}  // namespace jit::helperd
