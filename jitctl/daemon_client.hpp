// What jitctl's daemon commands (status, grants, check, request,
// request-status) share: the --socket and --timeout-ms options, one exchange
// with jit-helperd over its socket (docs/socket-protocol.md), and the time
// formats of their human output.
//
// Exit codes: 0 ok (check: allow or not managed), 1 the daemon answered an
// error / check-config found problems, 3 the daemon is not reachable,
// 10 check: deny.
#pragma once

#include "commands.hpp"
#include "output.hpp"

#include <jit/ipc.hpp>

#include <json/json.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace jit::ctl {

constexpr int kExitUnreachable = 3;
constexpr int kExitDeny = 10;

struct DaemonOptions {
    std::string socket;
    int timeout_ms = 5000;
    const CLI::Option* timeout_option = nullptr;  // set: --timeout-ms was given
};

// Adds --socket and --timeout-ms to the app; the commands read them.
std::shared_ptr<DaemonOptions> add_daemon_options(CLI::App& app);

// request and request-status wait for the authority through the daemon: as
// long as the daemon keeps such a connection open, unless --timeout-ms says.
DaemonOptions relayed(const DaemonOptions& g);

// One exchange; prints the error and sets the exit code on failure.
std::optional<ipc::Message> ask(const DaemonOptions& g, const ipc::Message& req, ExitCode& ec, bool json);

// Asks for `op` (status, grants) and parses the answer's "json" member; on
// failure prints the error (naming `what` when the JSON is not valid) and
// sets the exit code.
std::optional<Json::Value> ask_json(const DaemonOptions& g, const std::string& op, const std::string& what, ExitCode& ec,
                                    bool json);

// Every member of the answer but "status", as a JSON object.
void print_message_json(const ipc::Message& m);

// "2026-12-07 17:21:11Z", "never" for 0.
std::string iso(std::int64_t t);
// " (5 min ago)" / " (in 5 min)" relative to now, "" for 0.
std::string ago(std::int64_t t, std::int64_t now);

}  // namespace jit::ctl
