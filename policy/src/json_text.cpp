#include <jit/json_text.hpp>

#include <json/writer.h>

namespace jit {

namespace {
std::string write(const Json::Value& v, const std::string& indentation) {
    Json::StreamWriterBuilder b;
    b["indentation"] = indentation;
    b["emitUTF8"] = true;
    return Json::writeString(b, v);
}
}  // namespace

std::string compact_json(const Json::Value& v) { return write(v, ""); }

std::string indented_json(const Json::Value& v, const std::string& indentation) { return write(v, indentation); }

}  // namespace jit
