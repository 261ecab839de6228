// The daemon's one client of the authority (PROTOCOL.md §1-§3): the URL,
// headers and timeouts of each call, over the Transport interface. How the
// bytes travel (TLS, mTLS, the bearer token) is the transport's
// (TlsSettings, tls_settings_from in tls_settings.hpp).
// Used by the sync engine (poll), the request relay (post_request,
// get_request) and the audit upload (post_events).
#pragma once

#include <jit/helperd/config.hpp>
#include <jit/helperd/transport.hpp>

#include <cstdint>
#include <string>

namespace jit::helperd {

struct AuthorityTarget {
    std::string base_url;     // no trailing slash
    std::string host_id;
    int connect_timeout = 10; // seconds

    static AuthorityTarget from(const AuthorityConfig& config);
};

class AuthorityClient {
public:
    using RequestId = Transport::RequestId;
    using Done = Transport::Done;

    explicit AuthorityClient(Transport& transport, AuthorityTarget target = {});
    AuthorityClient(const AuthorityClient&) = delete;
    AuthorityClient& operator=(const AuthorityClient&) = delete;

    // SIGHUP: applies to calls started afterwards.
    void set_target(AuthorityTarget target) { target_ = std::move(target); }
    const AuthorityTarget& target() const { return target_; }

    // GET /v1/hosts/{host}/grants?after=N&wait=W: the long poll; the authority
    // may hold it `wait_seconds`.
    RequestId poll(std::int64_t after, int wait_seconds, Done done);
    // POST /v1/hosts/{host}/requests with a JSON body; at most
    // connect_timeout + kRelayWait seconds.
    RequestId post_request(std::string body, Done done);
    // GET /v1/hosts/{host}/requests/{id}; at most connect_timeout + kRelayWait seconds.
    RequestId get_request(const std::string& id, Done done);
    // POST /v1/hosts/{host}/events with a batch of audit events.
    RequestId post_events(std::string body, Done done);
    // The call's callback never runs.
    void cancel(RequestId id) { transport_.cancel(id); }

private:
    std::string host_url(const std::string& tail) const;
    HttpRequest request(const char* method, std::string url, int answer_seconds) const;

    Transport& transport_;
    AuthorityTarget target_;
};

}  // namespace jit::helperd
