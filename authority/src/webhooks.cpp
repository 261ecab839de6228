#include "webhooks.hpp"

#include <jit/authority/crypto.hpp>
#include <jit/authority/rules.hpp>
#include <jit/decision.hpp>

#include <curl/curl.h>
#include <json/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace jit::authority {
namespace {

std::string read_secret(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("webhook_secret_file " + path + ": cannot read");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    if (s.size() < 16) throw std::runtime_error("webhook_secret_file " + path + ": the secret is shorter than 16 bytes");
    return s;
}

// Slack and Mattermost read <, > and & as markup in "text".
std::string escape_markup(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '&') out += "&amp;";
        else out += c;
    }
    return out;
}

std::string names(const Json::Value& a) {
    std::string out;
    for (const auto& n : a) out += (out.empty() ? "" : ", ") + n.asString();
    return out;
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

bool Webhooks::announced(const std::string& kind) {
    return kind == "request.created" || kind == "request.approved" || kind == "request.denied" ||
           kind == "request.expired" || kind == "request.cancelled" || kind == "grant.revoked";
}

std::string Webhooks::slack_body(const Service::Change& c) {
    const Json::Value& s = c.subject;
    std::string text;
    if (c.kind.rfind("request.", 0) == 0) {
        const Json::Value& ask = s["request"];
        const std::string head = s["requested_by"].asString() + " asks for " + access_summary(ask) + " as " +
                                 s["user"].asString() + " on " + s["host_id"].asString() + " for " +
                                 format_duration(ask["duration_seconds"].asInt64());
        if (c.kind == "request.created") {
            text = ":raising_hand: " + head + ": \"" + ask["reason"].asString() + "\"";
            if (ask.isMember("ticket")) text += " (" + ask["ticket"].asString() + ")";
            text += "\nrule " + s["rule"].asString() + ", " + std::to_string(s["approvals_required"].asInt()) +
                    " approval(s) needed; `jitadm requests approve " + s["id"].asString() + "`";
        } else if (c.kind == "request.approved") {
            text = ":white_check_mark: approved by " + names(s["decided_by"]) + ": " + head + " (grant " +
                   s["grant_id"].asString() + ")";
        } else if (c.kind == "request.denied") {
            text = ":no_entry: denied by " + c.actor + ": " + head;
            if (s.isMember("message")) text += ": \"" + s["message"].asString() + "\"";
        } else if (c.kind == "request.expired") {
            text = ":hourglass: expired, nobody decided: " + head;
        } else {
            text = ":wastebasket: cancelled by the requester: " + head;
        }
        text += " [" + s["id"].asString() + "]";
    } else {
        text = ":lock: grant " + s["id"].asString() + " of " + s["user"].asString() + " on " + s["host_id"].asString() +
               " revoked by " + c.actor;
        if (s.isMember("reason")) text += ": \"" + s["reason"].asString() + "\"";
    }
    Json::Value body(Json::objectValue);
    body["text"] = escape_markup(text);
    return compact_json(body);
}

std::string Webhooks::plain_body(const Service::Change& c, UnixTime now) {
    Json::Value body(Json::objectValue);
    body["event"] = c.kind;
    body["at"] = Json::Int64(now);
    body["host_id"] = c.host_id;
    body["actor"] = c.actor;
    body[c.kind.rfind("request.", 0) == 0 ? "request" : "grant"] = c.subject;
    return compact_json(body);
}

std::string Webhooks::signature(const std::string& secret, const std::string& body) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), int(secret.size()), reinterpret_cast<const unsigned char*>(body.data()),
         body.size(), mac, &len);
    static const char* hex = "0123456789abcdef";
    std::string out = "sha256=";
    for (unsigned int i = 0; i < len; ++i) {
        out += hex[mac[i] >> 4];
        out += hex[mac[i] & 15];
    }
    return out;
}

Webhooks::Webhooks(const Config& cfg, WebhookOptions opts) : opts_(opts) {
    for (const auto& g : cfg.groups) {
        if (g.webhooks.empty()) continue;
        const std::string secret = g.webhook_secret_file.empty() ? "" : read_secret(g.webhook_secret_file);
        for (const auto& url : g.webhooks) targets_.push_back(Target{g.name, g, url, g.webhook_format, secret});
    }
    if (targets_.empty()) return;
    curl_global_init(CURL_GLOBAL_DEFAULT);  // before any thread
    for (const auto& t : targets_) {
        if (lanes_.count(t.url)) continue;
        auto lane = std::make_unique<Lane>();
        lane->url = t.url;
        Lane* l = lane.get();
        lanes_[t.url] = std::move(lane);
        l->worker = std::thread([this, l] { run(*l); });
    }
}

Webhooks::~Webhooks() {
    for (auto& [url, lane] : lanes_) {
        {
            std::lock_guard<std::mutex> lock(lane->mu);
            lane->stop = true;
        }
        lane->cv.notify_all();
    }
    for (auto& [url, lane] : lanes_) {
        lane->worker.join();
        if (!lane->queue.empty())
            std::fprintf(stderr, "jit-authority: webhooks: %zu deliveries to %s still queued at shutdown are dropped\n",
                         lane->queue.size(), url.c_str());
    }
}

void Webhooks::notify(const Service::Change& c, const std::vector<std::string>& labels, UnixTime now) {
    if (targets_.empty() || !announced(c.kind)) return;
    const std::string delivery_id = new_id("d");
    for (const auto& t : targets_) {
        if (!host_in_group(t.match, c.host_id, labels)) continue;
        Delivery d;
        d.event = c.kind;
        d.id = delivery_id;
        d.body = t.format == "plain" ? plain_body(c, now) : slack_body(c);
        if (!t.secret.empty()) d.signature = signature(t.secret, d.body);
        Lane& lane = *lanes_.at(t.url);
        {
            std::lock_guard<std::mutex> lock(lane.mu);
            if (lane.queue.size() >= opts_.max_queued) {
                std::fprintf(stderr, "jit-authority: webhooks: queue for %s full (%zu); %s %s dropped\n", t.url.c_str(),
                             lane.queue.size(), d.event.c_str(), d.id.c_str());
                continue;
            }
            lane.queue.emplace_back(std::chrono::steady_clock::now(), std::move(d));
        }
        lane.cv.notify_all();
    }
}

// Aborts a transfer in flight when the daemon stops (libcurl's progress callback).
static int still_wanted(void* stop, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<const std::atomic<bool>*>(stop)->load() ? 1 : 0;
}

bool Webhooks::deliver(Lane& lane, const Delivery& d, std::string& why) {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) {
        why = "curl_easy_init failed";
        return false;
    }
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, ("X-Jit-Event: " + d.event).c_str());
    headers = curl_slist_append(headers, ("X-Jit-Delivery: " + d.id).c_str());
    if (!d.signature.empty()) headers = curl_slist_append(headers, ("X-Jit-Signature: " + d.signature).c_str());
    curl_easy_setopt(curl, CURLOPT_URL, lane.url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, still_wanted);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &lane.stop);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(d.body.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, opts_.timeout_seconds);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "jit-authority-webhook/1");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        why = curl_easy_strerror(rc);
        return false;
    }
    if (status < 200 || status > 299) {
        why = "HTTP " + std::to_string(status);
        return false;
    }
    return true;
}

void Webhooks::run(Lane& lane) {
    std::unique_lock<std::mutex> lock(lane.mu);
    while (!lane.stop) {
        if (lane.queue.empty()) {
            lane.cv.wait(lock);
            continue;
        }
        const auto due = lane.queue.front().first;
        if (due > std::chrono::steady_clock::now()) {
            lane.cv.wait_until(lock, due);
            continue;
        }
        Delivery d = std::move(lane.queue.front().second);
        lane.queue.pop_front();
        lock.unlock();
        std::string why;
        const bool ok = deliver(lane, d, why);
        lock.lock();
        if (ok) continue;
        ++d.attempt;
        if (d.attempt >= opts_.attempts) {
            std::fprintf(stderr, "jit-authority: webhook %s %s to %s given up after %d attempts: %s\n", d.event.c_str(),
                         d.id.c_str(), lane.url.c_str(), d.attempt, why.c_str());
            continue;
        }
        auto delay = opts_.first_retry * (1LL << std::min(d.attempt - 1, 20));
        if (delay > opts_.max_retry) delay = opts_.max_retry;
        std::fprintf(stderr, "jit-authority: webhook %s %s to %s failed (%s); retry %d in %lld ms\n", d.event.c_str(),
                     d.id.c_str(), lane.url.c_str(), why.c_str(), d.attempt, static_cast<long long>(delay.count()));
        // The receiver sees its events in order: the retry keeps its place at the front.
        lane.queue.emplace_front(std::chrono::steady_clock::now() + delay, std::move(d));
    }
}

}  // namespace jit::authority
