// jit-helperd's wiring of the upload queue (library jit_upload_daemon):
// the daemon's non-blocking HTTP transport as an EventTransport, the queue's
// wakeups as Loop timers, and the tee sink every component emits to.
//
//   // in App, before the Daemon is constructed:
//   upload_ = upload::DaemonUpload::create(loop_, transport_, *sink_, loaded.config);
//   Daemon::Deps{loop_, transport_, upload_->sink(), accounts_}
//   // once the daemon exists:
//   daemon_.add_component(upload_->status_component());   // "upload" in op=status
//   // on SIGHUP with the new config:
//   upload_->reload(new_config);
#pragma once

#include "jit/upload.hpp"

#include <jit/helperd/config.hpp>
#include <jit/helperd/daemon.hpp>
#include <jit/helperd/loop.hpp>
#include <jit/helperd/transport.hpp>

#include <json/value.h>

#include <memory>
#include <optional>
#include <string>

namespace jit::upload {

// POST {base}/v1/hosts/{host_id}/events over the daemon's Transport.
class HttpEventTransport final : public EventTransport {
public:
    HttpEventTransport(helperd::Transport& http, std::string events_url);
    ~HttpEventTransport() override;
    void send(const Batch& batch, Done done) override;
    void set_url(std::string events_url) { url_ = std::move(events_url); }
    const std::string& url() const { return url_; }

private:
    helperd::Transport& http_;
    std::string url_;
    helperd::Transport::RequestId in_flight_ = 0;
};

// "{base}/v1/hosts/{host_id}/events"
std::string events_url(const helperd::AuthorityConfig& authority);

class DaemonUpload {
public:
    // Opens the queue under {state_dir}/upload. If it cannot be opened, a
    // security.alert (JIT_ALERT=upload.unavailable) goes to `local`, sink()
    // is `local` itself and the daemon runs journal-only.
    static std::unique_ptr<DaemonUpload> create(helperd::Loop& loop, helperd::Transport& http, audit::Sink& local,
                                                const helperd::Config& config, UploadOptions options = {});
    ~DaemonUpload();

    // The sink to give the Daemon (and every component): journal + queue.
    audit::Sink& sink();
    UploadQueue* queue() { return queue_.get(); }
    // A Component that adds "upload": {...} to op=status.
    std::unique_ptr<helperd::Component> status_component();
    void reload(const helperd::Config& config);
    void add_status(Json::Value& status) const;

private:
    DaemonUpload(helperd::Loop& loop, audit::Sink& local);
    void arm(std::optional<std::int64_t> at_ms);

    helperd::Loop& loop_;
    audit::Sink& local_;
    std::unique_ptr<HttpEventTransport> transport_;
    std::unique_ptr<UploadQueue> queue_;
    std::unique_ptr<UploadingSink> tee_;
    helperd::Loop::TimerId timer_ = 0;
    std::string error_;  // why there is no queue
};

}  // namespace jit::upload
