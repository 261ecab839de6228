#include <jit/helperd/authority_client.hpp>

#include <chrono>

namespace jit::helperd {
namespace {

// Beyond connect_timeout, how long each call may take to be answered: the
// long poll's hold plus transfer, a relayed request, a batch of events.
constexpr int kPollTransferSeconds = 15;
constexpr int kEventsAnswerSeconds = 30;

}  // namespace

AuthorityTarget AuthorityTarget::from(const AuthorityConfig& config) {
    return AuthorityTarget{config.url, config.host_id, config.connect_timeout};
}

AuthorityClient::AuthorityClient(Transport& transport, AuthorityTarget target)
    : transport_(transport), target_(std::move(target)) {}

std::string AuthorityClient::host_url(const std::string& tail) const {
    return target_.base_url + "/v1/hosts/" + target_.host_id + tail;
}

HttpRequest AuthorityClient::request(const char* method, std::string url, int answer_seconds) const {
    HttpRequest r;
    r.method = method;
    r.url = std::move(url);
    r.headers = {"Accept: application/json"};
    if (r.method == "POST") r.headers.insert(r.headers.begin(), "Content-Type: application/json");
    r.connect_timeout = std::chrono::seconds(target_.connect_timeout);
    r.total_timeout = std::chrono::seconds(target_.connect_timeout + answer_seconds);
    return r;
}

AuthorityClient::RequestId AuthorityClient::poll(std::int64_t after, int wait_seconds, Done done) {
    HttpRequest r = request("GET",
                            host_url("/grants?after=" + std::to_string(after) + "&wait=" + std::to_string(wait_seconds)),
                            wait_seconds + kPollTransferSeconds);
    return transport_.start(r, std::move(done));
}

AuthorityClient::RequestId AuthorityClient::post_request(std::string body, Done done) {
    HttpRequest r = request("POST", host_url("/requests"), kRelayWait);
    r.body = std::move(body);
    return transport_.start(r, std::move(done));
}

AuthorityClient::RequestId AuthorityClient::get_request(const std::string& id, Done done) {
    return transport_.start(request("GET", host_url("/requests/" + id), kRelayWait), std::move(done));
}

AuthorityClient::RequestId AuthorityClient::post_events(std::string body, Done done) {
    HttpRequest r = request("POST", host_url("/events"), kEventsAnswerSeconds);
    r.body = std::move(body);
    return transport_.start(r, std::move(done));
}

}  // namespace jit::helperd
