// jitctl's daemon commands: status, grants, check, check-config, request,
// request-status. They talk to jit-helperd over its socket (op=status,
// grants, explain, request, request_status; docs/socket-protocol.md).
//
// Exit codes: 0 ok (check: allow or not managed), 1 the daemon answered an
// error / check-config found problems, 3 the daemon is not reachable,
// 10 check: deny.
#include "commands.hpp"
#include "output.hpp"

#include <jit/bundle.hpp>
#include <jit/decision.hpp>
#include <jit/helperd/config.hpp>
#include <jit/helperd/curl_transport.hpp>
#include <jit/ipc.hpp>

#include <json/json.h>

#include <ctime>
#include <iostream>
#include <memory>
#include <sstream>

namespace jit::ctl {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUnreachable = 3;
constexpr int kExitDeny = 10;

struct Globals {
    std::string socket = "/run/jit/helperd.sock";
    int timeout_ms = 5000;
    const CLI::Option* timeout_option = nullptr;  // set: --timeout-ms was given
};

// request and request-status wait for the authority through the daemon: as
// long as the daemon keeps such a connection open, unless --timeout-ms says.
Globals relayed(const Globals& g) {
    Globals r = g;
    if (!g.timeout_option || g.timeout_option->count() == 0) r.timeout_ms = helperd::kRelayAnswerTimeoutMs;
    return r;
}

std::string iso(std::int64_t t) {
    if (t <= 0) return "never";
    std::time_t tt = std::time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
}

std::string ago(std::int64_t t, std::int64_t now) {
    if (t <= 0) return "";
    return t <= now ? " (" + jit::format_duration(now - t) + " ago)" : " (in " + jit::format_duration(t - now) + ")";
}

// One exchange; prints the error and sets the exit code on failure.
std::optional<ipc::Message> ask(const Globals& g, const ipc::Message& req, ExitCode& ec, bool json) {
    std::string err;
    auto res = ipc::call(g.socket, req, std::chrono::milliseconds(g.timeout_ms), &err);
    if (!res) {
        print_error(json, "unreachable",
                    "jit-helperd is not reachable at " + g.socket + ": " + err +
                        " (is it running? systemctl status jit-helperd)");
        ec.value = kExitUnreachable;
        return std::nullopt;
    }
    if (ipc::get(*res, "status") != "ok") {
        print_error(json, ipc::get(*res, "error"),
                    "jit-helperd refused: " + ipc::get(*res, "error") + ": " + ipc::get(*res, "message"));
        ec.value = kExitError;
        return std::nullopt;
    }
    return res;
}

bool parse_json(const std::string& text, Json::Value& out) {
    Json::CharReaderBuilder b;
    std::unique_ptr<Json::CharReader> r(b.newCharReader());
    std::string errs;
    return r->parse(text.data(), text.data() + text.size(), &out, &errs);
}

void print_message_json(const ipc::Message& m) {
    Json::Value v(Json::objectValue);
    for (const auto& [k, val] : m)
        if (k != "status") v[k] = val;
    print_json(v);
}

void run_status(const Globals& g, bool json, ExitCode& ec) {
    auto res = ask(g, {{"op", "status"}}, ec, json);
    if (!res) return;
    Json::Value s;
    if (!parse_json(ipc::get(*res, "json"), s)) {
        print_error(json, "bad_answer", "the daemon's status is not valid JSON");
        ec.value = kExitError;
        return;
    }
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

void run_grants(const Globals& g, bool json, ExitCode& ec) {
    auto res = ask(g, {{"op", "grants"}}, ec, json);
    if (!res) return;
    Json::Value s;
    if (!parse_json(ipc::get(*res, "json"), s)) {
        print_error(json, "bad_answer", "the daemon's answer is not valid JSON");
        ec.value = kExitError;
        return;
    }
    if (json) return print_json(s);
    const std::int64_t now = s["now"].asInt64();
    if (!s["have_bundle"].asBool()) std::cout << "(no grants bundle yet: never heard from the authority)\n";
    for (const auto& gr : s["refused"]) {
        std::cout << gr["id"].asString() << "  " << gr["user"].asString() << "  refused by host limits  "
                  << iso(gr["not_before"].asInt64()) << " .. " << iso(gr["not_after"].asInt64()) << "\n";
        for (const auto& l : gr["limits"]) std::cout << "    host limit: " << l.asString() << "\n";
    }
    if (s["grants"].empty()) {
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
}

void run_check(const Globals& g, const std::string& user, const std::string& service, const std::string& kind,
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

void run_check_config(const std::string& path, bool json, ExitCode& ec) {
    std::vector<std::string> problems;
    std::string host, url;
    std::size_t nkeys = 0;
    auto cfg = helperd::load_config(path);
    if (!cfg) {
        std::istringstream ss(cfg.error().message);
        for (std::string line; std::getline(ss, line);) problems.push_back(line);
    } else {
        host = cfg->authority.host_id;
        url = cfg->authority.url;
        auto keys = TrustedKeys::load_dir(cfg->authority.trusted_keys_dir);
        if (!keys) problems.push_back(path + ": key 'authority.trusted_keys_dir': " + keys.error().message);
        else nkeys = keys->size();
        if (!cfg->authority.token_file.empty())
            if (auto t = helperd::read_token_file(cfg->authority.token_file); !t)
                problems.push_back(path + ": key 'authority.token_file': " + t.error().message);
    }
    if (json) {
        Json::Value v(Json::objectValue);
        v["config"] = path;
        v["ok"] = problems.empty();
        Json::Value list(Json::arrayValue);
        for (const auto& p : problems) list.append(p);
        v["problems"] = list;
        if (problems.empty()) {
            v["host_id"] = host;
            v["authority_url"] = url;
            v["trusted_keys"] = Json::UInt64(nkeys);
        }
        print_json(v);
    } else if (problems.empty()) {
        std::cout << path << ": OK (host " << host << ", authority " << url << ", " << nkeys << " trusted key(s))\n";
    } else {
        for (const auto& p : problems) std::cerr << p << "\n";
    }
    ec.value = problems.empty() ? 0 : kExitError;
}

void run_request(const Globals& g, const std::string& reason, const std::string& duration,
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

void run_request_status(const Globals& g, const std::string& id, bool json, ExitCode& ec) {
    auto res = ask(relayed(g), {{"op", "request_status"}, {"id", id}}, ec, json);
    if (!res) return;
    if (json) return print_message_json(*res);
    std::cout << "request " << ipc::get(*res, "id") << ": " << ipc::get(*res, "state") << "\n";
    if (!ipc::get(*res, "decided_by").empty()) std::cout << "decided by: " << ipc::get(*res, "decided_by") << "\n";
    if (!ipc::get(*res, "grant_id").empty()) std::cout << "grant: " << ipc::get(*res, "grant_id") << "\n";
    if (!ipc::get(*res, "message").empty()) std::cout << ipc::get(*res, "message") << "\n";
}

}  // namespace

void register_daemon_commands(CLI::App& app, ExitCode& exit_code) {
    auto g = std::make_shared<Globals>();
    app.add_option("--socket", g->socket, "jit-helperd socket (default /run/jit/helperd.sock)")
        ->envname("JITCTL_SOCKET");
    g->timeout_option = app.add_option("--timeout-ms", g->timeout_ms,
                                       "how long to wait for the daemon (default 5000; request, request-status: 85000)");
    ExitCode* ec = &exit_code;

    auto json_flag = [](CLI::App* sub, std::shared_ptr<bool> j) { sub->add_flag("--json", *j, "machine-readable output"); };

    {
        auto j = std::make_shared<bool>(false);
        auto* sub = app.add_subcommand("status", "daemon state: authority, last sync, revision, staleness, grant count");
        sub->fallthrough();
        json_flag(sub, j);
        sub->callback([g, j, ec] { run_status(*g, *j, *ec); });
    }
    {
        auto j = std::make_shared<bool>(false);
        auto* sub = app.add_subcommand("grants", "grants this host holds, with time left (your own unless root)");
        sub->fallthrough();
        json_flag(sub, j);
        sub->callback([g, j, ec] { run_grants(*g, *j, *ec); });
    }
    {
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
        json_flag(sub, j);
        sub->callback([g, j, user, service, kind, run_as, ec] { run_check(*g, *user, *service, *kind, *run_as, *j, *ec); });
    }
    {
        auto j = std::make_shared<bool>(false);
        auto path = std::make_shared<std::string>(std::string(helperd::kDefaultConfigPath));
        auto* sub = app.add_subcommand("check-config", "validate helperd.conf (and trusted keys, token file) without the daemon");
        sub->add_option("-c,--config", *path, "configuration file (default /etc/jit/helperd.conf)");
        json_flag(sub, j);
        sub->callback([path, j, ec] { run_check_config(*path, *j, *ec); });
    }
    {
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
        json_flag(sub, j);
        sub->callback([=] {
            run_request(*g, *reason, *duration, *sudo, *run_as, *ticket, *no_login, *extend, *grant, *j, *ec);
        });
    }
    {
        auto j = std::make_shared<bool>(false);
        auto id = std::make_shared<std::string>();
        auto* sub = app.add_subcommand("request-status", "state of an access request");
        sub->fallthrough();
        sub->add_option("id", *id, "request id")->required();
        json_flag(sub, j);
        sub->callback([g, id, j, ec] { run_request_status(*g, *id, *j, *ec); });
    }
}

}  // namespace jit::ctl
