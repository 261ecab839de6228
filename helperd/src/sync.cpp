#include <jit/helperd/sync.hpp>

#include <json/json.h>

#include <algorithm>
#include <memory>
#include <sstream>

namespace jit::helperd {

std::string describe_http_error(const HttpResponse& r) {
    if (r.status == 0) return "error: " + (r.error.empty() ? std::string("no answer") : r.error);
    std::string out = "error: HTTP " + std::to_string(r.status);
    Json::CharReaderBuilder b;
    b["collectComments"] = false;
    std::unique_ptr<Json::CharReader> reader(b.newCharReader());
    Json::Value v;
    std::string errs;
    if (r.body.size() < 64 * 1024 && reader->parse(r.body.data(), r.body.data() + r.body.size(), &v, &errs) && v.isObject() &&
        v["error"].isString()) {
        out += ": " + v["error"].asString();
        if (v["message"].isString()) out += ": " + v["message"].asString();
        return out;
    }
    if (!r.body.empty()) {
        std::string prefix = r.body.substr(0, 200);
        for (char& c : prefix)
            if (c < ' ' || c == 0x7f) c = ' ';
        out += ": " + prefix;
    }
    return out;
}

SyncEngine::SyncEngine(SyncSettings settings, AuthorityClient& authority, Loop& loop, Hooks hooks, std::uint64_t seed)
    : settings_(std::move(settings)), authority_(authority), loop_(loop), hooks_(std::move(hooks)), rng_(seed) {}

SyncEngine::~SyncEngine() { stop(); }

void SyncEngine::start() {
    running_ = true;
    schedule_poll(std::chrono::milliseconds(0));
}

void SyncEngine::stop() {
    running_ = false;
    if (inflight_) authority_.cancel(inflight_);
    inflight_ = 0;
    if (timer_) loop_.cancel(timer_);
    timer_ = 0;
}

void SyncEngine::restart(SyncSettings settings) {
    stop();
    settings_ = std::move(settings);
    status_.consecutive_failures = 0;
    start();
}

std::chrono::milliseconds SyncEngine::backoff_delay(int failures) {
    const std::int64_t min_ms = std::int64_t(settings_.backoff_min) * 1000;
    const std::int64_t max_ms = std::int64_t(std::max(settings_.backoff_max, settings_.backoff_min)) * 1000;
    std::int64_t base = min_ms;
    for (int i = 1; i < failures && base < max_ms; ++i) base *= 2;
    base = std::min(base, max_ms);
    std::uniform_int_distribution<std::int64_t> jitter(base / 2, base);
    return std::chrono::milliseconds(jitter(rng_));
}

void SyncEngine::schedule_poll(std::chrono::milliseconds delay) {
    if (!running_) return;
    if (timer_) loop_.cancel(timer_);
    status_.next_retry_ms = delay.count();
    timer_ = loop_.call_after(delay, [this] {
        timer_ = 0;
        poll();
    });
}

void SyncEngine::poll() {
    if (!running_ || inflight_) return;
    const AcceptContext ctx = hooks_.context();
    status_.next_retry_ms = 0;
    inflight_ = authority_.poll(ctx.last_revision, settings_.poll_wait, [this](HttpResponse r) {
        inflight_ = 0;
        on_response(std::move(r));
    });
}

void SyncEngine::failure(std::string what) {
    status_.last_attempt = loop_.now();
    status_.last_ok = false;
    status_.last_result = std::move(what);
    ++status_.consecutive_failures;
    auto delay = backoff_delay(status_.consecutive_failures);
    schedule_poll(delay);
    if (hooks_.status_changed) hooks_.status_changed(status_);
}

void SyncEngine::on_response(HttpResponse r) {
    if (!running_) return;
    if (r.status != 0) last_tls_error_.clear();  // a TLS exchange went through
    if (r.status == 0 && r.tls_verify_failed && r.error != last_tls_error_) {
        last_tls_error_ = r.error;
        if (hooks_.tls_failed) hooks_.tls_failed(r.error);
    }
    if (r.status == 304) {
        status_.last_attempt = status_.last_success = loop_.now();
        status_.last_ok = true;
        status_.last_result = "not modified";
        status_.consecutive_failures = 0;
        schedule_poll(std::chrono::milliseconds(0));
        if (hooks_.status_changed) hooks_.status_changed(status_);
        return;
    }
    if (r.status != 200) {
        failure(describe_http_error(r));
        return;
    }
    AcceptContext ctx = hooks_.context();
    ctx.now = loop_.now();
    ctx.host_id = authority_.target().host_id;
    ctx.clock_skew = settings_.clock_skew;
    auto accepted = verify_and_accept(r.body, hooks_.keys(), ctx);
    if (!accepted) {
        ++status_.bundles_rejected;
        hooks_.rejected(accepted.error(), r.body);
        failure("rejected: " + accepted.error().code + ": " + accepted.error().message);
        return;
    }
    const std::int64_t revision = accepted->payload.revision;
    const bool progressed = revision > ctx.last_revision;
    ++status_.bundles_accepted;
    status_.last_attempt = status_.last_success = loop_.now();
    status_.last_ok = true;
    status_.last_result = "accepted revision " + std::to_string(revision);
    status_.consecutive_failures = 0;
    hooks_.accepted(std::move(*accepted), std::move(r.body));
    // An authority that answers at once with the revision we already hold
    // would make us spin: wait the minimum backoff in that case.
    schedule_poll(progressed ? std::chrono::milliseconds(0) : std::chrono::milliseconds(settings_.backoff_min * 1000));
    if (hooks_.status_changed) hooks_.status_changed(status_);
}

}  // namespace jit::helperd
