#include "http_server.hpp"

#include <jit/names.hpp>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <json/json.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>

namespace jit::authority {

constexpr std::size_t kMaxBodyBytes = 8 * 1024 * 1024;   // events batches
constexpr std::size_t kMaxRequestBodyBytes = 256 * 1024;  // everything else

struct HttpServer::Waiter {
    HttpServer* server;
    evhttp_request* req;
    std::string host_id;
    std::int64_t after;
    event* timer = nullptr;
};

struct HttpServer::Exchange {
    evhttp_request* req;
    std::string method;
    std::string path;
    std::map<std::string, std::vector<std::string>> query;
    std::string peer;
    std::string body;
    std::string bearer;       // "" when none
    std::string cert_cn;      // verified client certificate's CN, "" when none
    std::string cert_sha256;  // and the SHA-256 of its DER (people are bound to it)

    std::string param(const std::string& key) const {
        auto it = query.find(key);
        if (it == query.end()) return "";
        if (it->second.size() != 1) throw ApiError(400, "invalid_parameter", "query parameter '" + key + "' given twice");
        return it->second.front();
    }
    bool has(const std::string& key) const { return query.count(key) != 0; }
};

const char* reason_phrase(int status) {
    switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 413: return "Payload Too Large";
        case 422: return "Unprocessable Entity";
        case 503: return "Service Unavailable";
        default: return "Internal Server Error";
    }
}

namespace {

void send(evhttp_request* req, int status, const std::string& body, const char* type = "application/json",
          const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    evkeyvalq* out = evhttp_request_get_output_headers(req);
    // The connection may be gone (the client left a long poll): libevent then
    // frees the request in evhttp_send_reply without touching the socket.
    if (!body.empty()) evhttp_add_header(out, "Content-Type", type);
    for (const auto& [k, v] : headers) evhttp_add_header(out, k.c_str(), v.c_str());
    evbuffer* buf = evbuffer_new();
    if (buf != nullptr) evbuffer_add(buf, body.data(), body.size());
    evhttp_send_reply(req, status, reason_phrase(status), buf);
    if (buf != nullptr) evbuffer_free(buf);
}

void send_json(evhttp_request* req, int status, const Json::Value& v,
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    send(req, status, compact_json(v) + "\n", "application/json", headers);
}

void send_error(evhttp_request* req, int status, const std::string& code, const std::string& message) {
    Json::Value e;
    e["error"] = code;
    e["message"] = message;
    std::vector<std::pair<std::string, std::string>> headers;
    if (status == 401) headers.emplace_back("WWW-Authenticate", "Bearer");
    if (status == 503) headers.emplace_back("Retry-After", "5");
    send_json(req, status, e, headers);
}

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> parts;
    std::string cur;
    for (std::size_t i = 1; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            parts.push_back(cur);
            cur.clear();
        } else {
            cur += path[i];
        }
    }
    return parts;
}

bool is_loopback(const std::string& addr) {
    return addr.rfind("127.", 0) == 0 || addr == "::1" || addr == "localhost";
}

bool is_decimal(const std::string& s, std::size_t max_digits) {
    return !s.empty() && s.size() <= max_digits && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::int64_t int_param(const HttpServer::Exchange& x, const std::string& key, std::int64_t dflt) {
    if (!x.has(key)) return dflt;
    const std::string v = x.param(key);
    if (!is_decimal(v, 18)) throw ApiError(400, "invalid_parameter", key + "=" + v + " is not a non-negative integer");
    return std::stoll(v);
}

void require_method(const HttpServer::Exchange& x, const char* allowed) {
    if (x.method != allowed) throw ApiError(405, "method_not_allowed", x.method + " is not allowed here; use " + allowed);
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

int rank(const std::string& role) { return role_rank(role); }

void on_tls_info(const SSL*, int, int) {}

bufferevent* make_tls_bev(event_base* base, void* ctx) {
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx));
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

// The client certificate, when the TLS layer verified it against client_ca:
// its CN and the SHA-256 of its DER; empty strings when there is none.
CertificateId verified_cert(evhttp_request* req) {
    evhttp_connection* conn = evhttp_request_get_connection(req);
    if (conn == nullptr) return {};
    bufferevent* bev = evhttp_connection_get_bufferevent(conn);
    SSL* ssl = bev ? bufferevent_openssl_get_ssl(bev) : nullptr;
    if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (cert == nullptr) return {};
    auto id = certificate_id(cert);
    return id ? *id : CertificateId{};
}

}  // namespace

HttpServer::HttpServer(event_base* base, Service& service)
    : base_(base), service_(service), http_(evhttp_new(base)), web_(std::make_unique<WebUi>(base, service)) {
    if (http_ == nullptr) throw std::runtime_error("evhttp_new failed");
    evhttp_set_gencb(http_, &HttpServer::on_request, this);
    evhttp_set_max_body_size(http_, kMaxBodyBytes);
    evhttp_set_max_headers_size(http_, 64 * 1024);
    evhttp_set_timeout(http_, 75);  // above the longest poll (60 s)
    evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE);
    const Settings& s = service.config().settings;
    if (!s.tls_cert.empty()) {
        tls_ = SSL_CTX_new(TLS_server_method());
        if (tls_ == nullptr || SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION) != 1 ||
            SSL_CTX_use_certificate_chain_file(tls_, s.tls_cert.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(tls_, s.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(tls_) != 1) {
            char err[256];
            ERR_error_string_n(ERR_get_error(), err, sizeof err);
            throw std::runtime_error("TLS certificate " + s.tls_cert + " / key " + s.tls_key + ": " + err);
        }
        if (!s.client_ca.empty()) {
            if (SSL_CTX_load_verify_locations(tls_, s.client_ca.c_str(), nullptr) != 1)
                throw std::runtime_error("client CA " + s.client_ca + " is not readable PEM");
            // Certificates are optional at the TLS layer (people and token hosts
            // use the same port); a host with a verified certificate is its CN.
            SSL_CTX_set_verify(tls_, SSL_VERIFY_PEER, nullptr);
            // Browsers offer their people only certificates from these CAs.
            if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.client_ca.c_str()))
                SSL_CTX_set_client_CA_list(tls_, names);
            // A resumed TLS session keeps its verified peer certificate; without
            // a session id context OpenSSL refuses every resumption when it asks
            // for certificates (an internal-error alert: browsers resume).
            static const unsigned char kSessionContext[] = "jit-authority";
            SSL_CTX_set_session_id_context(tls_, kSessionContext, sizeof kSessionContext - 1);
        }
        (void)on_tls_info;
        evhttp_set_bevcb(http_, make_tls_bev, tls_);
    }
}

HttpServer::~HttpServer() {
    shutdown();
    evhttp_free(http_);
    if (tls_ != nullptr) SSL_CTX_free(tls_);
}

int HttpServer::listen(const std::string& addr_port) {
    const auto colon = addr_port.rfind(':');
    std::string addr = addr_port.substr(0, colon);
    if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
    const int port = std::stoi(addr_port.substr(colon + 1));
    if (tls_ == nullptr && !is_loopback(addr))
        throw std::runtime_error("refusing plain http on " + addr_port + ": set tls_cert and tls_key (plain http is for loopback only)");
    evhttp_bound_socket* sock = evhttp_bind_socket_with_handle(http_, addr.c_str(), ev_uint16_t(port));
    if (sock == nullptr) throw std::runtime_error("cannot listen on " + addr_port + ": " + std::strerror(errno));
    // libevent listens with a backlog of 128: thousands of hosts reconnecting
    // at once (an authority restart) overflow it, and a connection dropped from
    // a full queue stalls its host for a minute of SYN-ACK retries
    // (bench/authority). The kernel caps this at net.core.somaxconn.
    if (::listen(evhttp_bound_socket_get_fd(sock), 65535) != 0)
        throw std::runtime_error("cannot listen on " + addr_port + ": " + std::strerror(errno));
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(sock), reinterpret_cast<sockaddr*>(&ss), &len);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

std::size_t HttpServer::held_polls() const {
    std::size_t n = 0;
    for (const auto& [h, v] : waiting_) n += v.size();
    return n;
}

void HttpServer::release(Waiter* w) {
    auto it = waiting_.find(w->host_id);
    if (it != waiting_.end()) {
        auto& v = it->second;
        v.erase(std::remove(v.begin(), v.end(), w), v.end());
        if (v.empty()) waiting_.erase(it);
    }
    if (w->timer != nullptr) event_free(w->timer);
    delete w;
}

void HttpServer::wake(const BundleRecord& b) {
    auto it = waiting_.find(b.host_id);
    if (it == waiting_.end()) return;
    std::vector<Waiter*> ready;
    for (Waiter* w : it->second)
        if (b.revision > w->after) ready.push_back(w);
    for (Waiter* w : ready) {
        send(w->req, 200, b.envelope, "application/json", {{"X-Jit-Revision", std::to_string(b.revision)}});
        release(w);
    }
}

void HttpServer::shutdown() {
    web_->shutdown();
    std::vector<Waiter*> all;
    for (auto& [h, v] : waiting_) all.insert(all.end(), v.begin(), v.end());
    for (Waiter* w : all) {
        send_error(w->req, 503, "shutting_down", "the authority is stopping; poll again");
        release(w);
    }
}

void HttpServer::flush_seen() {
    if (seen_.empty()) return;
    std::vector<Store::Seen> seen;
    seen.reserve(seen_.size());
    for (const auto& [host, v] : seen_) seen.push_back(Store::Seen{host, v.first, v.second});
    seen_.clear();
    service_.store().hosts_seen(seen);
}

void HttpServer::on_wait_timeout(evutil_socket_t, short, void* arg) noexcept {
    auto* w = static_cast<Waiter*>(arg);
    try {
        send(w->req, 304, "");
        w->server->release(w);
    } catch (...) {
        std::fprintf(stderr, "jit-authority: error while ending a long poll\n");
    }
}

void HttpServer::on_request(evhttp_request* req, void* self) noexcept {
    auto* server = static_cast<HttpServer*>(self);
    Exchange x{req, {}, {}, {}, {}, {}, {}, {}, {}};
    try {
        switch (evhttp_request_get_command(req)) {
            case EVHTTP_REQ_GET: x.method = "GET"; break;
            case EVHTTP_REQ_POST: x.method = "POST"; break;
            case EVHTTP_REQ_DELETE: x.method = "DELETE"; break;
            default: x.method = "OTHER"; break;
        }
        const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
        x.path = evhttp_uri_get_path(uri) ? evhttp_uri_get_path(uri) : "/";
        if (const char* q = evhttp_uri_get_query(uri)) {
            evkeyvalq kv{};
            if (evhttp_parse_query_str(q, &kv) != 0) throw ApiError(400, "invalid_parameter", "malformed query string");
            for (evkeyval* e = kv.tqh_first; e != nullptr; e = e->next.tqe_next) x.query[e->key].push_back(e->value);
            evhttp_clear_headers(&kv);
        }
        if (evhttp_connection* conn = evhttp_request_get_connection(req)) {
            char* addr = nullptr;
            ev_uint16_t port = 0;
            evhttp_connection_get_peer(conn, &addr, &port);
            x.peer = addr ? addr : "";
        }
        if (const char* auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization")) {
            std::string a = auth;
            if (a.rfind("Bearer ", 0) != 0) throw ApiError(401, "unauthorized", "only Bearer authorization is accepted");
            x.bearer = a.substr(7);
        }
        if (server->tls_ != nullptr) {
            CertificateId cert = verified_cert(req);
            x.cert_cn = std::move(cert.cn);
            x.cert_sha256 = std::move(cert.sha256);
        }
        evbuffer* in = evhttp_request_get_input_buffer(req);
        x.body.resize(evbuffer_get_length(in));
        if (!x.body.empty()) evbuffer_copyout(in, x.body.data(), x.body.size());
        server->handle(x);
    } catch (const ApiError& e) {
        send_error(req, e.status, e.code, e.what());
    } catch (const Json::Exception& e) {
        send_error(req, 400, "invalid_request", std::string("a field has the wrong type: ") + e.what());
    } catch (const StoreError& e) {
        std::fprintf(stderr, "jit-authority: storage: %s\n", e.what());
        send_error(req, 503, "storage", "the authority cannot reach its database; try again");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jit-authority: %s %s: %s\n", x.method.c_str(), x.path.c_str(), e.what());
        send_error(req, 500, "internal", "internal error");
    } catch (...) {
        send_error(req, 500, "internal", "internal error");
    }
}

void HttpServer::handle(Exchange& x) {
    const auto parts = split_path(x.path);
    if (parts.size() >= 3 && parts[0] == "v1" && parts[1] == "hosts") return host_api(x, parts);
    if (!parts.empty() && parts[0] == "admin") return admin_api(x, parts);
    if (!parts.empty() && parts[0] == "ui") return web_->handle(WebUi::Request{x.req, x.method, parts, x.query, x.peer, x.body, x.cert_sha256, x.cert_cn});
    if (x.path == "/" && x.method == "GET") return send(x.req, 303, "", "", {{"Location", "/ui/"}});
    throw ApiError(404, "not_found", "no such endpoint: " + x.path);
}

void HttpServer::host_api(Exchange& x, const std::vector<std::string>& parts) {
    // Who is calling: the token's host and/or the certificate's; both must agree.
    std::string authenticated;
    if (!x.bearer.empty()) {
        auto h = service_.store().host_by_token_hash(token_hash(x.bearer));
        if (!h) throw ApiError(401, "unauthorized", "unknown host token");
        authenticated = h->host_id;
    }
    if (!x.cert_sha256.empty()) {
        // A person's certificate never acts as a host, whatever its CN says.
        if (auto p = service_.store().person_by_cert(x.cert_sha256))
            throw ApiError(403, "forbidden", "this client certificate is " + p->name + "'s (a person's), not a host's");
    }
    if (!x.cert_cn.empty()) {
        if (!authenticated.empty() && authenticated != x.cert_cn)
            throw ApiError(403, "forbidden", "the client certificate and the token name different hosts");
        if (!service_.store().host(x.cert_cn)) throw ApiError(403, "forbidden", "host " + x.cert_cn + " is not registered");
        authenticated = x.cert_cn;
    }
    if (authenticated.empty()) throw ApiError(401, "unauthorized", "a host token or client certificate is required");
    const std::string& host_id = parts[2];
    if (!is_valid_host_id(host_id)) throw ApiError(400, "invalid_host_id", "malformed host id");
    if (host_id != authenticated)
        throw ApiError(403, "forbidden", "this credential belongs to " + authenticated + ", not " + host_id);
    const UnixTime now = service_.now();
    // (at, after): after -1 until a poll says which revision the host holds,
    // so a batch of events alone never writes one (Store::Seen).
    auto& seen = seen_.try_emplace(host_id, 0, -1).first->second;
    seen.first = now;
    const Caller caller{"host:" + host_id, x.peer};
    if (parts.size() == 4 && parts[3] == "grants") {
        require_method(x, "GET");
        seen.second = -1;
        return poll(x, host_id);
    }
    if (parts.size() == 4 && parts[3] == "events") {
        require_method(x, "POST");
        service_.add_events(host_id, parse_body(x.body));
        return send(x.req, 204, "");
    }
    if (x.body.size() > kMaxRequestBodyBytes) throw ApiError(413, "payload_too_large", "body over 256 KiB");
    if (parts.size() == 4 && parts[3] == "requests") {
        require_method(x, "POST");
        Json::Value view = service_.submit_request(host_id, parse_body(x.body), "host", caller);
        view.removeMember("host_id");
        return send_json(x.req, 201, view, {{"Location", "/v1/hosts/" + host_id + "/requests/" + view["id"].asString()}});
    }
    if (parts.size() == 5 && parts[3] == "requests") {
        require_method(x, "GET");
        return send_json(x.req, 200, service_.host_request_view(host_id, parts[4]));
    }
    throw ApiError(404, "not_found", "no such endpoint: " + x.path);
}

void HttpServer::poll(Exchange& x, const std::string& host_id) {
    if (!x.has("after")) throw ApiError(400, "invalid_parameter", "query parameter 'after' is required");
    const std::string after_text = x.param("after");
    if (!is_decimal(after_text, 19) || (after_text.size() == 19 && after_text > "9223372036854775807"))
        throw ApiError(400, "invalid_parameter", "after=" + after_text + " is not a revision (0 or more, below 2^63)");
    const std::int64_t after = std::stoll(after_text);
    std::int64_t wait = 0;
    if (x.has("wait")) {
        const std::string w = x.param("wait");
        if (!is_decimal(w, 2) || std::stoi(w) > 60) throw ApiError(400, "invalid_parameter", "wait=" + w + " must be 0..60");
        wait = std::min<std::int64_t>(std::stoi(w), service_.config().settings.max_wait);
    }
    seen_[host_id].second = after;
    const BundleRecord b = service_.current_bundle(host_id);
    if (b.revision > after)
        return send(x.req, 200, b.envelope, "application/json", {{"X-Jit-Revision", std::to_string(b.revision)}});
    if (wait == 0) return send(x.req, 304, "");
    auto* w = new Waiter{this, x.req, host_id, after, nullptr};
    w->timer = evtimer_new(base_, &HttpServer::on_wait_timeout, w);
    if (w->timer == nullptr) {
        delete w;
        throw std::runtime_error("evtimer_new failed");
    }
    timeval tv{static_cast<time_t>(wait), 0};
    evtimer_add(w->timer, &tv);
    waiting_[host_id].push_back(w);
}

void HttpServer::admin_api(Exchange& x, const std::vector<std::string>& parts) {
    // Who is calling: a personal token and/or a client certificate bound to a
    // person (jitadm person add NAME --cert FILE); both must name the same one.
    std::optional<PersonRecord> person;
    if (!x.bearer.empty()) {
        person = service_.store().person_by_token_hash(token_hash(x.bearer));
        if (!person) throw ApiError(401, "unauthorized", "unknown personal token");
    }
    if (!x.cert_sha256.empty()) {
        if (auto by_cert = service_.store().person_by_cert(x.cert_sha256)) {
            if (person && person->name != by_cert->name)
                throw ApiError(403, "forbidden", "the client certificate and the token name different people");
            person = std::move(by_cert);
        } else if (!person) {
            // A host's certificate, or one nobody was bound to (or whose person was removed).
            throw ApiError(401, "unauthorized", "this client certificate (CN " + (x.cert_cn.empty() ? std::string("none") : x.cert_cn) +
                                                    ") is not bound to a person (jitadm person add NAME --cert FILE)");
        }
    }
    if (!person)
        throw ApiError(401, "unauthorized", "a personal token or client certificate is required (jitadm --token-file or --cert)");
    const Caller caller{person->name, x.peer};
    auto need = [&](const char* role) {
        if (rank(person->role) < rank(role))
            throw ApiError(403, "forbidden", person->name + " is a " + person->role + "; this needs " + role);
    };
    const std::size_t n = parts.size();
    auto body = [&] {
        if (x.body.size() > kMaxRequestBodyBytes) throw ApiError(413, "payload_too_large", "body over 256 KiB");
        return x.body.empty() ? Json::Value(Json::objectValue) : parse_body(x.body);
    };
    if (n == 2 && parts[1] == "whoami") {
        Json::Value j;
        j["name"] = person->name;
        j["role"] = person->role;
        return send_json(x.req, 200, j);
    }
    if (n == 2 && parts[1] == "hosts") {
        if (x.method == "GET") {
            need("approver");
            return send_json(x.req, 200, service_.list_hosts());
        }
        require_method(x, "POST");
        need("admin");
        Json::Value b = body();
        std::vector<std::string> labels;
        for (const auto& l : b["labels"]) labels.push_back(l.asString());
        if (!b["host_id"].isString()) throw ApiError(400, "invalid_request", "host_id is required");
        Json::Value out;
        out["host_id"] = b["host_id"];
        out["token"] = service_.add_host(b["host_id"].asString(), labels, caller);
        return send_json(x.req, 201, out);
    }
    if (n >= 4 && parts[1] == "hosts" && parts[3] == "grants") {
        const std::string& host = parts[2];
        if (n == 4 && x.method == "GET") {
            need("approver");
            return send_json(x.req, 200, service_.list_grants(host));
        }
        if (n == 4) {
            require_method(x, "POST");
            need("admin");
            return send_json(x.req, 201, service_.create_grant(host, body(), caller));
        }
        if (n == 6 && parts[5] == "revoke") {
            require_method(x, "POST");
            need("approver");
            Json::Value b = body();
            return send_json(x.req, 200, service_.revoke_grant(host, parts[4], b["reason"].asString(), caller));
        }
        if (n == 6 && parts[5] == "extend") {
            require_method(x, "POST");
            need("admin");
            Json::Value b = body();
            if (!b["duration_seconds"].isIntegral()) throw ApiError(400, "invalid_request", "duration_seconds is required");
            return send_json(x.req, 200, service_.extend_grant(host, parts[4], b["duration_seconds"].asInt64(), caller));
        }
    }
    if (n == 4 && parts[1] == "hosts" && parts[3] == "reissue") {
        require_method(x, "POST");
        need("admin");
        Json::Value out;
        out["revision"] = Json::Int64(service_.reissue(parts[2]).revision);
        return send_json(x.req, 200, out);
    }
    if (n == 2 && parts[1] == "requests") {
        if (x.method == "POST") {
            Json::Value b = body();
            if (!b["host_id"].isString()) throw ApiError(400, "invalid_request", "host_id is required");
            const std::string host = b["host_id"].asString();
            b.removeMember("host_id");
            if (!b.isMember("user")) b["user"] = person->name;
            return send_json(x.req, 201, service_.submit_request(host, b, "person", caller));
        }
        require_method(x, "GET");
        Json::Value all = service_.list_requests(x.param("host"), x.param("state"));
        if (rank(person->role) >= rank("approver")) return send_json(x.req, 200, all);
        Json::Value mine(Json::arrayValue);
        for (const auto& r : all)
            if (r["requested_by"].asString() == person->name) mine.append(r);
        return send_json(x.req, 200, mine);
    }
    if (n >= 3 && parts[1] == "requests") {
        const std::string& id = parts[2];
        if (n == 3) {
            require_method(x, "GET");
            Json::Value r = service_.request_view(id);
            if (rank(person->role) < rank("approver") && r["requested_by"].asString() != person->name)
                throw ApiError(404, "not_found", "request " + id + " not found");
            return send_json(x.req, 200, r);
        }
        if (n == 4) {
            require_method(x, "POST");
            const std::string comment = body()["comment"].asString();
            if (parts[3] == "approve") { need("approver"); return send_json(x.req, 200, service_.approve(id, comment, caller)); }
            if (parts[3] == "deny") { need("approver"); return send_json(x.req, 200, service_.deny(id, comment, caller)); }
            if (parts[3] == "cancel") return send_json(x.req, 200, service_.cancel(id, caller));
        }
    }
    if (n == 2 && parts[1] == "events") {
        require_method(x, "GET");
        need("approver");
        return send_json(x.req, 200, service_.list_events(x.param("host"), int_param(x, "since", 0),
                                                          std::size_t(std::min<std::int64_t>(int_param(x, "limit", 1000), 100000))));
    }
    if (n == 2 && parts[1] == "actions") {
        require_method(x, "GET");
        need("admin");
        Json::Value all = service_.list_actions(int_param(x, "since", 0),
                                                std::size_t(std::min<std::int64_t>(int_param(x, "limit", 10000), 1000000)));
        if (x.param("format") != "csv") return send_json(x.req, 200, all);
        std::string csv = "id,at,actor,source,action,target,detail\n";
        for (const auto& a : all)
            csv += std::to_string(a["id"].asInt64()) + "," + std::to_string(a["at"].asInt64()) + "," +
                   csv_field(a["actor"].asString()) + "," + csv_field(a["source"].asString()) + "," +
                   csv_field(a["action"].asString()) + "," + csv_field(a["target"].asString()) + "," +
                   csv_field(compact_json(a["detail"])) + "\n";
        return send(x.req, 200, csv, "text/csv");
    }
    if (n == 2 && parts[1] == "keys") {
        require_method(x, "GET");
        need("approver");
        return send_json(x.req, 200, service_.keys_view());
    }
    if (n == 2 && parts[1] == "people") {
        need("admin");
        if (x.method == "GET") return send_json(x.req, 200, service_.list_people());
        require_method(x, "POST");
        Json::Value b = body();
        const std::string cert = b.get("cert", "").asString();
        const bool token = b.get("token", cert.empty()).asBool();
        return send_json(x.req, 201, service_.add_person(b["name"].asString(), b["role"].asString(), cert,
                                                         token, caller));
    }
    if (n == 4 && parts[1] == "people" && parts[3] == "cert") {
        require_method(x, "POST");
        need("admin");
        Json::Value b = body();
        if (!b["cert"].isString()) throw ApiError(400, "invalid_request", "cert (a PEM certificate) is required");
        return send_json(x.req, 200, service_.set_person_cert(parts[2], b["cert"].asString(), caller));
    }
    if (n == 3 && parts[1] == "people") {
        require_method(x, "DELETE");
        need("admin");
        service_.remove_person(parts[2], caller);
        return send(x.req, 204, "");
    }
    throw ApiError(404, "not_found", "no such endpoint: " + x.path);
}

}  // namespace jit::authority
