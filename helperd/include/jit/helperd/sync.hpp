// The authority sync state machine (PROTOCOL.md §1): long poll, verify each
// envelope, hand accepted bundles to the owner, back off on failures. Pure
// logic over AuthorityClient and Loop; no curl or sd-event here.
#pragma once

#include <jit/bundle.hpp>
#include <jit/helperd/authority_client.hpp>
#include <jit/helperd/loop.hpp>
#include <jit/helperd/transport.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>

namespace jit::helperd {

// Where to poll is the client's (AuthorityTarget); bundles must name its host_id.
struct SyncSettings {
    int poll_wait = 55;            // seconds
    int backoff_min = 1;           // seconds
    int backoff_max = 300;         // seconds
    std::int64_t clock_skew = 300;
};

// What the last exchange with the authority gave, for `jitctl status`.
struct SyncStatus {
    UnixTime last_attempt = 0;     // wall time the last response/failure arrived
    UnixTime last_success = 0;     // last 200 accepted or 304
    std::string last_result;       // "accepted revision 42", "not modified", "rejected: signature: ...", "error: ..."
    bool last_ok = false;
    int consecutive_failures = 0;
    std::int64_t next_retry_ms = 0;  // backoff delay currently scheduled (0 when polling)
    std::uint64_t bundles_accepted = 0;
    std::uint64_t bundles_rejected = 0;
};

class SyncEngine {
public:
    // What the owner provides: the trusted keys and the acceptance context
    // (last revision + payload bytes) at the time of each answer, and what to
    // do with an accepted or rejected bundle.
    struct Hooks {
        std::function<const TrustedKeys&()> keys;
        std::function<AcceptContext()> context;
        std::function<void(AcceptedBundle, std::string envelope_bytes)> accepted;
        std::function<void(const Error&, const std::string& envelope_bytes)> rejected;
        std::function<void(const SyncStatus&)> status_changed;  // optional
        // Optional: the authority's TLS certificate did not verify (expired,
        // wrong name, unknown CA). Once per distinct error until an exchange succeeds.
        std::function<void(const std::string& error)> tls_failed;
    };

    SyncEngine(SyncSettings settings, AuthorityClient& authority, Loop& loop, Hooks hooks, std::uint64_t seed = std::random_device{}());
    ~SyncEngine();
    SyncEngine(const SyncEngine&) = delete;
    SyncEngine& operator=(const SyncEngine&) = delete;

    void start();                   // first poll now
    void stop();                    // cancels the in-flight request and timers
    void restart(SyncSettings settings);  // new settings (SIGHUP): cancel, poll again now
    const SyncStatus& status() const { return status_; }
    const SyncSettings& settings() const { return settings_; }

    // Backoff before retry number `failures` (1-based): exponential from
    // backoff_min, capped at backoff_max, with jitter in [50%, 100%].
    std::chrono::milliseconds backoff_delay(int failures);

private:
    void poll();
    void on_response(HttpResponse response);
    void failure(std::string what);
    void schedule_poll(std::chrono::milliseconds delay);

    SyncSettings settings_;
    AuthorityClient& authority_;
    Loop& loop_;
    Hooks hooks_;
    std::mt19937_64 rng_;
    SyncStatus status_;
    Transport::RequestId inflight_ = 0;
    std::string last_tls_error_;  // the TLS failure last reported to hooks_.tls_failed ("" after a success)
    Loop::TimerId timer_ = 0;
    bool running_ = false;
};

// "error: <code>: <message>" from a JSON error body (PROTOCOL.md), or the
// status line and a prefix of the body when it is not JSON.
std::string describe_http_error(const HttpResponse& response);

}  // namespace jit::helperd
