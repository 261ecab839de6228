#include "daemon_client.hpp"

#include <jit/decision.hpp>
#include <jit/helperd/config.hpp>

#include <ctime>

namespace jit::ctl {

std::shared_ptr<DaemonOptions> add_daemon_options(CLI::App& app) {
    auto g = std::make_shared<DaemonOptions>();
    g->socket = JIT_SOCKET_PATH;
    app.add_option("--socket", g->socket, "jit-helperd socket (default " JIT_SOCKET_PATH ")")->envname("JITCTL_SOCKET");
    g->timeout_option = app.add_option("--timeout-ms", g->timeout_ms,
                                       "how long to wait for the daemon (default 5000; request, request-status: 85000)");
    return g;
}

DaemonOptions relayed(const DaemonOptions& g) {
    DaemonOptions r = g;
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

std::optional<ipc::Message> ask(const DaemonOptions& g, const ipc::Message& req, ExitCode& ec, bool json) {
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

std::optional<Json::Value> ask_json(const DaemonOptions& g, const std::string& op, const std::string& what, ExitCode& ec,
                                    bool json) {
    auto answer = ask(g, {{"op", op}}, ec, json);
    if (!answer) return std::nullopt;
    const std::string text = ipc::get(*answer, "json");
    Json::CharReaderBuilder b;
    std::unique_ptr<Json::CharReader> r(b.newCharReader());
    std::string errs;
    Json::Value out;
    if (!r->parse(text.data(), text.data() + text.size(), &out, &errs)) {
        print_error(json, "bad_answer", what + " is not valid JSON");
        ec.value = kExitError;
        return std::nullopt;
    }
    return out;
}

void print_message_json(const ipc::Message& m) {
    Json::Value v(Json::objectValue);
    for (const auto& [k, val] : m)
        if (k != "status") v[k] = val;
    print_json(v);
}

}  // namespace jit::ctl
