// jitctl check USER: the decision pam_jit.so would get now, and why
// (op=explain). Exit 0 allow or not managed, 10 deny.
#include "daemon_client.hpp"
#include "output.hpp"

#include <iostream>

namespace jit::ctl {
namespace {

void run_check(const DaemonOptions& g, const std::string& user, const std::string& service, const std::string& kind,
               const std::string& run_as, bool json, ExitCode& ec) {
    ipc::Message req{{"op", "explain"}, {"user", user}, {"service", service}};
    if (!kind.empty()) req["kind"] = kind;
    if (!run_as.empty()) req["run_as"] = run_as;
    auto res = ask(g, req, ec, json);
    if (!res) return;
    const std::string decision = ipc::get(*res, "decision");
    if (decision != "allow" && decision != "deny" && decision != "ignore") {
        // Not a decision: never reported as "allowed" (exit 0).
        std::cerr << "jitctl: jit-helperd's answer has no valid decision ('" << decision << "')\n";
        ec.value = 1;
        return;
    }
    if (json) {
        print_message_json(*res);
    } else {
        std::cout << user << " via " << service << " (" << ipc::get(*res, "kind") << "): " << decision << " ("
                  << ipc::get(*res, "reason") << ")\n";
        if (!ipc::get(*res, "message").empty()) std::cout << ipc::get(*res, "message") << "\n";
        if (!ipc::get(*res, "grant_id").empty()) std::cout << "grant: " << ipc::get(*res, "grant_id") << "\n";
        if (!ipc::get(*res, "limits").empty()) std::cout << "host limits: " << ipc::get(*res, "limits") << "\n";
    }
    ec.value = decision == "deny" ? kExitDeny : 0;
}

}  // namespace

void register_check(CLI::App& app, std::shared_ptr<const DaemonOptions> g, ExitCode& ec) {
    auto j = std::make_shared<bool>(false);
    auto user = std::make_shared<std::string>();
    auto service = std::make_shared<std::string>("sshd");
    auto kind = std::make_shared<std::string>();
    auto run_as = std::make_shared<std::string>();
    auto* sub = app.add_subcommand("check", "the decision pam_jit.so would get for USER now, and why");
    sub->fallthrough();
    sub->add_option("user", *user, "login name")->required();
    sub->add_option("--service", *service, "PAM service: sshd, login, sudo, su, ... (default sshd)");
    sub->add_option("--kind", *kind, "override the classification: login, sudo or su");
    sub->add_option("--run-as", *run_as, "sudo target user");
    add_json_flag(sub, *j);
    sub->callback([g, j, user, service, kind, run_as, &ec] { run_check(*g, *user, *service, *kind, *run_as, *j, ec); });
}

}  // namespace jit::ctl
