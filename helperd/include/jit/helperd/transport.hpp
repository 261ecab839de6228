// HTTP to the authority, as an interface: CurlTransport (curl multi on the
// daemon's sd-event loop) in production, a fake in tests. Which requests are
// sent is AuthorityClient's (authority_client.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace jit::helperd {

struct HttpRequest {
    std::string method = "GET";        // GET or POST
    std::string url;
    std::string body;                  // POST body (JSON)
    std::vector<std::string> headers;  // "Name: value" (User-Agent/Authorization are added by the transport)
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds total_timeout{70000};
};

struct HttpResponse {
    long status = 0;                   // 0: no HTTP answer (see error)
    std::string body;
    std::string error;                 // transport error ("" when an HTTP status arrived)
    bool tls_verify_failed = false;    // the server's certificate did not verify (expired, wrong name,
                                       // unknown CA): worth an alert, not just a retry
};

class Transport {
public:
    using RequestId = std::uint64_t;
    using Done = std::function<void(HttpResponse)>;
    virtual ~Transport() = default;
    // Starts a request; `done` runs later from the event loop (never inside start()).
    virtual RequestId start(const HttpRequest& request, Done done) = 0;
    // Cancels a request: its callback never runs.
    virtual void cancel(RequestId id) = 0;
};

}  // namespace jit::helperd
