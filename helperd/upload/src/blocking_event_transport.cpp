// A blocking libcurl EventTransport for the upload queue outside the daemon
// (tests/audit/upload_tool). jit-helperd sends events through its
// AuthorityClient on the event loop instead.
#include "jit/upload.hpp"

#include <curl/curl.h>

namespace jit::upload {
namespace {

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

class BlockingEventTransport final : public EventTransport {
public:
    explicit BlockingEventTransport(BlockingEventTransportOptions o) : o_(std::move(o)) {}

    void send(const Batch& batch, Done done) override { done(post(batch.body())); }

private:
    SendResult post(const std::string& body) {
        SendResult r;
        CURL* c = curl_easy_init();
        if (!c) {
            r.error = "curl_easy_init failed";
            return r;
        }
        curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
        std::string auth;
        if (!o_.bearer_token.empty()) {
            auth = "Authorization: Bearer " + o_.bearer_token;
            headers = curl_slist_append(headers, auth.c_str());
        }
        char errbuf[CURL_ERROR_SIZE] = {};
        curl_easy_setopt(c, CURLOPT_URL, o_.url.c_str());
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_USERAGENT, o_.user_agent.c_str());
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o_.timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o_.timeout_ms);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        if (!o_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o_.ca_file.c_str());
        if (!o_.client_cert.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, o_.client_cert.c_str());
        if (!o_.client_key.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, o_.client_key.c_str());
        CURLcode rc = curl_easy_perform(c);
        if (rc != CURLE_OK) {
            r.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        } else {
            long status = 0;
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            r.http_status = static_cast<int>(status);
            r.acknowledged = status >= 200 && status < 300;
            if (!r.acknowledged) r.error = "authority refused the events";
        }
        curl_slist_free_all(headers);
        curl_easy_cleanup(c);
        return r;
    }

    BlockingEventTransportOptions o_;
};

}  // namespace

std::unique_ptr<EventTransport> make_blocking_event_transport(BlockingEventTransportOptions options) {
    return std::make_unique<BlockingEventTransport>(std::move(options));
}

}  // namespace jit::upload
