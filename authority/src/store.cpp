// What the SQLite and PostgreSQL stores share (store.hpp).
#include <jit/authority/store.hpp>
#include <jit/json_text.hpp>

#include <json/json.h>

#include <memory>

namespace jit::authority {

std::string json_list(const std::vector<std::string>& v) {
    Json::Value a(Json::arrayValue);
    for (const auto& s : v) a.append(s);
    return compact_json(a);
}

std::vector<std::string> parse_list(const std::string& text) {
    Json::Value a;
    std::string err;
    std::unique_ptr<Json::CharReader> r(Json::CharReaderBuilder().newCharReader());
    if (!r->parse(text.data(), text.data() + text.size(), &a, &err) || !a.isArray())
        throw StoreError("stored list is not a JSON array: " + text);
    std::vector<std::string> out;
    for (const auto& s : a) out.push_back(s.asString());
    return out;
}

}  // namespace jit::authority
