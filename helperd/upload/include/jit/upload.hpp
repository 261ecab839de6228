// Durable upload of audit events to the authority (PROTOCOL.md §3).
//
// Every event is written to an append-only spool under the state directory
// and fdatasync'd before it is sent, numbered with a per-host `seq` that keeps
// increasing across restarts. The fdatasync is a group commit when
// sync_interval_ms > 0: events are written at once and synced together at most
// that long after the first of them (the caller is not kept waiting on the disk). Batches are sent through an injected
// EventTransport; a batch is forgotten only after the transport reports a 2xx.
// A crash between send and ack re-sends the batch after restart: delivery is
// at-least-once and the authority de-duplicates by seq. See docs/audit.md.
#pragma once

#include "jit/audit.hpp"
#include "jit/result.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace jit::upload {

// One spooled event: its seq and its JSON object for the authority, e.g.
// {"seq":17,"time":1764250123,"type":"login.allowed","message":"...","user":"alice","grant_id":"g-7f3a"}
struct QueuedEvent {
    std::uint64_t seq = 0;
    std::string json;
};

struct Batch {
    std::vector<QueuedEvent> events;  // consecutive seqs, oldest first
    std::uint64_t first_seq() const { return events.front().seq; }
    std::uint64_t last_seq() const { return events.back().seq; }
    // The request body: {"events":[...]}
    std::string body() const;
};

struct SendResult {
    bool acknowledged = false;  // true only for a 2xx answer
    int http_status = 0;        // 0 when no HTTP answer (connect error, timeout)
    std::string error;          // human text for logs/status when not acknowledged
};

// How batches reach the authority. The daemon plugs in its
// AuthorityClient: send() starts POST {base}/v1/hosts/{host_id}/events with
// batch.body() (Content-Type: application/json) and calls `done` exactly once,
// either before returning or later from the event loop. At most one batch is
// in flight at a time.
class EventTransport {
public:
    using Done = std::function<void(SendResult)>;
    virtual ~EventTransport() = default;
    virtual void send(const Batch& batch, Done done) = 0;
};

struct UploadOptions {
    std::size_t max_events = 50000;       // queue bound (unacknowledged events)
    std::size_t drop_chunk = 0;           // events dropped at once when full; 0 = max_events/10 (at least 1)
    std::size_t batch_max_events = 500;
    std::size_t batch_max_bytes = 512 * 1024;
    std::size_t segment_max_events = 4096;  // spool file rotation
    std::int64_t backoff_initial_ms = 1000;
    std::int64_t backoff_max_ms = 300000;
    bool fsync = true;                    // fdatasync the spool (tests may turn off: events count as synced at once)
    std::int64_t sync_interval_ms = 0;    // 0: fdatasync inside each enqueue(); > 0: group commit from pump()
    std::uint64_t rng_seed = 0;           // jitter RNG; 0 = random_device
    // The events' "time" (unix seconds). Unset: the queue's clock / 1000, so
    // a monotonic clock for backoff can be paired with a wall clock here.
    std::function<std::int64_t()> wall_seconds;
};

struct UploadStats {
    std::uint64_t next_seq = 1;          // seq the next event gets
    std::uint64_t acked_through = 0;     // every seq <= this is acknowledged (or dropped)
    std::size_t pending = 0;             // unacknowledged events in the queue
    std::size_t unsynced = 0;            // of those, written but not yet fdatasync'd (not sendable yet)
    bool in_flight = false;
    std::uint64_t dropped_total = 0;     // dropped because the queue was full (this process)
    std::uint32_t consecutive_failures = 0;
    std::int64_t next_attempt_ms = 0;    // when the next send may start (queue clock, ms)
    std::string last_error;              // of the last failed send, empty after success
};

// Milliseconds on some clock (the epoch by default, or a monotonic one);
// injected so tests drive time. Backoff and next_wakeup_ms() use it.
using ClockMs = std::function<std::int64_t()>;
ClockMs system_clock_ms();

class UploadQueue {
public:
    // Opens (creating, mode 0700) the spool directory `dir`, e.g.
    // /var/lib/jit/upload, takes an exclusive lock on it, and recovers
    // unacknowledged events. `local` is where the queue reports its own
    // alerts (queue full, corrupt spool): the plain journal/stderr sink, never
    // an UploadingSink. Those alerts are also enqueued for upload.
    static Result<std::unique_ptr<UploadQueue>> open(std::string dir, EventTransport& transport,
                                                     audit::Sink& local, UploadOptions options = {},
                                                     ClockMs clock = system_clock_ms());
    ~UploadQueue();
    UploadQueue(const UploadQueue&) = delete;
    UploadQueue& operator=(const UploadQueue&) = delete;

    // Appends the event to the spool (assigns the next seq; with
    // sync_interval_ms 0 also fdatasyncs it), then pump()s.
    // When the queue is full, the oldest drop_chunk events are dropped after
    // a security.alert (JIT_ALERT=upload.queue_full) goes to `local`.
    // An error means the event could not be spooled (disk full...): the caller
    // must report it locally.
    Status enqueue(const audit::Event& event);

    // Syncs the spool when the group commit is due, then starts sending the
    // next batch of synced events if none is in flight and the backoff has
    // elapsed. Call it from the wakeup timer.
    void pump();
    // fdatasyncs whatever is written but not yet synced (shutdown, tests).
    void sync();

    // When pump() should next be called (queue clock, ms), or nullopt when there is
    // nothing to do until the next enqueue or until the in-flight send ends.
    std::optional<std::int64_t> next_wakeup_ms() const;
    // Called whenever next_wakeup_ms() may have changed (arm a timer there).
    void set_wakeup_callback(std::function<void(std::optional<std::int64_t>)> cb);

    UploadStats stats() const;

private:
    struct Impl;
    explicit UploadQueue(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The tee: every event goes to `local` (journal/stderr) first, then into the
// upload queue. If spooling fails, a security.alert (JIT_ALERT=upload.spool_failed)
// goes to `local`.
class UploadingSink final : public audit::Sink {
public:
    UploadingSink(audit::Sink& local, UploadQueue& queue) : local_(local), queue_(queue) {}
    void emit(const audit::Event& event) override;

private:
    audit::Sink& local_;
    UploadQueue& queue_;
};

// The JSON object uploaded for an event (without the surrounding batch):
// seq, time (unix seconds), type (event name), message, and each JIT_* field
// as its lower-case name without the prefix (JIT_GRANT_ID -> grant_id);
// numeric fields (uid, not_before, not_after, revision, count, pid,
// seconds_left) as integers.
std::string event_json(const audit::Event& event, std::uint64_t seq, std::int64_t time);

// A small blocking libcurl transport (timeouts in ms) for tools and tests;
// jit-helperd uses its AuthorityClient. `url` is the full events URL.
struct BlockingEventTransportOptions {
    std::string url;
    std::string bearer_token;       // empty: no Authorization header
    std::string ca_file;            // empty: system store
    std::string client_cert, client_key;
    long timeout_ms = 5000;
    std::string user_agent = "jitlogin/0.1";
};
std::unique_ptr<EventTransport> make_blocking_event_transport(BlockingEventTransportOptions options);

}  // namespace jit::upload
