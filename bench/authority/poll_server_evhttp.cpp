// Long-poll server on libevent 2.1's evhttp (one event loop, no threads) for
// bench/authority: GET /poll?host=H holds until POST /wake?host=H (or /wake
// with no host) answers it. Prints its port on stdout; SIGTERM stops it.
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

std::unordered_multimap<std::string, evhttp_request*> g_waiting;

std::string query_value(evhttp_request* req, const char* key) {
    evkeyvalq q{};
    const char* query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    std::string out;
    if (query != nullptr && evhttp_parse_query_str(query, &q) == 0) {
        if (const char* v = evhttp_find_header(&q, key)) out = v;
        evhttp_clear_headers(&q);
    }
    return out;
}

void answer(evhttp_request* req, int status, const char* body) {
    evbuffer* b = evbuffer_new();
    evbuffer_add_printf(b, "%s", body);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Not Found", b);
    evbuffer_free(b);
}

void on_request(evhttp_request* req, void*) {
    const std::string path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path == "/poll") {
        g_waiting.emplace(query_value(req, "host"), req);
        return;
    }
    if (path == "/wake") {
        const std::string host = query_value(req, "host");
        std::vector<evhttp_request*> wake;
        if (host.empty()) {
            for (auto& [h, r] : g_waiting) wake.push_back(r);
            g_waiting.clear();
        } else {
            auto [b, e] = g_waiting.equal_range(host);
            for (auto it = b; it != e; ++it) wake.push_back(it->second);
            g_waiting.erase(host);
        }
        for (evhttp_request* r : wake) answer(r, 200, "woken\n");
        answer(req, 200, "ok\n");
        return;
    }
    answer(req, 404, "no\n");
}

void on_signal(evutil_socket_t, short, void* base) { event_base_loopbreak(static_cast<event_base*>(base)); }

}  // namespace

int main() {
    event_base* base = event_base_new();
    evhttp* http = evhttp_new(base);
    evhttp_set_gencb(http, on_request, nullptr);
    evhttp_set_timeout(http, 120);
    evhttp_bound_socket* sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (sock == nullptr) { std::perror("bind"); return 1; }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(sock), reinterpret_cast<sockaddr*>(&ss), &len);
    std::printf("%u\n", static_cast<unsigned>(ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)));
    std::fflush(stdout);
    event* term = evsignal_new(base, SIGTERM, on_signal, base);
    event* intr = evsignal_new(base, SIGINT, on_signal, base);
    event_add(term, nullptr);
    event_add(intr, nullptr);
    event_base_dispatch(base);
    event_free(term);
    event_free(intr);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
