// Transport over libcurl's multi interface, driven by the daemon's sd-event
// loop (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION -> sd_event io/time sources), so
// a long poll never blocks anything else. TLS verification is always on.
#pragma once

#include <jit/helperd/tls_settings.hpp>
#include <jit/helperd/transport.hpp>
#include <jit/result.hpp>

#include <curl/curl.h>
#include <systemd/sd-event.h>

#include <map>
#include <memory>
#include <string>

namespace jit::helperd {

class CurlTransport final : public Transport {
public:
    CurlTransport(sd_event* event, TlsSettings settings);
    ~CurlTransport() override;
    CurlTransport(const CurlTransport&) = delete;
    CurlTransport& operator=(const CurlTransport&) = delete;

    RequestId start(const HttpRequest& request, Done done) override;
    void cancel(RequestId id) override;
    void set_tls(TlsSettings settings) { tls_ = std::move(settings); }  // SIGHUP: applies to new requests

private:
    struct Transfer;
    struct SockCtx;
    static int on_socket(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
    static int on_timer_change(CURLM* multi, long timeout_ms, void* userp);
    static int on_io(sd_event_source* src, int fd, uint32_t revents, void* userdata);
    static int on_timer(sd_event_source* src, uint64_t usec, void* userdata);
    static size_t on_write(char* ptr, size_t size, size_t nmemb, void* userdata);
    void check_done();
    void remove(RequestId id);

    sd_event* event_;
    TlsSettings tls_;
    CURLM* multi_ = nullptr;
    sd_event_source* timer_ = nullptr;
    RequestId next_id_ = 1;
    std::map<RequestId, std::unique_ptr<Transfer>> transfers_;
    std::map<curl_socket_t, sd_event_source*> sockets_;
    bool in_callback_ = false;
};

}  // namespace jit::helperd
