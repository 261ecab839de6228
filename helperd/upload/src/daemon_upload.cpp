// The upload queue inside jit-helperd: HTTP through the daemon's transport,
// wakeups through its Loop.
#include "jit/upload_daemon.hpp"

#include <json/value.h>

#include <algorithm>
#include <chrono>

namespace jit::upload {

HttpEventTransport::HttpEventTransport(helperd::Transport& http, std::string events_url)
    : http_(http), url_(std::move(events_url)) {}

HttpEventTransport::~HttpEventTransport() {
    if (in_flight_) http_.cancel(in_flight_);
}

void HttpEventTransport::send(const Batch& batch, Done done) {
    helperd::HttpRequest req;
    req.method = "POST";
    req.url = url_;
    req.body = batch.body();
    req.headers = {"Content-Type: application/json"};
    req.connect_timeout = std::chrono::milliseconds(10000);
    req.total_timeout = std::chrono::milliseconds(30000);
    in_flight_ = http_.start(req, [this, done = std::move(done)](helperd::HttpResponse r) {
        in_flight_ = 0;
        SendResult result;
        result.http_status = static_cast<int>(r.status);
        result.acknowledged = r.status >= 200 && r.status < 300;
        if (!result.acknowledged) {
            result.error = !r.error.empty() ? r.error : r.body.substr(0, 200);
        }
        done(std::move(result));
    });
}

std::string events_url(const helperd::AuthorityConfig& authority) {
    return authority.url + "/v1/hosts/" + authority.host_id + "/events";
}

namespace {

class StatusComponent final : public helperd::Component {
public:
    explicit StatusComponent(DaemonUpload& up) : up_(up) {}
    void add_status(Json::Value& status) override { up_.add_status(status); }
    void config_reloaded(const helperd::Config& config) override { up_.reload(config); }

private:
    DaemonUpload& up_;
};

}  // namespace

DaemonUpload::DaemonUpload(helperd::Loop& loop, audit::Sink& local) : loop_(loop), local_(local) {}

DaemonUpload::~DaemonUpload() {
    if (timer_) loop_.cancel(timer_);
    tee_.reset();
    queue_.reset();      // before the transport: the queue's callbacks are dead from here on
    transport_.reset();  // cancels an in-flight POST (re-sent after restart)
}

std::unique_ptr<DaemonUpload> DaemonUpload::create(helperd::Loop& loop, helperd::Transport& http, audit::Sink& local,
                                                   const helperd::Config& config, UploadOptions options) {
    std::unique_ptr<DaemonUpload> up(new DaemonUpload(loop, local));
    up->transport_ = std::make_unique<HttpEventTransport>(http, events_url(config.authority));
    std::string dir = config.state_dir + "/upload";
    // Backoff on the loop's monotonic clock (immune to wall-clock jumps), event times on its wall clock.
    options.wall_seconds = [&loop] { return static_cast<std::int64_t>(loop.now()); };
    auto q = UploadQueue::open(dir, *up->transport_, local, options, [&loop] { return loop.monotonic_ms(); });
    if (!q) {
        up->error_ = q.error().message;
        audit::Event e{audit::EventType::SecurityAlert,
                       "audit events will not be uploaded to the authority: " + q.error().message, {}};
        e.add(std::string(audit::field::kAlert), "upload.unavailable")
            .add(std::string(audit::field::kError), q.error().code)
            .add(std::string(audit::field::kPath), dir);
        local.emit(e);
        return up;
    }
    up->queue_ = std::move(q.value());
    up->tee_ = std::make_unique<UploadingSink>(local, *up->queue_);
    DaemonUpload* self = up.get();
    up->queue_->set_wakeup_callback([self](std::optional<std::int64_t> at) { self->arm(at); });
    up->queue_->pump();  // events left from before a restart go out now
    return up;
}

void DaemonUpload::arm(std::optional<std::int64_t> at_ms) {
    if (timer_) {
        loop_.cancel(timer_);
        timer_ = 0;
    }
    if (!at_ms) return;
    std::int64_t delay = std::max<std::int64_t>(0, *at_ms - loop_.monotonic_ms());
    timer_ = loop_.call_after(std::chrono::milliseconds(delay), [this] {
        timer_ = 0;
        if (queue_) queue_->pump();
    });
}

audit::Sink& DaemonUpload::sink() { return tee_ ? static_cast<audit::Sink&>(*tee_) : local_; }

std::unique_ptr<helperd::Component> DaemonUpload::status_component() {
    return std::make_unique<StatusComponent>(*this);
}

void DaemonUpload::reload(const helperd::Config& config) {
    if (transport_) transport_->set_url(events_url(config.authority));
}

void DaemonUpload::add_status(Json::Value& status) const {
    Json::Value u(Json::objectValue);
    if (!queue_) {
        u["enabled"] = false;
        u["error"] = error_;
    } else {
        auto s = queue_->stats();
        u["enabled"] = true;
        u["url"] = transport_->url();
        u["pending"] = Json::UInt64(s.pending);
        u["next_seq"] = Json::UInt64(s.next_seq);
        u["acked_through"] = Json::UInt64(s.acked_through);
        u["in_flight"] = s.in_flight;
        u["consecutive_failures"] = s.consecutive_failures;
        u["dropped"] = Json::UInt64(s.dropped_total);
        if (!s.last_error.empty()) u["last_error"] = s.last_error;
        if (!s.in_flight && s.pending)
            u["retry_in_ms"] = Json::Int64(std::max<std::int64_t>(0, s.next_attempt_ms - loop_.monotonic_ms()));
    }
    status["upload"] = u;
}

}  // namespace jit::upload
