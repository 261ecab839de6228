// jitctl status: the daemon's state (op=status): authority, last sync,
// revision, staleness, grants, sessions, enforcement, audit upload.
#include "daemon_client.hpp"
#include "output.hpp"

#include <jit/decision.hpp>

#include <iostream>

namespace jit::ctl {
namespace {

void run_status(const DaemonOptions& g, bool json, ExitCode& ec) {
    auto parsed = ask_json(g, "status", "the daemon's status", ec, json);
    if (!parsed) return;
    const Json::Value& s = *parsed;
    if (json) return print_json(s);
    const std::int64_t now = s["now"].asInt64();
    const Json::Value& sync = s["sync"];
    std::cout << "jit-helperd:  running (version " << s["version"].asString() << ", since " << iso(s["started_at"].asInt64())
              << ")\n";
    std::cout << "host:         " << s["host_id"].asString() << "\n";
    std::cout << "authority:    " << s["authority_url"].asString() << "\n";
    std::cout << "last sync:    " << iso(sync["last_attempt"].asInt64()) << ago(sync["last_attempt"].asInt64(), now) << ": "
              << (sync["last_result"].asString().empty() ? "no answer yet" : sync["last_result"].asString()) << "\n";
    std::cout << "last success: " << iso(sync["last_success"].asInt64()) << ago(sync["last_success"].asInt64(), now) << "\n";
    if (sync["consecutive_failures"].asInt() > 0)
        std::cout << "failures:     " << sync["consecutive_failures"].asInt() << " in a row, next try in "
                  << sync["next_retry_ms"].asInt64() / 1000 << " s\n";
    if (s["have_bundle"].asBool()) {
        std::cout << "revision:     " << s["revision"].asInt64() << " (issued " << iso(s["issued_at"].asInt64())
                  << ", expires " << iso(s["expires_at"].asInt64()) << ")\n";
        std::cout << "stale:        " << (s["stale"].asBool() ? "YES" : "no") << " (policy " << s["stale_policy"].asString()
                  << ")\n";
    } else {
        std::cout << "revision:     none (never heard from the authority: JIT users are denied)\n";
    }
    std::cout << "grants:       " << s["grants_active"].asUInt64() << " active, " << s["grants_total"].asUInt64()
              << " total\n";
    std::cout << "sessions:     " << s["sessions"].asUInt64() << "\n";
    if (s.isMember("enforcement")) {  // helperd/enforce (docs/enforcement.md)
        const Json::Value& e = s["enforcement"];
        std::cout << "enforcement:  ends sessions via " << e["terminator"].asString();
        if (e.isMember("next_wakeup"))
            std::cout << ", next window edge " << iso(e["next_wakeup"].asInt64()) << ago(e["next_wakeup"].asInt64(), now);
        std::cout << "\n";
        for (const auto& t : e["sessions"])
            std::cout << "  " << t["user"].asString() << " grant " << (t["grant_id"].asString().empty() ? "-" : t["grant_id"].asString())
                      << " " << t["service"].asString() << " tty " << (t["tty"].asString().empty() ? "-" : t["tty"].asString())
                      << " from " << (t["rhost"].asString().empty() ? "-" : t["rhost"].asString()) << " pid "
                      << t["pid"].asInt() << (t["logind_session"].asString().empty() ? "" : " logind " + t["logind_session"].asString())
                      << " since " << iso(t["opened_at"].asInt64()) << (t["ending"].asBool() ? " (ending)" : "") << "\n";
        if (e.isMember("sessions_not_listed"))
            std::cout << "  ... and " << e["sessions_not_listed"].asUInt64()
                      << " more session(s), not listed: the answer has to fit in one message\n";
        if (e.isMember("state_error")) std::cout << "  session table NOT SAVED: " << e["state_error"].asString() << "\n";
    }
    if (!s["publish_error"].asString().empty()) std::cout << "publish:      FAILED: " << s["publish_error"].asString() << "\n";
    if (s.isMember("upload")) {
        const Json::Value& u = s["upload"];
        std::cout << "audit upload: ";
        if (!u["enabled"].asBool()) {
            std::cout << "off (journal only)\n";
        } else {
            std::cout << u["pending"].asUInt64() << " event(s) not yet acknowledged by the authority";
            if (u["unsynced"].asUInt64() > 0) std::cout << " (" << u["unsynced"].asUInt64() << " awaiting disk sync)";
            std::cout << ", acknowledged through seq " << u["acked_through"].asUInt64() << "\n";
            if (u["consecutive_failures"].asUInt() > 0)
                std::cout << "              " << u["consecutive_failures"].asUInt() << " failed send(s) in a row: "
                          << u["last_error"].asString() << "\n";
            if (u["dropped_total"].asUInt64() > 0)
                std::cout << "              " << u["dropped_total"].asUInt64()
                          << " event(s) DROPPED since start (queue full; they are in the journal)\n";
        }
    }
}

}  // namespace

void register_status(CLI::App& app, std::shared_ptr<const DaemonOptions> g, ExitCode& ec) {
    auto j = std::make_shared<bool>(false);
    auto* sub = app.add_subcommand("status", "daemon state: authority, last sync, revision, staleness, grant count");
    sub->fallthrough();
    add_json_flag(sub, *j);
    sub->callback([g, j, &ec] { run_status(*g, *j, ec); });
}

}  // namespace jit::ctl
