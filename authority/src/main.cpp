// jit-authority: the daemon (docs/authority.md, jit-authority.8).
#include "http_server.hpp"

#include <jit/authority/config.hpp>
#include <jit/authority/crypto.hpp>
#include <jit/authority/service.hpp>
#include <jit/authority/store.hpp>
#include <jit/durable_file.hpp>

#include <CLI/CLI.hpp>
#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace jit::authority;

constexpr int kExitConfig = 2;
// The database cannot be opened or migrated (corrupt, newer schema, disk):
// restarting will not help, and starting on an empty one would hand hosts
// lower revisions than they hold. The unit does not restart on it.
constexpr int kExitStorage = 3;

// The listening ports, one a line, for whoever started us with --port-file.
void write_port_file(const std::string& path, const std::string& ports) {
    if (auto st = jit::durable::write_file_durably(path, ports, {.mode = 0644}); !st)
        throw std::runtime_error(st.error().message);
}

jit::UnixTime wall_clock() { return static_cast<jit::UnixTime>(std::time(nullptr)); }

struct Loop {
    event_base* base = nullptr;
    HttpServer* server = nullptr;
    Service* service = nullptr;
    event* notes = nullptr;  // other replicas' revisions (PostgreSQL), or none
};

void on_signal(evutil_socket_t, short, void* arg) {
    auto* loop = static_cast<Loop*>(arg);
    sd_notify(0, "STOPPING=1");
    loop->server->shutdown();
    event_base_loopexit(loop->base, nullptr);
}

// Another replica committed revisions: answer the polls held here.
void on_notification(evutil_socket_t, short, void* arg) {
    auto* loop = static_cast<Loop*>(arg);
    try {
        for (const auto& host : loop->service->store().take_notifications())
            if (auto b = loop->service->store().latest_bundle(host)) loop->server->wake(*b);
    } catch (const std::exception& e) {
        // A lost LISTEN connection stays readable: stop watching it rather
        // than spin. Polls held here then see other replicas' changes when
        // their wait ends and the host polls again (at most max_wait later).
        std::fprintf(stderr, "jit-authority: notifications from other replicas stopped: %s\n", e.what());
        event_del(loop->notes);
    }
}

void on_tick(evutil_socket_t, short, void* arg) {
    auto* loop = static_cast<Loop*>(arg);
    try {
        loop->server->flush_seen();
        loop->service->tick();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jit-authority: heartbeat: %s\n", e.what());
    }
}

int serve(const Config& cfg, const std::string& port_file) {
    auto store = open_store(cfg.settings.database, false);
    auto signer = Signer::load(cfg.settings.signing_key, cfg.settings.key_id);
    if (!signer) throw std::runtime_error(signer.error().message);
    Service service(*store, *signer, cfg, wall_clock);
    event_base* base = event_base_new();
    if (base == nullptr) throw std::runtime_error("event_base_new failed");
    int rc = 0;
    {
        HttpServer server(base, service);
        service.on_issue([&server](const BundleRecord& b) { server.wake(b); });
        std::string ports;
        for (const auto& l : cfg.settings.listen) ports += std::to_string(server.listen(l)) + "\n";
        if (!port_file.empty()) write_port_file(port_file, ports);
        Loop loop{base, &server, &service};
        event* term = evsignal_new(base, SIGTERM, on_signal, &loop);
        event* intr = evsignal_new(base, SIGINT, on_signal, &loop);
        event* tick = event_new(base, -1, EV_PERSIST, on_tick, &loop);
        timeval one{1, 0};
        if (int fd = store->notification_fd(); fd >= 0) {
            loop.notes = event_new(base, fd, EV_READ | EV_PERSIST, on_notification, &loop);
            event_add(loop.notes, nullptr);
        }
        event_add(term, nullptr);
        event_add(intr, nullptr);
        event_add(tick, &one);
        std::signal(SIGPIPE, SIG_IGN);
        sd_notifyf(0, "READY=1\nSTATUS=serving %zu hosts", store->hosts().size());
        std::fprintf(stderr, "jit-authority: serving (schema %d, key %s)\n", store->schema_version(),
                     signer->key_id().c_str());
        if (event_base_dispatch(base) < 0) rc = 1;
        server.flush_seen();
        event_free(term);
        event_free(intr);
        event_free(tick);
        if (loop.notes != nullptr) event_free(loop.notes);
    }
    event_base_free(base);
    return rc;
}

int init(const Config& cfg) {
    auto store = open_store(cfg.settings.database, true);
    std::printf("database %s (schema %d)\n", cfg.settings.database.c_str(), store->schema_version());
    struct stat st{};
    if (stat(cfg.settings.signing_key.c_str(), &st) == 0) {
        std::printf("signing key %s exists; kept\n", cfg.settings.signing_key.c_str());
    } else {
        const std::string pub = cfg.settings.signing_key + ".pub";
        if (auto s = Signer::generate(cfg.settings.signing_key, pub); !s) throw std::runtime_error(s.error().message);
        std::printf("signing key %s; give hosts %s as /etc/jit/trusted-keys/%s.pub\n", cfg.settings.signing_key.c_str(),
                    pub.c_str(), cfg.settings.key_id.c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"jit-authority: the central authority of jitlogin (PROTOCOL.md v1)"};
    std::string config_file = "/etc/jit/authority.conf";
    std::string port_file;
    bool do_init = false;
    app.add_option("-c,--config", config_file, "configuration and rules file")->capture_default_str();
    app.add_option("--port-file", port_file, "write the bound ports here, one per line (for tests)");
    app.add_flag("--init", do_init, "create the database and the signing key, then exit");
    auto* check = app.add_subcommand("check", "validate the configuration and exit");
    auto* add_person = app.add_subcommand("add-person", "add a person directly in the database and print their token");
    std::string person, role = "admin";
    add_person->add_option("name", person, "user name")->required();
    add_person->add_option("--role", role, "admin, approver or requester")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    auto cfg = load_config(config_file);
    if (!cfg) {
        std::fprintf(stderr, "jit-authority: %s\n", cfg.error().message.c_str());
        return kExitConfig;
    }
    try {
        if (check->parsed()) {
            std::printf("%s: ok (%zu groups, %zu rules)\n", config_file.c_str(), cfg->groups.size(), cfg->rules.size());
            return 0;
        }
        if (do_init) return init(*cfg);
        if (add_person->parsed()) {
            auto store = open_store(cfg->settings.database, false);
            auto signer = Signer::load(cfg->settings.signing_key, cfg->settings.key_id);
            if (!signer) throw std::runtime_error(signer.error().message);
            Service service(*store, *signer, *cfg, wall_clock);
            const char* who = std::getenv("SUDO_USER");
            std::printf("%s\n", service.add_person(person, role, Caller{std::string("local:") + (who ? who : "root"), "console"}).c_str());
            return 0;
        }
        return serve(*cfg, port_file);
    } catch (const ApiError& e) {
        std::fprintf(stderr, "jit-authority: %s\n", e.what());
        return 1;
    } catch (const StoreError& e) {
        std::fprintf(stderr, "jit-authority: database %s: %s\n", cfg->settings.database.c_str(), e.what());
        sd_notifyf(0, "STATUS=database unusable: %s", e.what());
        return kExitStorage;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jit-authority: %s\n", e.what());
        return 1;
    }
}
