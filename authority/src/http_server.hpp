// jit-authority's HTTP front (libevent 2.1 evhttp, one event loop; chosen by
// bench/authority, docs/performance.md): routes PROTOCOL.md's host API and the
// admin API onto Service, authenticates hosts (bearer token and/or mTLS) and
// people (bearer token and/or a client certificate bound to them), and holds long polls until a new revision or `wait`.
#pragma once

#include "web_ui.hpp"

#include <jit/authority/service.hpp>

#include <event2/event.h>
#include <event2/http.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;

namespace jit::authority {

// The HTTP reason phrase of the statuses jit-authority answers with.
const char* reason_phrase(int status);

class HttpServer {
public:
    // Throws std::runtime_error naming what failed (TLS files, address).
    HttpServer(event_base* base, Service& service);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // ADDR:PORT; port 0 picks one. Returns the bound port. Plain http is
    // refused unless ADDR is a loopback address.
    int listen(const std::string& addr_port);
    // A new revision was committed: answer that host's held polls.
    void wake(const BundleRecord& bundle);
    // Whether a poll of this host is held here (nothing to wake otherwise).
    bool holds_poll(const std::string& host_id) const { return waiting_.count(host_id) > 0; }
    // Answers every held poll 503 shutting_down (before the loop stops).
    void shutdown();
    // Writes the batched last-seen times of hosts (from tick()).
    void flush_seen();
    std::size_t held_polls() const;
    // The approvers' page under /ui/ (web_ui.hpp).
    WebUi& web() { return *web_; }

    struct Waiter;
    struct Exchange;

private:
    static void on_request(evhttp_request* req, void* self) noexcept;
    static void on_wait_timeout(evutil_socket_t, short, void* waiter) noexcept;
    void handle(Exchange& x);
    void host_api(Exchange& x, const std::vector<std::string>& parts);
    void admin_api(Exchange& x, const std::vector<std::string>& parts);
    void poll(Exchange& x, const std::string& host_id);
    void release(Waiter* w);

    event_base* base_;
    Service& service_;
    evhttp* http_;
    SSL_CTX* tls_ = nullptr;
    std::unordered_map<std::string, std::vector<Waiter*>> waiting_;
    std::unordered_map<std::string, std::pair<UnixTime, std::int64_t>> seen_;
    std::unique_ptr<WebUi> web_;
};

}  // namespace jit::authority
