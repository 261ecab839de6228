// jitctl grants: the grants this host holds (op=grants), with time left;
// the daemon shows a non-root caller only their own.
#include "daemon_client.hpp"
#include "output.hpp"

#include <jit/decision.hpp>

#include <iostream>

namespace jit::ctl {
namespace {

void run_grants(const DaemonOptions& g, bool json, ExitCode& ec) {
    auto parsed = ask_json(g, "grants", "the daemon's answer", ec, json);
    if (!parsed) return;
    const Json::Value& s = *parsed;
    if (json) return print_json(s);
    const std::int64_t now = s["now"].asInt64();
    if (!s["have_bundle"].asBool()) std::cout << "(no grants bundle yet: never heard from the authority)\n";
    for (const auto& gr : s["refused"]) {
        std::cout << gr["id"].asString() << "  " << gr["user"].asString() << "  refused by host limits  "
                  << iso(gr["not_before"].asInt64()) << " .. " << iso(gr["not_after"].asInt64()) << "\n";
        for (const auto& l : gr["limits"]) std::cout << "    host limit: " << l.asString() << "\n";
    }
    if (s.isMember("refused_not_listed"))
        std::cout << "... and " << s["refused_not_listed"].asUInt64() << " more refused grant(s), not listed\n";
    if (s["grants"].empty() && !s.isMember("grants_not_listed")) {
        std::cout << "no grants\n";
        return;
    }
    for (const auto& gr : s["grants"]) {
        std::string left;
        if (gr["state"].asString() == "active") left = jit::format_duration(gr["seconds_left"].asInt64()) + " left";
        else if (gr["state"].asString() == "pending") left = "starts in " + jit::format_duration(gr["not_before"].asInt64() - now);
        else left = "ended " + jit::format_duration(now - gr["not_after"].asInt64()) + " ago";
        std::cout << gr["id"].asString() << "  " << gr["user"].asString() << "  " << gr["state"].asString() << "  "
                  << iso(gr["not_before"].asInt64()) << " .. " << iso(gr["not_after"].asInt64()) << "  (" << left << ")\n";
        std::string rights = gr["login"].asBool() ? "login" : "no login";
        if (gr.isMember("sudo")) {
            rights += ", sudo as " + gr["sudo"]["run_as"].asString() + ":";
            for (const auto& c : gr["sudo"]["commands"]) rights += " " + c.asString();
        }
        std::cout << "    rights: " << rights << "\n";
        std::cout << "    reason: " << gr["reason"].asString();
        if (!gr["ticket"].asString().empty()) std::cout << " [" << gr["ticket"].asString() << "]";
        std::cout << "\n    requested by " << gr["requested_by"].asString() << ", approved by ";
        std::string ap;
        for (const auto& a : gr["approved_by"]) ap += (ap.empty() ? "" : ", ") + a.asString();
        std::cout << (ap.empty() ? "(auto-approved)" : ap) << "\n";
        for (const auto& l : gr["limits"]) std::cout << "    host limit: " << l.asString() << "\n";
    }
    if (s.isMember("grants_not_listed"))
        std::cout << "... and " << s["grants_not_listed"].asUInt64()
                  << " more grant(s), not listed: the answer has to fit in one message (jitctl grants as the user lists theirs)\n";
}

}  // namespace

void register_grants(CLI::App& app, std::shared_ptr<const DaemonOptions> g, ExitCode& ec) {
    auto j = std::make_shared<bool>(false);
    auto* sub = app.add_subcommand("grants", "grants this host holds, with time left (your own unless root)");
    sub->fallthrough();
    add_json_flag(sub, *j);
    sub->callback([g, j, &ec] { run_grants(*g, *j, ec); });
}

}  // namespace jit::ctl
