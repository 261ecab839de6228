#include <jit/helperd/app.hpp>

#include <jit/helperd/boundary.hpp>

#include <jit/audit.hpp>
#include <jit/helperd/config_check.hpp>
#include <jit/helperd/curl_transport.hpp>
#include <jit/helperd/daemon.hpp>
#include <jit/helperd/enforcement.hpp>
#include <jit/helperd/publishers.hpp>
#include <jit/helperd/sd_loop.hpp>
#include <jit/helperd/socket_server.hpp>
#include <jit/helperd/state_store.hpp>
#include <jit/upload.hpp>

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
    CheckedConfig checked = check_config_file(path, kUserAgent);
    if (!checked.ok()) return make_error("config", checked.message());
    return Loaded{std::move(*checked.config), std::move(checked.keys), std::move(checked.tls)};
}

// "upload" in op=status (jitctl status): the audit upload backlog.
class UploadStatus final : public Component {
public:
    explicit UploadStatus(const upload::UploadQueue* queue) : queue_(queue) {}
    void add_status(Json::Value& status) override {
        Json::Value u(Json::objectValue);
        u["enabled"] = queue_ != nullptr;
        if (queue_) {
            const upload::UploadStats st = queue_->stats();
            u["pending"] = Json::UInt64(st.pending);
            u["unsynced"] = Json::UInt64(st.unsynced);
            u["in_flight"] = st.in_flight;
            u["acked_through"] = Json::UInt64(st.acked_through);
            u["next_seq"] = Json::UInt64(st.next_seq);
            u["dropped_total"] = Json::UInt64(st.dropped_total);
            u["consecutive_failures"] = st.consecutive_failures;
            u["last_error"] = st.last_error;
        }
        status["upload"] = u;
    }

private:
    const upload::UploadQueue* queue_;
};

// Audit-event upload (PROTOCOL.md §3) through the daemon's authority client:
// the queue (helperd/upload) decides what and when.
class UploadTransport final : public upload::EventTransport {
public:
    explicit UploadTransport(AuthorityClient& authority) : authority_(authority) {}
    void send(const upload::Batch& batch, Done done) override {
        authority_.post_events(batch.body(), [done](HttpResponse resp) {
            upload::SendResult res;
            res.http_status = int(resp.status);
            res.acknowledged = resp.status >= 200 && resp.status < 300;
            if (!res.acknowledged) res.error = describe_http_error(resp);
            done(res);
        });
    }

private:
    AuthorityClient& authority_;
};

// Other parts of the daemon (enforcement, ...) attach here.
Status add_components(Daemon& daemon) {
    auto nss = add_standard_publishers(daemon);
    if (!nss) return nss.error();
    // The one session table; homes are made (and recorded for retention)
    // with the NSS publisher's uids.
    return add_enforcement(daemon, *nss);
}

class App {
public:
    App(sd_event* event, Loaded loaded, std::string path)
        : event_(event), path_(std::move(path)), sink_(audit::make_default_sink("jit-helperd")), loop_(event),
          transport_(event, std::move(loaded.tls)), authority_(transport_, AuthorityTarget::from(loaded.config.authority)),
          upload_transport_(authority_), loaded_(std::move(loaded)),
          accounts_(loop_, std::make_shared<SystemAccounts>(), lookup_options(loaded_.config)) {}
    ~App() { set_boundary_sink(nullptr); }

    int run() {
        // Events go to the journal (or stderr) and, when enabled, through the
        // durable upload queue to the authority.
        audit::Sink* events = sink_.get();
        // The state dir first: the upload spool lives in it.
        if (auto st = StateStore(loaded_.config.state_dir).prepare(); !st) return fail(st.error());
        if (loaded_.config.authority.upload_events) {
            upload::UploadOptions options;
            options.sync_interval_ms = loaded_.config.authority.upload_sync_ms;
            auto q = upload::UploadQueue::open(loaded_.config.state_dir + "/upload", upload_transport_, *sink_, options);
            if (!q && q.error().code == "upload.locked") return fail(q.error());  // another jit-helperd owns it
            if (q) {
                queue_ = std::move(*q);
                queue_->set_wakeup_callback([this](std::optional<std::int64_t> at_ms) { arm_upload(at_ms); });
                arm_upload(queue_->next_wakeup_ms());
                tee_ = std::make_unique<upload::UploadingSink>(*sink_, *queue_);
                events = tee_.get();
            } else {
                // The spool cannot be written (a read-only or broken state
                // dir): start without it rather than lock every JIT user out
                // in a restart loop. Events still go to the journal.
                sink_->emit(audit::Event{audit::EventType::SecurityAlert,
                                         "audit upload disabled until a restart: " + q.error().message +
                                             "; events are written to the journal only",
                                         {}}
                                .add(std::string(audit::field::kAlert), "upload_unavailable")
                                .add(std::string(audit::field::kError), q.error().code)
                                .add(std::string(audit::field::kPath), loaded_.config.state_dir + "/upload"));
            }
        }
        set_boundary_sink(events);
        daemon_ = std::make_unique<Daemon>(std::move(loaded_.config), std::move(loaded_.keys),
                                           Daemon::Deps{loop_, authority_, *events, accounts_});
        return serve();
    }

private:
    static std::int64_t cache_ttl_ms(const Config& c) { return std::int64_t(c.account_cache_ttl) * 1000; }
    static std::vector<std::string> cache_watch(const Config& c) {
        return {"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", c.nss.db_path};
    }
    // How long a socket operation waits for NSS: two thirds of the PAM
    // budget (pam.timeout_ms, and the socket's own io_timeout_ms if shorter),
    // so that the error answer (nss_timeout) reaches pam_jit.so before it
    // gives up on the daemon.
    static std::chrono::milliseconds lookup_bound(const Config& c) {
        return std::chrono::milliseconds(std::min(c.pam_timeout_ms, c.socket.io_timeout_ms) * 2 / 3);
    }
    static LookupWorker::Options lookup_options(const Config& c) {
        LookupWorker::Options o;
        o.bound = lookup_bound(c);
        o.cache_ttl_ms = cache_ttl_ms(c);
        o.cache_watched = cache_watch(c);
        return o;
    }

    void arm_upload(std::optional<std::int64_t> at_ms) {
        // The queue asks after every event; most often for the time already
        // armed (the group commit's): then there is nothing to change.
        if (upload_timer_ && at_ms && *at_ms == upload_armed_at_) return;
        if (upload_timer_) loop_.cancel(upload_timer_);
        upload_timer_ = 0;
        if (!at_ms) return;
        upload_armed_at_ = *at_ms;
        const std::int64_t now_ms = upload::system_clock_ms()();
        upload_timer_ = loop_.call_after(std::chrono::milliseconds(std::max<std::int64_t>(0, *at_ms - now_ms)), [this] {
            upload_timer_ = 0;
            queue_->pump();
        });
    }

    int serve() {
        Daemon& daemon = *daemon_;
        if (auto st = add_components(daemon); !st) return fail(st.error());
        daemon.add_component(std::make_unique<UploadStatus>(queue_.get()));
        // The socket before anything is published: a start refused there (a
        // file in the way, another jit-helperd on it) leaves the NSS snapshot
        // and the sudoers drop-in as they are. Nothing is accepted before the
        // loop runs, so no request reaches a daemon that has not started.
        const Config& c = daemon.config();
        server_ = std::make_unique<SocketServer>(
            event_,
            SocketServerOptions{c.socket.path, c.socket.mode, c.socket.group, c.socket.io_timeout_ms, kRelayAnswerTimeoutMs,
                                c.socket.max_connections, c.socket.max_connections_per_user},
            [&daemon](const ipc::Message& m, const Peer& p, std::function<void(ipc::Message)> reply) {
                daemon.handle(m, p, std::move(reply));
            });
        if (auto st = server_->listen(); !st) return fail(st.error());
        if (auto st = daemon.start(); !st) return fail(st.error());
        sd_event_add_signal(event_, nullptr, SIGTERM, &App::on_stop, this);
        sd_event_add_signal(event_, nullptr, SIGINT, &App::on_stop, this);
        sd_event_add_signal(event_, nullptr, SIGHUP, &App::on_reload, this);
        std::uint64_t wd_usec = 0;
        if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
            watchdog_ms_ = std::int64_t(wd_usec / 2000);
            arm_watchdog();
        }
        daemon.on_status_change = [this] { notify_status(); };
        sd_notifyf(0, "READY=1\nSTATUS=%s", daemon.status_line().c_str());
        int r = sd_event_loop(event_);
        sd_notify(0, "STOPPING=1");
        server_.reset();
        return r < 0 ? 1 : exit_code_;
    }

    int fail(const Error& e) {
        std::fprintf(stderr, "jit-helperd: %s\n", e.message.c_str());
        sink_->emit(audit::Event{audit::EventType::DaemonStopped, "jit-helperd cannot start: " + e.message, {}}
                        .add(std::string(audit::field::kError), e.code));
        return 1;
    }
    void notify_status() { sd_notifyf(0, "STATUS=%s", daemon_->status_line().c_str()); }
    void arm_watchdog() {
        loop_.call_after(std::chrono::milliseconds(watchdog_ms_), [this] {
            sd_notify(0, "WATCHDOG=1");
            arm_watchdog();
        });
    }
    static int on_stop(sd_event_source*, const signalfd_siginfo*, void* userdata) {
        auto* self = static_cast<App*>(userdata);
        sd_notify(0, "STOPPING=1");
        at_c_boundary("SIGTERM", [self] { self->daemon_->stop(); });
        sd_event_exit(self->event_, 0);
        return 0;
    }
    static int on_reload(sd_event_source*, const signalfd_siginfo*, void* userdata) {
        auto* self = static_cast<App*>(userdata);
        sd_notify(0, "RELOADING=1");
        at_c_boundary("SIGHUP", [self] { self->reload(); });
        return at_c_boundary("SIGHUP", [self] { sd_notifyf(0, "READY=1\nSTATUS=%s", self->daemon_->status_line().c_str()); });
    }
    void reload() {
        auto loaded = load_all(path_);
        if (!loaded) {
            sink_->emit(audit::Event{audit::EventType::SecurityAlert,
                                     "configuration reload failed, keeping the running configuration: " +
                                         loaded.error().message,
                                     {}}
                            .add(std::string(audit::field::kAlert), "config_reload_failed")
                            .add(std::string(audit::field::kPath), path_));
        } else {
            transport_.set_tls(std::move(loaded->tls));  // the authority's target: daemon_->reload
            accounts_.configure(cache_ttl_ms(loaded->config), cache_watch(loaded->config), lookup_bound(loaded->config));
            daemon_->reload(std::move(loaded->config), std::move(loaded->keys));
        }
    }

    sd_event* event_;
    std::string path_;
    std::unique_ptr<audit::Sink> sink_;
    SdLoop loop_;
    CurlTransport transport_;
    AuthorityClient authority_;
    UploadTransport upload_transport_;
    Loaded loaded_;
    // What the daemon asks: NSS on worker threads behind a short cache (accounts.hpp).
    // Declared before daemon_: it outlives the daemon's continuations. Its
    // threads start here, after run_app blocked SIGTERM/SIGINT/SIGHUP/SIGCHLD:
    // they inherit the mask (signals reach the loop's signal sources only).
    // The daemon's own fork (home.cpp spawn) calls only async-signal-safe
    // functions before exec, so the threads are no hazard to its children.
    LookupWorker accounts_;
    std::unique_ptr<upload::UploadQueue> queue_;
    std::unique_ptr<upload::UploadingSink> tee_;
    Loop::TimerId upload_timer_ = 0;
    std::int64_t upload_armed_at_ = 0;  // the queue's time (ms) upload_timer_ fires for
    std::unique_ptr<Daemon> daemon_;
    std::unique_ptr<SocketServer> server_;
    std::int64_t watchdog_ms_ = 0;
    int exit_code_ = 0;
};

}  // namespace

int check_config(const std::string& path, bool quiet) {
    const CheckedConfig checked = check_config_file(path, kUserAgent);
    if (!checked.ok()) {
        std::fprintf(stderr, "%s\n", checked.message().c_str());
        return kExitConfig;
    }
    if (!quiet) std::fputs(checked.summary(path).c_str(), stdout);
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
    sigaddset(&mask, SIGCHLD);  // sd-event child sources (home retention jobs) need it blocked
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
