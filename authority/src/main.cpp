// jit-authority: the daemon (docs/authority.md, jit-authority.8).
#include "http_server.hpp"
#include "webhooks.hpp"

#include <jit/authority/config.hpp>
#include <jit/authority/crypto.hpp>
#include <jit/authority/service.hpp>
#include <jit/authority/store.hpp>
#include <jit/durable_file.hpp>

#include <CLI/CLI.hpp>
#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include <json/json.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <sstream>
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
    std::string config_file;
    Config* config = nullptr;  // what the Service reads (replaced in place at SIGHUP)
    Signer* signer = nullptr;
    event* rekey = nullptr;  // re-signing under a new key, between other work
};

void schedule_rekey(Loop* loop) {
    if (!loop->service->rekey_pending() || event_pending(loop->rekey, EV_TIMEOUT, nullptr)) return;
    timeval zero{0, 0};
    event_add(loop->rekey, &zero);
}

void on_rekey(evutil_socket_t, short, void* arg) {
    auto* loop = static_cast<Loop*>(arg);
    try {
        loop->service->rekey_step();
        schedule_rekey(loop);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jit-authority: re-signing under the new key: %s\n", e.what());  // the next tick retries
    }
}

// SIGHUP: the rules and the signing key (key rotation without a restart) are
// read again; a configuration or key that does not load changes nothing.
// Where it listens, TLS and the database need a restart.
void on_reload(evutil_socket_t, short, void* arg) {
    auto* loop = static_cast<Loop*>(arg);
    try {
        auto next = load_config(loop->config_file);
        if (!next) throw std::runtime_error(next.error().message);
        auto signer = Signer::load(next->settings.signing_key, next->settings.key_id);
        if (!signer) throw std::runtime_error(signer.error().message);
        const Settings& was = loop->config->settings;
        std::string kept;
        auto keep = [&kept](const char* key, auto& next_value, const auto& running) {
            if (next_value == running) return;
            kept += (kept.empty() ? "" : ", ") + std::string(key);
            next_value = running;
        };
        keep("database", next->settings.database, was.database);
        keep("listen", next->settings.listen, was.listen);
        keep("tls_cert", next->settings.tls_cert, was.tls_cert);
        keep("tls_key", next->settings.tls_key, was.tls_key);
        keep("client_ca", next->settings.client_ca, was.client_ca);
        const std::string old_key = loop->signer->key_id();
        *loop->config = std::move(*next);
        *loop->signer = std::move(*signer);
        std::fprintf(stderr, "jit-authority: reloaded %s (%zu rules; signing key %s%s)%s%s\n", loop->config_file.c_str(),
                     loop->config->rules.size(), loop->signer->key_id().c_str(),
                     old_key == loop->signer->key_id() ? "" : (", was " + old_key + ": re-signing every host's bundle").c_str(),
                     kept.empty() ? "" : "; not applied until a restart: ", kept.c_str());
        sd_notifyf(0, "STATUS=serving, key %s", loop->signer->key_id().c_str());
        schedule_rekey(loop);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jit-authority: reload failed, keeping the running configuration and key: %s\n", e.what());
    }
}

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
        // Only hosts with a poll held here need their bundle: one query for them all.
        std::vector<std::string> hosts;
        for (auto& host : loop->service->store().take_notifications())
            if (loop->server->holds_poll(host)) hosts.push_back(std::move(host));
        std::sort(hosts.begin(), hosts.end());
        hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
        if (hosts.empty()) return;
        for (const auto& b : loop->service->store().latest_bundles(hosts))
            if (b) loop->server->wake(*b);
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
        schedule_rekey(loop);
        loop->server->web().tick();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jit-authority: heartbeat: %s\n", e.what());
    }
}

int serve(Config cfg, const std::string& config_file, const std::string& port_file) {
    auto store = open_store(cfg.settings.database, false);
    auto signer = Signer::load(cfg.settings.signing_key, cfg.settings.key_id);
    if (!signer) throw std::runtime_error(signer.error().message);
    Service service(*store, *signer, cfg, wall_clock);
    event_base* base = event_base_new();
    if (base == nullptr) throw std::runtime_error("event_base_new failed");
    int rc = 0;
    {
        Webhooks webhooks(cfg);
        HttpServer server(base, service);
        service.on_issue([&server](const BundleRecord& b) { server.wake(b); });
        service.on_change([&](const Service::Change& c) {
            server.web().changed(c);
            if (!webhooks.any()) return;
            auto host = service.store().host(c.host_id);
            webhooks.notify(c, host ? host->labels : std::vector<std::string>{}, service.now());
        });
        std::string ports;
        for (const auto& l : cfg.settings.listen) ports += std::to_string(server.listen(l)) + "\n";
        if (!port_file.empty()) write_port_file(port_file, ports);
        Loop loop{base, &server, &service, nullptr, config_file, &cfg, &*signer};
        event* term = evsignal_new(base, SIGTERM, on_signal, &loop);
        event* intr = evsignal_new(base, SIGINT, on_signal, &loop);
        event* hup = evsignal_new(base, SIGHUP, on_reload, &loop);
        loop.rekey = evtimer_new(base, on_rekey, &loop);
        event* tick = event_new(base, -1, EV_PERSIST, on_tick, &loop);
        timeval one{1, 0};
        if (int fd = store->notification_fd(); fd >= 0) {
            loop.notes = event_new(base, fd, EV_READ | EV_PERSIST, on_notification, &loop);
            event_add(loop.notes, nullptr);
        }
        event_add(term, nullptr);
        event_add(intr, nullptr);
        event_add(hup, nullptr);
        event_add(tick, &one);
        std::signal(SIGPIPE, SIG_IGN);
        sd_notifyf(0, "READY=1\nSTATUS=serving %zu hosts", store->hosts().size());
        std::fprintf(stderr, "jit-authority: serving (schema %d, key %s)\n", store->schema_version(),
                     signer->key_id().c_str());
        if (event_base_dispatch(base) < 0) rc = 1;
        server.flush_seen();
        event_free(term);
        event_free(intr);
        event_free(hup);
        event_free(loop.rekey);
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
    std::string person_cert;
    add_person->add_option("--cert", person_cert, "bind this client certificate (PEM) instead of making a token");
    auto* person_cert_cmd = app.add_subcommand(
        "person-cert", "bind a person to a new client certificate (a renewed one) directly in the database");
    person_cert_cmd->add_option("name", person, "user name")->required();
    std::string new_person_cert;
    person_cert_cmd->add_option("--cert", new_person_cert, "the new client certificate (PEM)")->required();
    auto* new_key = app.add_subcommand("new-key", "write a new Ed25519 key pair (PATH, PATH.pub) for key rotation");
    std::string new_key_path;
    new_key->add_option("path", new_key_path, "private key file to create (refuses to overwrite)")->required();
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
        if (add_person->parsed() || person_cert_cmd->parsed()) {
            auto store = open_store(cfg->settings.database, false);
            auto signer = Signer::load(cfg->settings.signing_key, cfg->settings.key_id);
            if (!signer) throw std::runtime_error(signer.error().message);
            Service service(*store, *signer, *cfg, wall_clock);
            const char* who = std::getenv("SUDO_USER");
            const Caller caller{std::string("local:") + (who ? who : "root"), "console"};
            // The file a certificate comes from is named in what goes wrong with it.
            auto read_cert = [](const std::string& path) {
                std::ifstream in(path);
                if (!in) throw std::runtime_error("cannot read certificate " + path);
                std::stringstream pem;
                pem << in.rdbuf();
                if (auto id = certificate_id(pem.str()); !id)
                    throw std::runtime_error("certificate " + path + ": " + id.error().message);
                return pem.str();
            };
            if (person_cert_cmd->parsed()) {
                const Json::Value r = service.set_person_cert(person, read_cert(new_person_cert), caller);
                std::printf("%s (%s) now authenticates with the client certificate SHA-256 %s (was %s)\n", person.c_str(),
                            r["role"].asCString(), r["cert_sha256"].asCString(),
                            r["old_cert_sha256"].asString().empty() ? "none" : r["old_cert_sha256"].asCString());
                return 0;
            }
            // A token, or (with --cert) the certificate instead.
            const Json::Value r = service.add_person(person, role, person_cert.empty() ? "" : read_cert(person_cert),
                                                     person_cert.empty(), caller);
            if (r["token"].isString())
                std::printf("%s\n", r["token"].asCString());
            else
                std::printf("%s (%s) authenticates with the client certificate SHA-256 %s\n", person.c_str(),
                            role.c_str(), r["cert_sha256"].asCString());
            return 0;
        }
        if (new_key->parsed()) {
            if (auto s = Signer::generate(new_key_path, new_key_path + ".pub"); !s) throw std::runtime_error(s.error().message);
            std::printf("signing key %s (0600) and %s.pub: give hosts the public key as /etc/jit/trusted-keys/KEY_ID.pub, "
                        "then set signing_key and key_id and reload (docs/authority.md, \"Rotating the signing key\")\n",
                        new_key_path.c_str(), new_key_path.c_str());
            return 0;
        }
        return serve(*cfg, config_file, port_file);
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
