#include "output.hpp"
#include "commands.hpp"
#include <jit/json_text.hpp>

#include <iostream>

namespace jit::ctl {

namespace {
std::string write(const Json::Value& v, const char* indentation) { return indented_json(v, indentation); }
}  // namespace

void print_json(const Json::Value& v) { std::cout << write(v, "  ") << "\n"; }

std::string json_line(const Json::Value& v) { return write(v, ""); }

void print_error(bool json, const std::string& code, const std::string& message, const Json::Value& extra) {
    std::cerr << "jitctl: " << message << "\n";
    if (!json) return;
    Json::Value v = extra;
    v["error"] = code;
    v["message"] = message;
    std::cout << json_line(v) << "\n" << std::flush;
}

void add_json_flag(CLI::App* sub, bool& json) { sub->add_flag("--json", json, "machine-readable output"); }

}  // namespace jit::ctl
