// jitctl request: ask the authority for access to this host, as yourself,
// through the daemon (op=request), or extend your active grant.
#include "daemon_client.hpp"
#include "output.hpp"

#include <jit/helperd/config.hpp>

#include <iostream>
#include <vector>

namespace jit::ctl {
namespace {

void run_request(const DaemonOptions& g, const std::string& reason, const std::string& duration,
                 const std::vector<std::string>& sudo, const std::string& run_as, const std::string& ticket, bool no_login,
                 bool extend, const std::string& grant, bool json, ExitCode& ec) {
    if (!grant.empty() && !extend) {
        print_error(json, "usage", "--grant names the grant to extend: use it with --extend");
        ec.value = kExitUsage;
        return;
    }
    auto secs = helperd::parse_duration(duration);
    if (!secs || *secs <= 0) {
        print_error(json, "usage", "--duration '" + duration + "' is not a duration (e.g. 30m, 1h, 2h)");
        ec.value = kExitUsage;
        return;
    }
    ipc::Message req{{"op", "request"}, {"reason", reason}, {"duration_seconds", std::to_string(*secs)},
                     {"login", no_login ? "no" : "yes"}};
    if (!ticket.empty()) req["ticket"] = ticket;
    if (extend) {
        req["extend"] = "yes";
        if (!grant.empty()) req["grant"] = grant;
    }
    if (!sudo.empty()) {
        std::string cmds;
        for (const auto& c : sudo) cmds += (cmds.empty() ? "" : "\n") + c;
        req["sudo_commands"] = cmds;
        req["sudo_run_as"] = run_as;
    }
    auto res = ask(relayed(g), req, ec, json);
    if (!res) return;
    if (json) return print_message_json(*res);
    std::cout << "request " << ipc::get(*res, "id") << ": " << ipc::get(*res, "state");
    if (!ipc::get(*res, "approvals_required").empty())
        std::cout << " (" << ipc::get(*res, "approvals_required") << " approval(s) required)";
    std::cout << "\nfollow it with: jitctl request-status " << ipc::get(*res, "id") << "\n";
}

}  // namespace

void register_request(CLI::App& app, std::shared_ptr<const DaemonOptions> g, ExitCode& exit_code) {
    auto j = std::make_shared<bool>(false);
    auto reason = std::make_shared<std::string>();
    auto duration = std::make_shared<std::string>("1h");
    auto sudo = std::make_shared<std::vector<std::string>>();
    auto run_as = std::make_shared<std::string>("root");
    auto ticket = std::make_shared<std::string>();
    auto no_login = std::make_shared<bool>(false);
    auto* sub = app.add_subcommand("request", "ask the authority for access to this host (as yourself)");
    sub->fallthrough();
    sub->add_option("--reason", *reason, "why you need access")->required();
    sub->add_option("--duration", *duration, "window length, e.g. 30m, 1h (default 1h)");
    sub->add_option("--sudo", *sudo, "sudo command (absolute path, or ALL); repeatable")->take_all();
    sub->add_option("--run-as", *run_as, "sudo target user (default root)");
    sub->add_option("--ticket", *ticket, "change / incident reference");
    sub->add_flag("--no-login", *no_login, "sudo only, no login sessions");
    auto extend = std::make_shared<bool>(false);
    auto grant = std::make_shared<std::string>();
    sub->add_flag("--extend", *extend,
                  "move the end of your active grant by --duration instead (the session goes on)");
    sub->add_option("--grant", *grant, "with --extend: which of your grants (when you hold several)");
    add_json_flag(sub, *j);
    ExitCode* ec = &exit_code;
    sub->callback([=] {
        run_request(*g, *reason, *duration, *sudo, *run_as, *ticket, *no_login, *extend, *grant, *j, *ec);
    });
}

}  // namespace jit::ctl
