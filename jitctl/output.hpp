// How jitctl prints, in one place: results as indented JSON (--json), errors
// as one line. An error is always "jitctl: MESSAGE" on standard error; with
// --json it is also one JSON object on one line of standard output, so that
// a script reading the output line by line gets it whole.
#pragma once

#include <json/json.h>

#include <string>

namespace jit::ctl {

// Exit status of a command line jitctl did not understand (unknown command
// or option, missing or bad argument), as getopt-style tools use.
constexpr int kExitUsage = 2;
// Exit status of a command that ran and failed (the daemon refused, the
// config has problems).
constexpr int kExitError = 1;

// A result document, indented, UTF-8 kept as is.
void print_json(const Json::Value& v);
// v on one line (no newline added).
std::string json_line(const Json::Value& v);
// "jitctl: MESSAGE" on stderr; with json, {"error": CODE, "message":
// MESSAGE, ...extra members} on one line of stdout.
void print_error(bool json, const std::string& code, const std::string& message,
                 const Json::Value& extra = Json::Value(Json::objectValue));

}  // namespace jit::ctl
