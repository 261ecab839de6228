#include <jit/helperd/curl_transport.hpp>
#include <jit/bundle.hpp>
#include <jit/helperd/boundary.hpp>
#include <jit/helperd/sd_loop.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/stat.h>

namespace jit::helperd {

Result<std::string> read_token_file(const std::string& path) {
    struct stat st{};
    if (stat(path.c_str(), &st) != 0) return make_error("config", path + ": " + std::strerror(errno));
    if (st.st_mode & 077) return make_error("config", path + ": token file must not be accessible by group or others");
    std::ifstream in(path);
    if (!in) return make_error("config", path + ": cannot read");
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    std::size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    line.erase(0, i);
    if (line.empty()) return make_error("config", path + ": empty token");
    for (char c : line)
        if (c < 0x21 || c > 0x7e) return make_error("config", path + ": token contains a space or non-ASCII character");
    return line;
}

Result<TlsSettings> tls_settings_from(const Config& config, const std::string& user_agent) {
    TlsSettings t;
    t.ca_file = config.authority.ca_file;
    t.client_cert = config.authority.client_cert;
    t.client_key = config.authority.client_key;
    t.allow_plain_http = config.authority.plain_http;
    t.user_agent = user_agent;
    if (!config.authority.token_file.empty()) {
        auto tok = read_token_file(config.authority.token_file);
        if (!tok) return tok.error();
        t.bearer_token = *tok;
    }
    return t;
}

struct CurlTransport::Transfer {
    CurlTransport* owner;
    RequestId id;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string body_out;  // POST body (must outlive the transfer)
    std::string body_in;
    bool too_large = false;
    Done done;
    char errbuf[CURL_ERROR_SIZE] = {};
};

CurlTransport::CurlTransport(sd_event* event, TlsSettings settings) : event_(sd_event_ref(event)), tls_(std::move(settings)) {
    multi_ = curl_multi_init();
    if (!multi_) throw std::runtime_error("curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlTransport::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlTransport::on_timer_change);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

CurlTransport::~CurlTransport() {
    while (!transfers_.empty()) remove(transfers_.begin()->first);
    for (auto& [fd, src] : sockets_) sd_event_source_disable_unref(src);
    sockets_.clear();
    if (timer_) sd_event_source_disable_unref(timer_);
    curl_multi_cleanup(multi_);
    sd_event_unref(event_);
}

size_t CurlTransport::on_write(char* ptr, size_t size, size_t nmemb, void* userdata) {
    auto* t = static_cast<Transfer*>(userdata);
    const size_t n = size * nmemb;
    if (t->body_in.size() + n > limits::kMaxEnvelopeBytes) {
        t->too_large = true;
        return 0;  // aborts the transfer
    }
    // 0 (abort the transfer) if the append throws.
    return size_t(at_c_boundary("curl write", [t, ptr, n] {
        t->body_in.append(ptr, n);
        return int(n);  // n <= CURL_MAX_WRITE_SIZE (16 KiB)
    }));
}

Transport::RequestId CurlTransport::start(const HttpRequest& request, Done done) {
    auto t = std::make_unique<Transfer>();
    t->owner = this;
    t->id = next_id_++;
    t->done = std::move(done);
    t->easy = curl_easy_init();
    if (!t->easy) throw std::runtime_error("curl_easy_init failed");
    CURL* e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85: CURLOPT_PROTOCOLS_STR; older (RHEL 9): the bitmask
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, tls_.allow_plain_http ? "http,https" : "https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, long(tls_.allow_plain_http ? (CURLPROTO_HTTP | CURLPROTO_HTTPS) : CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!tls_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, tls_.ca_file.c_str());
    if (!tls_.client_cert.empty()) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, tls_.client_cert.c_str());
        curl_easy_setopt(e, CURLOPT_SSLKEY, tls_.client_key.c_str());
    }
    curl_easy_setopt(e, CURLOPT_USERAGENT, tls_.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, long(request.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, long(request.total_timeout.count()));
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(limits::kMaxEnvelopeBytes));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &CurlTransport::on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    for (const auto& h : request.headers) t->headers = curl_slist_append(t->headers, h.c_str());
    if (!tls_.bearer_token.empty())
        t->headers = curl_slist_append(t->headers, ("Authorization: Bearer " + tls_.bearer_token).c_str());
    t->headers = curl_slist_append(t->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    if (request.method == "POST") {
        t->body_out = request.body;
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body_out.c_str());
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(t->body_out.size()));
    }
    const RequestId id = t->id;
    transfers_[id] = std::move(t);
    curl_multi_add_handle(multi_, transfers_[id]->easy);  // kicks the timer callback; work starts from the loop
    return id;
}

void CurlTransport::remove(RequestId id) {
    auto it = transfers_.find(id);
    if (it == transfers_.end()) return;
    curl_multi_remove_handle(multi_, it->second->easy);
    curl_easy_cleanup(it->second->easy);
    curl_slist_free_all(it->second->headers);
    transfers_.erase(it);
}

void CurlTransport::cancel(RequestId id) { remove(id); }

int CurlTransport::on_socket(CURL*, curl_socket_t s, int what, void* userp, void*) {
    return at_c_boundary("curl socket", [s, what, userp] {
        auto* self = static_cast<CurlTransport*>(userp);
        auto it = self->sockets_.find(s);
        if (what == CURL_POLL_REMOVE) {
            if (it != self->sockets_.end()) {
                sd_event_source_disable_unref(it->second);
                self->sockets_.erase(it);
            }
            return 0;
        }
        uint32_t events = 0;
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= EPOLLOUT;
        if (it != self->sockets_.end()) {
            sd_event_source_set_io_events(it->second, events);
            return 0;
        }
        sd_event_source* src = nullptr;
        if (sd_event_add_io(self->event_, &src, s, events, &CurlTransport::on_io, self) < 0) return -1;
        self->sockets_[s] = src;
        return 0;
    }, -1);
}

int CurlTransport::on_timer_change(CURLM*, long timeout_ms, void* userp) {
    return at_c_boundary("curl timer change", [timeout_ms, userp] {
        auto* self = static_cast<CurlTransport*>(userp);
        if (timeout_ms < 0) {
            if (self->timer_) sd_event_source_set_enabled(self->timer_, SD_EVENT_OFF);
            return 0;
        }
        std::uint64_t now_us = 0;
        sd_event_now(self->event_, CLOCK_MONOTONIC, &now_us);
        const std::uint64_t due = now_us + std::uint64_t(timeout_ms) * 1000;
        if (!self->timer_) {
            if (sd_event_add_time(self->event_, &self->timer_, CLOCK_MONOTONIC, due, SdLoop::kAccuracyUsec,
                                  &CurlTransport::on_timer, self) < 0)
                return -1;
        } else {
            sd_event_source_set_time(self->timer_, due);
        }
        sd_event_source_set_enabled(self->timer_, SD_EVENT_ONESHOT);
        return 0;
    }, -1);
}

// The transfers' `done` callbacks (the daemon's bundle handling, relayed
// answers, the upload queue) run from here, inside the boundary.
int CurlTransport::on_io(sd_event_source*, int fd, uint32_t revents, void* userdata) {
    return at_c_boundary("curl io", [fd, revents, userdata] {
        auto* self = static_cast<CurlTransport*>(userdata);
        int flags = 0;
        if (revents & EPOLLIN) flags |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT) flags |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
        int running = 0;
        curl_multi_socket_action(self->multi_, fd, flags, &running);
        self->check_done();
    });
}

int CurlTransport::on_timer(sd_event_source*, uint64_t, void* userdata) {
    return at_c_boundary("curl timer", [userdata] {
        auto* self = static_cast<CurlTransport*>(userdata);
        int running = 0;
        curl_multi_socket_action(self->multi_, CURL_SOCKET_TIMEOUT, 0, &running);
        self->check_done();
    });
}

void CurlTransport::check_done() {
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        Transfer* t = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
        if (!t) continue;
        HttpResponse r;
        if (m->data.result == CURLE_OK) {
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &r.status);
            r.body = std::move(t->body_in);
        } else {
            r.error = t->too_large ? std::string("response larger than the limit")
                                   : std::string(curl_easy_strerror(m->data.result)) +
                                         (t->errbuf[0] ? std::string(": ") + t->errbuf : std::string());
            r.tls_verify_failed = m->data.result == CURLE_PEER_FAILED_VERIFICATION;
        }
        Done done = std::move(t->done);
        remove(t->id);  // before the callback: it may start a new request
        if (done) done(std::move(r));
    }
}

}  // namespace jit::helperd
