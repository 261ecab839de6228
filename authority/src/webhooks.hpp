// Webhooks (docs/authority.md, "Webhooks"): a request created, approved,
// denied, expired or cancelled, or a grant revoked, is posted to the URLs of
// every host group the host is in, as Slack/Mattermost incoming-webhook JSON
// ({"text"}) or as the plain event, signed with HMAC-SHA256
// (X-Jit-Signature: sha256=<hex>) when the group names a secret.
//
// Deliveries are queued after the decision is committed and sent with
// libcurl by one worker thread per receiver URL, retried with exponential
// backoff: a slow or failing receiver never delays a decision, the event loop
// or another receiver. The queues are in memory (bounded); what is still
// queued at shutdown is reported, not kept.
#pragma once

#include <jit/authority/config.hpp>
#include <jit/authority/service.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace jit::authority {

struct WebhookOptions {
    std::chrono::milliseconds first_retry{1000};  // doubled after each failure
    std::chrono::milliseconds max_retry{300000};
    int attempts = 10;                            // then the delivery is given up (logged)
    std::size_t max_queued = 10000;               // beyond: dropped (logged)
    long timeout_seconds = 10;                    // per attempt
};

class Webhooks {
public:
    // Reads each group's secret file; std::runtime_error naming it when unreadable.
    explicit Webhooks(const Config& cfg, WebhookOptions opts = {});
    ~Webhooks();
    Webhooks(const Webhooks&) = delete;
    Webhooks& operator=(const Webhooks&) = delete;

    bool any() const { return !targets_.empty(); }
    // On the loop, after the commit: queues one delivery per matching hook.
    // Never blocks on the network.
    void notify(const Service::Change& change, const std::vector<std::string>& host_labels, UnixTime now);

    // The bodies (exposed for tests).
    static std::string slack_body(const Service::Change& change);
    static std::string plain_body(const Service::Change& change, UnixTime now);
    static std::string signature(const std::string& secret, const std::string& body);  // "sha256=<hex>"
    static bool announced(const std::string& kind);

private:
    struct Target {
        std::string group;
        HostGroup match;
        std::string url;
        std::string format;
        std::string secret;
    };
    struct Delivery {
        std::string event;
        std::string id;
        std::string body;
        std::string signature;
        int attempt = 0;
    };
    // One receiver URL: its queue (by due time) and its worker.
    struct Lane {
        std::string url;
        std::mutex mu;
        std::condition_variable cv;
        // In order; the front waits until its time (a retry keeps its place).
        std::deque<std::pair<std::chrono::steady_clock::time_point, Delivery>> queue;
        std::atomic<bool> stop{false};
        std::thread worker;
    };
    void run(Lane& lane);
    bool deliver(Lane& lane, const Delivery& d, std::string& why);

    std::vector<Target> targets_;
    WebhookOptions opts_;
    std::map<std::string, std::unique_ptr<Lane>> lanes_;  // by URL
};

}  // namespace jit::authority
