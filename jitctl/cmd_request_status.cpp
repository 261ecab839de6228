// jitctl request-status ID: the state of an access request (op=request_status).
#include "daemon_client.hpp"
#include "output.hpp"

#include <iostream>

namespace jit::ctl {
namespace {

void run_request_status(const DaemonOptions& g, const std::string& id, bool json, ExitCode& ec) {
    auto res = ask(relayed(g), {{"op", "request_status"}, {"id", id}}, ec, json);
    if (!res) return;
    if (json) return print_message_json(*res);
    std::cout << "request " << ipc::get(*res, "id") << ": " << ipc::get(*res, "state") << "\n";
    if (!ipc::get(*res, "decided_by").empty()) std::cout << "decided by: " << ipc::get(*res, "decided_by") << "\n";
    if (!ipc::get(*res, "grant_id").empty()) std::cout << "grant: " << ipc::get(*res, "grant_id") << "\n";
    if (!ipc::get(*res, "message").empty()) std::cout << ipc::get(*res, "message") << "\n";
}

}  // namespace

void register_request_status(CLI::App& app, std::shared_ptr<const DaemonOptions> g, ExitCode& ec) {
    auto j = std::make_shared<bool>(false);
    auto id = std::make_shared<std::string>();
    auto* sub = app.add_subcommand("request-status", "state of an access request");
    sub->fallthrough();
    sub->add_option("id", *id, "request id")->required();
    add_json_flag(sub, *j);
    sub->callback([g, id, j, &ec] { run_request_status(*g, *id, *j, ec); });
}

}  // namespace jit::ctl
