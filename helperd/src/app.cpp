#include <jit/helperd/app.hpp>

#include <jit/audit.hpp>
#include <jit/helperd/config.hpp>
#include <jit/helperd/curl_transport.hpp>
#include <jit/helperd/daemon.hpp>
#include <jit/helperd/publishers.hpp>
#include <jit/helperd/sd_loop.hpp>
#include <jit/helperd/socket_server.hpp>
#ifdef JIT_HAVE_ENFORCE
#include <jit/enforce/component.hpp>
#endif

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include <csignal>
#include <curl/curl.h>
#include <cstdio>
#include <memory>

#ifndef JIT_VERSION
#define JIT_VERSION "0"
#endif

namespace jit::helperd {
namespace {

constexpr int kExitConfig = 78;
const std::string kUserAgent = "jitlogin/" JIT_VERSION;

struct Loaded {
    Config config;
    TrustedKeys keys;
    TlsSettings tls;
};

Result<Loaded> load_all(const std::string& path) {
    auto cfg = load_config(path);
    if (!cfg) return cfg.error();
    auto keys = TrustedKeys::load_dir(cfg->authority.trusted_keys_dir);
    if (!keys) return make_error("config", path + ": key 'authority.trusted_keys_dir': " + keys.error().message);
    auto tls = tls_settings_from(*cfg, kUserAgent);
    if (!tls) return make_error("config", path + ": key 'authority.token_file': " + tls.error().message);
    return Loaded{std::move(*cfg), std::move(*keys), std::move(*tls)};
}

// Other parts of the daemon (enforcement, ...) attach here.
Status add_components(Daemon& daemon) {
#ifdef JIT_HAVE_ENFORCE
    // First, so that it sees each session before the home creator runs
    // (it records which homes jitlogin created: docs/enforcement.md).
    if (auto st = enforce::add_enforcement(daemon); !st) return st;
#endif
    return add_standard_publishers(daemon);
}

class App {
public:
    App(sd_event* event, Loaded loaded, std::string path)
        : event_(event), path_(std::move(path)), sink_(audit::make_default_sink("jit-helperd")), loop_(event),
          transport_(event, std::move(loaded.tls)),
          daemon_(std::move(loaded.config), std::move(loaded.keys),
                  Daemon::Deps{loop_, transport_, *sink_, accounts_}) {}

    int run() {
        if (auto st = add_components(daemon_); !st) return fail(st.error());
        if (auto st = daemon_.start(); !st) return fail(st.error());
        const Config& c = daemon_.config();
        server_ = std::make_unique<SocketServer>(
            event_, SocketServerOptions{c.socket.path, c.socket.mode, c.socket.group, c.socket.io_timeout_ms, c.socket.max_connections},
            [this](const ipc::Message& m, const Peer& p, std::function<void(ipc::Message)> reply) {
                daemon_.handle(m, p, std::move(reply));
            });
        if (auto st = server_->listen(); !st) return fail(st.error());
        sd_event_add_signal(event_, nullptr, SIGTERM, &App::on_stop, this);
        sd_event_add_signal(event_, nullptr, SIGINT, &App::on_stop, this);
        sd_event_add_signal(event_, nullptr, SIGHUP, &App::on_reload, this);
        std::uint64_t wd_usec = 0;
        if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
            watchdog_ms_ = std::int64_t(wd_usec / 2000);
            arm_watchdog();
        }
        daemon_.on_status_change = [this] { notify_status(); };
        sd_notifyf(0, "READY=1\nSTATUS=%s", daemon_.status_line().c_str());
        int r = sd_event_loop(event_);
        sd_notify(0, "STOPPING=1");
        server_.reset();
        return r < 0 ? 1 : exit_code_;
    }

private:
    int fail(const Error& e) {
        std::fprintf(stderr, "jit-helperd: %s\n", e.message.c_str());
        sink_->emit(audit::Event{audit::EventType::DaemonStopped, "jit-helperd cannot start: " + e.message, {}}
                        .add(std::string(audit::field::kError), e.code));
        return 1;
    }
    void notify_status() { sd_notifyf(0, "STATUS=%s", daemon_.status_line().c_str()); }
    void arm_watchdog() {
        loop_.call_after(std::chrono::milliseconds(watchdog_ms_), [this] {
            sd_notify(0, "WATCHDOG=1");
            arm_watchdog();
        });
    }
    static int on_stop(sd_event_source*, const signalfd_siginfo*, void* userdata) {
        auto* self = static_cast<App*>(userdata);
        sd_notify(0, "STOPPING=1");
        self->daemon_.stop();
        sd_event_exit(self->event_, 0);
        return 0;
    }
    static int on_reload(sd_event_source*, const signalfd_siginfo*, void* userdata) {
        auto* self = static_cast<App*>(userdata);
        sd_notify(0, "RELOADING=1");
        auto loaded = load_all(self->path_);
        if (!loaded) {
            self->sink_->emit(audit::Event{audit::EventType::SecurityAlert,
                                           "configuration reload failed, keeping the running configuration: " +
                                               loaded.error().message,
                                           {}}
                                  .add(std::string(audit::field::kAlert), "config_reload_failed")
                                  .add(std::string(audit::field::kPath), self->path_));
        } else {
            self->transport_.set_tls(std::move(loaded->tls));
            self->daemon_.reload(std::move(loaded->config), std::move(loaded->keys));
        }
        sd_notifyf(0, "READY=1\nSTATUS=%s", self->daemon_.status_line().c_str());
        return 0;
    }

    sd_event* event_;
    std::string path_;
    std::unique_ptr<audit::Sink> sink_;
    SdLoop loop_;
    CurlTransport transport_;
    SystemAccounts accounts_;
    Daemon daemon_;
    std::unique_ptr<SocketServer> server_;
    std::int64_t watchdog_ms_ = 0;
    int exit_code_ = 0;
};

}  // namespace

int check_config(const std::string& path, bool quiet) {
    auto loaded = load_all(path);
    if (!loaded) {
        std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
        return kExitConfig;
    }
    if (!quiet) {
        std::printf("%s: OK (host %s, authority %s, %zu trusted key(s))\n", path.c_str(),
                    loaded->config.authority.host_id.c_str(), loaded->config.authority.url.c_str(), loaded->keys.size());
        if (loaded->config.authority.plain_http)
            std::printf("warning: plain http to a loopback authority: for development and tests only\n");
    }
    return 0;
}

int run_app(const AppOptions& options) {
    auto loaded = load_all(options.config_path);
    if (!loaded) {
        std::fprintf(stderr, "jit-helperd: %s\n", loaded.error().message.c_str());
        return kExitConfig;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    sd_event* event = nullptr;
    if (sd_event_default(&event) < 0) {
        std::fprintf(stderr, "jit-helperd: cannot create the event loop\n");
        return 1;
    }
    int rc = 1;
    {
        App app(event, std::move(*loaded), options.config_path);
        rc = app.run();
    }
    sd_event_unref(event);
    return rc;
}

}  // namespace jit::helperd
