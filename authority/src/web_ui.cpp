#include "web_ui.hpp"

#include "http_server.hpp"

#include <jit/authority/crypto.hpp>
#include <jit/decision.hpp>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <json/json.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace jit::authority {

std::string_view embedded(std::string_view name);  // generated from authority/web (cmake/embed_files.cmake)

namespace {

constexpr UnixTime kSessionIdle = 3600;        // signed out after an hour without a request
constexpr UnixTime kSessionMax = 12 * 3600;    // and after twelve hours in any case
constexpr std::size_t kMaxSessions = 10000;
constexpr std::size_t kMaxStreams = 512;
constexpr UnixTime kKeepalive = 15;
constexpr std::size_t kMaxCommentBytes = 500;
const char* const kCookie = "jit_session";
const char* const kLoginCookie = "jit_login";  // double-submit token of the sign-in form

const char* const kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

using Vars = std::map<std::string, std::string>;
using Headers = std::vector<std::pair<std::string, std::string>>;

std::string html_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

// {{key}}: the value HTML-escaped; {{{key}}}: already HTML (rendered here).
// A key the template names but `vars` lacks is a bug: it throws.
std::string render(std::string_view name, const Vars& vars) {
    const std::string_view t = embedded(name);
    if (t.empty()) throw std::logic_error("no page template " + std::string(name));
    std::string out;
    std::size_t at = 0;
    while (true) {
        const std::size_t open = t.find("{{", at);
        if (open == std::string_view::npos) break;
        out.append(t.substr(at, open - at));
        const bool raw = t.substr(open, 3) == "{{{";
        const std::size_t start = open + (raw ? 3 : 2);
        const std::size_t close = t.find(raw ? "}}}" : "}}", start);
        if (close == std::string_view::npos) throw std::logic_error("unclosed {{ in " + std::string(name));
        const std::string key(t.substr(start, close - start));
        auto it = vars.find(key);
        if (it == vars.end()) throw std::logic_error("template " + std::string(name) + " needs " + key);
        out += raw ? it->second : html_escape(it->second);
        at = close + (raw ? 3 : 2);
    }
    out.append(t.substr(at));
    return out;
}

std::string utc(UnixTime t) {
    if (t <= 0) return "never";
    std::tm tm{};
    const std::time_t tt = static_cast<std::time_t>(t);
    if (gmtime_r(&tt, &tm) == nullptr) return std::to_string(t);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
}

// "2026-12-07T14:30" (an <input type=datetime-local>, read as UTC) or seconds since the epoch.
std::optional<UnixTime> parse_time(const std::string& s) {
    if (s.empty()) return std::nullopt;
    if (std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) && s.size() <= 12)
        return std::stoll(s);
    std::tm tm{};
    const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M", &tm);
    if (end != nullptr && *end == ':') end = strptime(end, ":%S", &tm);
    if (end == nullptr || *end != '\0') throw ApiError(400, "invalid_parameter", "'" + s + "' is not a time (YYYY-MM-DDTHH:MM, UTC)");
    return static_cast<UnixTime>(timegm(&tm));
}

std::string random_hex(std::size_t bytes) {
    // new_token() is "jit_" + 64 hex digits (256 random bits); the hex part is what we need.
    std::string t = new_token().substr(4);
    return t.substr(0, bytes * 2);
}

bool same_secret(const std::string& a, const std::string& b) {
    return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string header(evhttp_request* req, const char* name) {
    const char* v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    return v ? v : "";
}

std::string cookie(evhttp_request* req, const std::string& name) {
    const std::string all = header(req, "Cookie");
    std::size_t at = 0;
    while (at < all.size()) {
        std::size_t end = all.find(';', at);
        if (end == std::string::npos) end = all.size();
        std::string part = all.substr(at, end - at);
        const auto b = part.find_first_not_of(' ');
        part = b == std::string::npos ? "" : part.substr(b);
        if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
        at = end + 1;
    }
    return "";
}

std::map<std::string, std::string> form(const std::string& body) {
    std::map<std::string, std::string> out;
    evkeyvalq kv{};
    if (evhttp_parse_query_str(body.c_str(), &kv) != 0) throw ApiError(400, "invalid_request", "malformed form");
    for (evkeyval* e = kv.tqh_first; e != nullptr; e = e->next.tqe_next) {
        if (out.count(e->key)) {
            evhttp_clear_headers(&kv);
            throw ApiError(400, "invalid_request", std::string("form field '") + e->key + "' given twice");
        }
        out[e->key] = e->value;
    }
    evhttp_clear_headers(&kv);
    return out;
}

void reply(evhttp_request* req, int status, const std::string& body, const std::string& type, const Headers& extra = {}) {
    evkeyvalq* out = evhttp_request_get_output_headers(req);
    if (!type.empty()) evhttp_add_header(out, "Content-Type", type.c_str());
    evhttp_add_header(out, "Content-Security-Policy", kCsp);
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(out, "X-Frame-Options", "DENY");
    evhttp_add_header(out, "Referrer-Policy", "no-referrer");
    evhttp_add_header(out, "Cache-Control", "no-store");
    for (const auto& [k, v] : extra) evhttp_add_header(out, k.c_str(), v.c_str());
    evbuffer* buf = evbuffer_new();
    if (buf != nullptr) evbuffer_add(buf, body.data(), body.size());
    evhttp_send_reply(req, status, reason_phrase(status), buf);
    if (buf != nullptr) evbuffer_free(buf);
}

void redirect(evhttp_request* req, const std::string& to, const Headers& extra = {}) {
    Headers h = extra;
    h.emplace_back("Location", to);
    reply(req, 303, "", "", h);
}

std::string set_cookie(const std::string& name, const std::string& value, UnixTime max_age) {
    return name + "=" + value + "; Path=/ui; Max-Age=" + std::to_string(max_age) + "; Secure; HttpOnly; SameSite=Strict";
}

std::string strings(const Json::Value& a) {
    std::string out;
    for (const auto& s : a) out += (out.empty() ? "" : ", ") + s.asString();
    return out;
}

std::string text_field(const std::map<std::string, std::string>& f, const std::string& key) {
    auto it = f.find(key);
    const std::string v = it == f.end() ? "" : it->second;
    if (v.size() > kMaxCommentBytes) throw ApiError(400, "invalid_request", key + " is longer than 500 bytes");
    for (unsigned char c : v)
        if (c < 0x20 || c == 0x7f) throw ApiError(400, "invalid_request", key + " holds control characters");
    return v;
}

}  // namespace

struct WebUi::Stream {
    WebUi* ui;
    evhttp_request* req;
    evhttp_connection* conn;
    std::string session_key;
};

// What a page is rendered with: who, their session, the clock.
struct WebUi::Page {
    const PersonRecord& person;
    Session& session;
    UnixTime now;
    bool at_least(const char* role) const { return role_rank(person.role) >= role_rank(role); }
};

WebUi::WebUi(event_base* base, Service& service) : base_(base), service_(service) {}

WebUi::~WebUi() { shutdown(); }

void WebUi::shutdown() {
    auto all = streams_;
    for (Stream* s : all) end_stream(s, true);
}

void WebUi::end_stream(Stream* s, bool reply_end) {
    streams_.erase(std::remove(streams_.begin(), streams_.end(), s), streams_.end());
    if (reply_end) {
        evhttp_connection_set_closecb(s->conn, nullptr, nullptr);
        evhttp_send_reply_end(s->req);
    }
    delete s;
}

void WebUi::on_stream_closed(evhttp_connection*, void* arg) noexcept {
    // The browser left: libevent frees the request itself; only forget it.
    auto* s = static_cast<Stream*>(arg);
    try {
        s->ui->end_stream(s, false);
    } catch (...) {
        std::fprintf(stderr, "jit-authority: error while closing an event stream\n");
    }
}

void WebUi::changed(const Service::Change& c) {
    // Only the kind: each page fetches itself again with its own rights.
    const std::string chunk = "event: change\ndata: " + c.kind + "\n\n";
    for (Stream* s : streams_) {
        evbuffer* buf = evbuffer_new();
        if (buf == nullptr) continue;
        evbuffer_add(buf, chunk.data(), chunk.size());
        evhttp_send_reply_chunk(s->req, buf);
        evbuffer_free(buf);
    }
}

void WebUi::end_session(const std::string& key) {
    sessions_.erase(key);
    auto all = streams_;
    for (Stream* s : all)
        if (s->session_key == key) end_stream(s, true);
}

void WebUi::tick() {
    const UnixTime now = service_.now();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (now - it->second.last > kSessionIdle || now - it->second.created > kSessionMax) {
            const std::string key = it->first;
            ++it;
            end_session(key);
        } else {
            ++it;
        }
    }
    if (now - last_keepalive_ < kKeepalive) return;
    last_keepalive_ = now;
    for (Stream* s : streams_) {
        evbuffer* buf = evbuffer_new();
        if (buf == nullptr) continue;
        evbuffer_add(buf, ": keep-alive\n\n", 14);
        evhttp_send_reply_chunk(s->req, buf);
        evbuffer_free(buf);
    }
}

void WebUi::handle(const Request& r) noexcept {
    try {
        route(r);
    } catch (const ApiError& e) {
        try {
            const std::string page = render("error.html", {{"status", std::to_string(e.status)},
                                                            {"code", e.code},
                                                            {"message", e.what()},
                                                            {"back", "/ui/"}});
            reply(r.req, e.status, page, "text/html; charset=utf-8");
        } catch (...) {
            reply(r.req, 500, "internal error\n", "text/plain");
        }
    } catch (const StoreError& e) {
        std::fprintf(stderr, "jit-authority: storage: %s\n", e.what());
        reply(r.req, 503, "the authority cannot reach its database; try again\n", "text/plain; charset=utf-8",
              {{"Retry-After", "5"}});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jit-authority: page %s: %s\n", r.method.c_str(), e.what());
        reply(r.req, 500, "internal error\n", "text/plain");
    } catch (...) {
        reply(r.req, 500, "internal error\n", "text/plain");
    }
}

void WebUi::serve_static(const Request& r, const std::string& name) {
    if (r.method != "GET") throw ApiError(405, "method_not_allowed", "use GET");
    std::string type;
    if (name == "app.css") type = "text/css; charset=utf-8";
    else if (name == "app.js") type = "text/javascript; charset=utf-8";
    else throw ApiError(404, "not_found", "no such file");
    reply(r.req, 200, std::string(embedded(name)), type);
}

void WebUi::login(const Request& r) {
    // A client certificate bound to a person signs them in (after signing out,
    // only when they ask: the page offers it).
    std::optional<PersonRecord> by_cert = service_.store().person_by_cert(r.cert_sha256);
    if (r.method == "GET") {
        if (by_cert && !r.query.count("out")) return sign_in(r, *by_cert, "certificate");
        const std::string login_csrf = random_hex(16);
        Vars v{{"csrf", login_csrf}, {"flash", ""}, {"cert", ""}};
        if (r.query.count("out")) v["flash"] = render("flash.html", {{"kind", "ok"}, {"text", "Signed out."}});
        if (r.query.count("expired"))
            v["flash"] = render("flash.html", {{"kind", "error"}, {"text", "Your session ended; sign in again."}});
        if (by_cert)
            v["cert"] = render("login_cert.html", {{"csrf", login_csrf}, {"name", by_cert->name}, {"role", by_cert->role}});
        else if (const std::string why = certificate_refusal(r); !why.empty())
            v["cert"] = render("flash.html", {{"kind", "error"}, {"text", why}});
        return reply(r.req, 200, render("login.html", v), "text/html; charset=utf-8",
                     {{"Set-Cookie", set_cookie(kLoginCookie, login_csrf, 600)}});
    }
    if (r.method != "POST") throw ApiError(405, "method_not_allowed", "use GET or POST");
    const auto f = form(r.body);
    auto csrf = f.find("csrf");
    if (csrf == f.end() || !same_secret(csrf->second, cookie(r.req, kLoginCookie)))
        throw ApiError(403, "csrf", "the sign-in form has expired or did not come from this page; reload it");
    auto refused = [&](const std::string& text, const std::string& cert_notice) {
        const std::string page = render("login.html", {{"csrf", csrf->second},
                                                       {"flash", render("flash.html", {{"kind", "error"}, {"text", text}})},
                                                       {"cert", cert_notice}});
        return reply(r.req, 401, page, "text/html; charset=utf-8");
    };
    if (auto with = f.find("with"); with != f.end() && with->second == "certificate") {
        if (by_cert) return sign_in(r, *by_cert, "certificate");
        std::fprintf(stderr, "jit-authority: page sign-in by certificate from %s refused: %s\n", r.peer.c_str(),
                     r.cert_sha256.empty() ? "none presented" : "bound to nobody");
        const std::string why = certificate_refusal(r);
        return refused(why.empty() ? "Your browser presented no client certificate: sign in with your personal token."
                                   : why,
                       "");
    }
    auto token = f.find("token");
    std::string t = token == f.end() ? "" : token->second;
    while (!t.empty() && (t.back() == ' ' || t.back() == '\n' || t.back() == '\r')) t.pop_back();
    while (!t.empty() && t.front() == ' ') t.erase(t.begin());
    auto person = t.empty() ? std::nullopt : service_.store().person_by_token_hash(token_hash(t));
    if (!person) {
        // To the journal (rate-limited there), not the database: anyone can try.
        std::fprintf(stderr, "jit-authority: page sign-in with an unknown token from %s\n", r.peer.c_str());
        return refused("Unknown token.", "");
    }
    // As on the admin API: a certificate and a token must name the same person.
    if (by_cert && by_cert->name != person->name)
        throw ApiError(403, "forbidden", "your client certificate is " + by_cert->name + "'s and the token " +
                                             person->name + "'s: sign in with one person's credentials");
    sign_in(r, *person, "token");
}

void WebUi::sign_in(const Request& r, const PersonRecord& person, const std::string& method) {
    if (sessions_.size() >= kMaxSessions) throw ApiError(503, "busy", "too many sessions; try again later");
    const UnixTime now = service_.now();
    const bool by_cert = method == "certificate";
    const std::string id = random_hex(32);
    sessions_[token_hash(id)] = Session{by_cert ? "" : person.token_hash, by_cert ? person.cert_sha256 : "", person.name,
                                        random_hex(32), now, now, "", ""};
    Json::Value detail;
    detail["method"] = method;
    if (by_cert) detail["cert_sha256"] = person.cert_sha256;
    service_.record(Caller{person.name, r.peer}, "web.sign_in", person.name, detail);
    redirect(r.req, "/ui/", {{"Set-Cookie", set_cookie(kCookie, id, kSessionMax)},
                             {"Set-Cookie", set_cookie(kLoginCookie, "", 0)}});
}

std::string WebUi::certificate_refusal(const Request& r) {
    if (r.cert_sha256.empty() || service_.store().person_by_cert(r.cert_sha256)) return "";
    if (!r.cert_cn.empty() && service_.store().host(r.cert_cn))
        return "Your browser presented the certificate of host " + r.cert_cn + " (SHA-256 " + r.cert_sha256 +
               "). A host's certificate never signs a person in: sign in with your personal token, or choose your "
               "own certificate.";
    return "Your browser presented a client certificate (CN " + (r.cert_cn.empty() ? std::string("none") : r.cert_cn) +
           ", SHA-256 " + r.cert_sha256 +
           ") that is bound to nobody here: it was never bound, or its person was removed or given a new certificate. "
           "Sign in with your personal token, or ask an admin to bind it (jitadm person cert NAME --cert FILE).";
}

void WebUi::route(const Request& r) {
    const auto& p = r.parts;
    const std::string page = p.size() >= 2 ? p[1] : "";
    if (p.size() == 3 && page == "static") return serve_static(r, p[2]);
    if (p.size() == 2 && page == "login") return login(r);
    if (r.body.size() > 64 * 1024) throw ApiError(413, "payload_too_large", "form over 64 KiB");

    // Everything else needs a session.
    const std::string key = token_hash(cookie(r.req, kCookie));
    auto it = sessions_.find(key);
    std::optional<PersonRecord> person;
    if (it != sessions_.end()) {
        const Session& s = it->second;
        // A certificate's session holds only while the browser presents it.
        if (!s.cert_sha256.empty() && s.cert_sha256 == r.cert_sha256) person = service_.store().person_by_cert(s.cert_sha256);
        if (s.cert_sha256.empty()) person = service_.store().person_by_token_hash(s.token_hash);
        // A token's session with another person's certificate: as at sign-in
        // (and on the admin API), a certificate and a token must name the same
        // person. The session ends; nothing is served as either.
        if (person && s.cert_sha256.empty() && !r.cert_sha256.empty())
            if (auto other = service_.store().person_by_cert(r.cert_sha256); other && other->name != person->name) {
                std::fprintf(stderr, "jit-authority: page session of %s ended: the browser presented %s's certificate\n",
                             person->name.c_str(), other->name.c_str());
                end_session(key);
                throw ApiError(403, "forbidden", "your client certificate is " + other->name + "'s and this session is " +
                                                     person->name + "'s: sign in again");
            }
    }
    if (it == sessions_.end() || !person) {
        if (it != sessions_.end()) end_session(key);
        if (r.method == "GET" && page != "events") return redirect(r.req, "/ui/login");
        throw ApiError(401, "unauthorized", "sign in first");
    }
    Session& s = it->second;
    const UnixTime now = service_.now();
    s.last = now;
    if (r.method == "POST") return post(r, s, key, *person);
    if (r.method != "GET") throw ApiError(405, "method_not_allowed", "use GET or POST");
    if (p.size() == 2 && page == "events") return open_stream(r, key);
    if (p.size() == 2 && page == "audit.csv") {
        return reply(r.req, 200, audit_csv(r, *person), "text/csv; charset=utf-8",
                     {{"Content-Disposition", "attachment; filename=\"jit-audit.csv\""}});
    }
    Page pg{*person, s, now};
    std::string title, body;
    if (p.size() == 2 && page.empty()) {
        title = "Requests";
        body = page_requests(pg);
    } else if (p.size() == 2 && page == "grants") {
        title = "Active grants";
        body = page_grants(pg);
    } else if (p.size() == 2 && page == "hosts") {
        title = "Hosts";
        body = page_hosts(pg);
    } else if (p.size() == 2 && page == "audit") {
        title = "Audit";
        body = page_audit(pg, r);
    } else {
        throw ApiError(404, "not_found", "no such page");
    }
    std::string nav;
    const std::pair<const char*, const char*> pages[] = {
        {"", "Requests"}, {"grants", "Grants"}, {"hosts", "Hosts"}, {"audit", "Audit"}};
    for (const auto& [path, label] : pages) {
        if (*path != '\0' && !pg.at_least("approver")) continue;
        nav += std::string("<a href=\"/ui/") + path + "\"" + (page == path ? " aria-current=\"page\"" : "") + ">" +
               label + "</a>";
    }
    std::string flash;
    // A live refresh (app.js) leaves the notice to the page the browser is navigating to.
    if (!s.flash.empty() && header(r.req, "X-Jit-Refresh").empty()) {
        flash = render("flash.html", {{"kind", s.flash_kind}, {"text", s.flash}});
        s.flash.clear();
    }
    const std::string html = render("layout.html", {{"title", title},
                                                     {"nav", nav},
                                                     {"body", body},
                                                     {"name", person->name},
                                                     {"role", person->role},
                                                     {"csrf", s.csrf},
                                                     {"flash", flash},
                                                     {"now", std::to_string(now)},
                                                     {"live", "yes"}});
    reply(r.req, 200, html, "text/html; charset=utf-8");
}

void WebUi::post(const Request& r, Session& s, const std::string& session_key, const PersonRecord& person) {
    // A cross-site form cannot know the session's token (and SameSite=Strict
    // keeps the cookie off it anyway); a browser's Origin, when sent, must be ours.
    const auto f = form(r.body);
    auto csrf = f.find("csrf");
    if (csrf == f.end() || !same_secret(csrf->second, s.csrf))
        throw ApiError(403, "csrf", "this form did not come from your page (missing or wrong CSRF token); reload the page");
    const std::string origin = header(r.req, "Origin"), our_host = header(r.req, "Host");
    if (!origin.empty() && origin != "null") {
        const auto scheme = origin.find("://");
        if (scheme == std::string::npos || origin.substr(scheme + 3) != our_host)
            throw ApiError(403, "csrf", "the form was posted from " + origin + ", not from this page");
    }
    const Caller caller{person.name, r.peer};
    const auto& p = r.parts;
    const std::size_t n = p.size();
    auto need = [&](const char* role) {
        if (role_rank(person.role) < role_rank(role))
            throw ApiError(403, "forbidden", person.name + " is a " + person.role + "; this needs " + role);
    };
    if (n == 2 && p[1] == "logout") {
        service_.record(caller, "web.sign_out", person.name, Json::Value(Json::objectValue));
        end_session(session_key);
        return redirect(r.req, "/ui/login?out=1", {{"Set-Cookie", set_cookie(kCookie, "", 0)}});
    }
    std::string done, back = "/ui/";
    if (n == 4 && p[1] == "requests") {
        const std::string& id = p[2];
        const std::string comment = text_field(f, "comment");
        if (p[3] == "approve") {
            need("approver");
            Json::Value v = service_.approve(id, comment, caller);
            done = v["state"].asString() == "approved" ? "Approved " + id + " (grant " + v["grant_id"].asString() + ")"
                                                        : "Your approval of " + id + " is recorded; more are needed";
        } else if (p[3] == "deny") {
            need("approver");
            service_.deny(id, comment, caller);
            done = "Denied " + id;
        } else if (p[3] == "cancel") {
            service_.cancel(id, caller);
            done = "Cancelled " + id;
        } else {
            throw ApiError(404, "not_found", "no such action");
        }
    } else if (n == 5 && p[1] == "grants") {
        const std::string &host = p[2], &id = p[3];
        back = "/ui/grants";
        if (p[4] == "revoke") {
            need("approver");
            const std::string reason = text_field(f, "reason");
            if (reason.empty()) throw ApiError(400, "invalid_request", "say why the grant is revoked");
            service_.revoke_grant(host, id, reason, caller);
            done = "Revoked " + id + " on " + host;
        } else if (p[4] == "extend") {
            need("admin");
            const std::string d = text_field(f, "duration");
            if (d.empty() || d.size() > 7 || !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; }))
                throw ApiError(400, "invalid_request", "duration must be a number of seconds");
            Json::Value v = service_.extend_grant(host, id, std::stoll(d), caller);
            done = "Extended " + id + " until " + utc(v["not_after"].asInt64());
        } else {
            throw ApiError(404, "not_found", "no such action");
        }
    } else {
        throw ApiError(404, "not_found", "no such action");
    }
    s.flash = done;
    s.flash_kind = "ok";
    redirect(r.req, back);
}

void WebUi::open_stream(const Request& r, const std::string& session_key) {
    if (streams_.size() >= kMaxStreams) throw ApiError(503, "busy", "too many open pages");
    evhttp_connection* conn = evhttp_request_get_connection(r.req);
    if (conn == nullptr) throw ApiError(400, "invalid_request", "no connection");
    evkeyvalq* out = evhttp_request_get_output_headers(r.req);
    evhttp_add_header(out, "Content-Type", "text/event-stream");
    evhttp_add_header(out, "Cache-Control", "no-store");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    evhttp_send_reply_start(r.req, 200, "OK");
    auto* s = new Stream{this, r.req, conn, session_key};
    streams_.push_back(s);
    evhttp_connection_set_closecb(conn, &WebUi::on_stream_closed, s);
    // An open stream is idle between changes: no read/write timeout (the keep-alives show it is alive).
    evhttp_connection_set_timeout(conn, 24 * 3600);
    evbuffer* buf = evbuffer_new();
    if (buf != nullptr) {
        const char hello[] = "retry: 2000\n: connected\n\n";
        evbuffer_add(buf, hello, sizeof hello - 1);
        evhttp_send_reply_chunk(r.req, buf);
        evbuffer_free(buf);
    }
}

std::string WebUi::page_requests(Page& pg) {
    const bool approver = pg.at_least("approver");
    std::vector<Json::Value> pending, recent;
    for (const auto& r : service_.list_requests("", "")) {
        if (!approver && r["requested_by"].asString() != pg.person.name) continue;
        (r["state"].asString() == "pending" ? pending : recent).push_back(r);
    }
    std::sort(pending.begin(), pending.end(),
              [](const Json::Value& a, const Json::Value& b) { return a["created_at"].asInt64() < b["created_at"].asInt64(); });
    std::sort(recent.begin(), recent.end(),
              [](const Json::Value& a, const Json::Value& b) { return a["created_at"].asInt64() > b["created_at"].asInt64(); });
    if (recent.size() > 20) recent.resize(20);
    std::string cards;
    for (const auto& r : pending) {
        const Json::Value& ask = r["request"];
        std::string by;
        for (const auto& a : r["approvals"]) by += (by.empty() ? "" : ", ") + a["by"].asString();
        Vars v{{"id", r["id"].asString()},
               {"state", r["state"].asString()},
               {"requested_by", r["requested_by"].asString()},
               {"what", access_summary(ask)},
               {"user", r["user"].asString()},
               {"host_id", r["host_id"].asString()},
               {"duration", format_duration(ask["duration_seconds"].asInt64()) +
                                (r.isMember("extends") ? " more on " + r["extends"].asString() : "")},
               {"reason", ask["reason"].asString()},
               {"ticket", ask.get("ticket", "—").asString()},
               {"created_at", std::to_string(r["created_at"].asInt64())},
               {"waited", format_duration(pg.now - r["created_at"].asInt64())},
               {"rule", r["rule"].asString()},
               {"approvals_have", std::to_string(r["approvals"].size())},
               {"approvals_required", std::to_string(r["approvals_required"].asInt())},
               {"approvals_by", by.empty() ? "none yet" : by},
               {"expires_at", std::to_string(r["expires_at"].asInt64())},
               {"expires", utc(r["expires_at"].asInt64())},
               {"csrf", pg.session.csrf}};
        // The requester has no approve button (and Service refuses them anyway).
        const bool own = r["requested_by"].asString() == pg.person.name;
        v["actions"] = render(own ? "request_own.html" : approver ? "request_decide.html" : "request_none.html", v);
        cards += render("request_card.html", v);
    }
    if (pending.empty()) cards = render("empty.html", {{"text", "Nobody is waiting."}});
    std::string rows;
    for (const auto& r : recent)
        rows += render("request_row.html", {{"id", r["id"].asString()},
                                            {"requested_by", r["requested_by"].asString()},
                                            {"user", r["user"].asString()},
                                            {"host_id", r["host_id"].asString()},
                                            {"state", r["state"].asString()},
                                            {"decided_by", strings(r["decided_by"])},
                                            {"message", r.get("message", "").asString()}});
    if (recent.empty()) rows = render("empty_row.html", {{"cols", "6"}, {"text", "No decisions yet."}});
    return render("requests.html", {{"pending_count", std::to_string(pending.size())}, {"pending", cards}, {"recent", rows}});
}

std::string WebUi::page_grants(Page& pg) {
    if (!pg.at_least("approver")) throw ApiError(403, "forbidden", pg.person.name + " is a " + pg.person.role + "; this needs approver");
    std::vector<Json::Value> active;
    for (const auto& h : service_.list_hosts())
        for (auto g : service_.list_grants(h["host_id"].asString()))
            if (g["state"].asString() == "active") {
                g["host_id"] = h["host_id"];
                active.push_back(g);
            }
    std::sort(active.begin(), active.end(),
              [](const Json::Value& a, const Json::Value& b) { return a["not_after"].asInt64() < b["not_after"].asInt64(); });
    std::string rows;
    for (const auto& g : active) {
        Vars v{{"id", g["id"].asString()},
               {"user", g["user"].asString()},
               {"host_id", g["host_id"].asString()},
               {"what", access_summary(g)},
               {"reason", g["reason"].asString()},
               {"not_after", std::to_string(g["not_after"].asInt64())},
               {"left", format_duration(g["not_after"].asInt64() - pg.now)},
               {"csrf", pg.session.csrf}};
        v["extend"] = pg.at_least("admin") ? render("grant_extend.html", v) : "";
        v["actions"] = render("grant_actions.html", v);
        rows += render("grant_row.html", v);
    }
    if (active.empty()) rows = render("empty_row.html", {{"cols", "7"}, {"text", "No active grants."}});
    return render("grants.html", {{"rows", rows}});
}

std::string WebUi::page_hosts(Page& pg) {
    if (!pg.at_least("approver")) throw ApiError(403, "forbidden", pg.person.name + " is a " + pg.person.role + "; this needs approver");
    std::string rows;
    for (const auto& h : service_.list_hosts()) {
        const bool stale = h["stale"].asBool();
        rows += render("host_row.html", {{"host_id", h["host_id"].asString()},
                                         {"labels", strings(h["labels"])},
                                         {"last_seen_t", std::to_string(h["last_seen"].asInt64())},
                                         {"last_seen", h["last_seen"].asInt64() ? utc(h["last_seen"].asInt64()) : "never"},
                                         {"revision", std::to_string(h["revision"].asInt64())},
                                         {"revision_held", h["revision_held"].asInt64() < 0 ? "—" : std::to_string(h["revision_held"].asInt64())},
                                         {"expires", utc(h.get("expires_at", 0).asInt64())},
                                         {"stale", stale ? "stale" : "current"},
                                         {"stale_class", stale ? "stale" : ""}});
    }
    if (rows.empty()) rows = render("empty_row.html", {{"cols", "7"}, {"text", "No hosts yet (jitadm host add)."}});
    return render("hosts.html", {{"rows", rows}});
}

namespace {

struct AuditFilter {
    std::string user, host, grant;
    UnixTime since = 0, until = 0;
    std::string since_text, until_text, query;
};

AuditFilter audit_filter(const WebUi::Request& r) {
    auto one = [&](const char* k) -> std::string {
        auto it = r.query.find(k);
        if (it == r.query.end() || it->second.empty()) return "";
        if (it->second.size() != 1) throw ApiError(400, "invalid_parameter", std::string("'") + k + "' given twice");
        if (it->second.front().size() > 200) throw ApiError(400, "invalid_parameter", std::string("'") + k + "' is too long");
        return it->second.front();
    };
    AuditFilter f{one("user"), one("host"), one("grant"), 0, 0, one("since"), one("until"), ""};
    if (auto t = parse_time(f.since_text)) f.since = *t;
    if (auto t = parse_time(f.until_text)) f.until = *t;
    for (const auto& [k, v] : std::initializer_list<std::pair<const char*, const std::string*>>{
             {"user", &f.user}, {"host", &f.host}, {"grant", &f.grant}, {"since", &f.since_text}, {"until", &f.until_text}}) {
        if (v->empty()) continue;
        char* enc = evhttp_uriencode(v->c_str(), ev_ssize_t(v->size()), 0);
        f.query += (f.query.empty() ? "" : "&") + std::string(k) + "=" + (enc ? enc : "");
        std::free(enc);
    }
    return f;
}

bool contains(const std::string& hay, const std::string& needle) { return needle.empty() || hay.find(needle) != std::string::npos; }

bool action_matches(const Json::Value& a, const AuditFilter& f) {
    const std::string detail = compact_json(a["detail"]);
    const std::string target = a["target"].asString();
    if (f.since && a["at"].asInt64() < f.since) return false;
    if (f.until && a["at"].asInt64() > f.until) return false;
    if (!f.user.empty() && a["actor"].asString() != f.user && a["detail"].get("user", "").asString() != f.user &&
        target != f.user)
        return false;
    if (!f.host.empty() && target != f.host && target.rfind(f.host + "/", 0) != 0) return false;
    return contains(target, f.grant) || contains(detail, f.grant);
}

bool event_matches(const Json::Value& e, const AuditFilter& f) {
    const Json::Value& ev = e["event"];
    const std::int64_t at = ev.get("time", e["received_at"]).asInt64();
    if (f.since && at < f.since) return false;
    if (f.until && at > f.until) return false;
    if (!f.user.empty() && ev.get("user", "").asString() != f.user) return false;
    if (!f.host.empty() && e["host_id"].asString() != f.host) return false;
    return f.grant.empty() || ev.get("grant_id", "").asString() == f.grant || contains(compact_json(ev), f.grant);
}

constexpr std::size_t kAuditRows = 500;  // on the page; the CSV has them all

std::string csv_cell(const std::string& s) {
    // Cells a spreadsheet would run as a formula are quoted with a leading '.
    std::string v = s;
    if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@')) v = "'" + v;
    if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
    std::string out = "\"";
    for (char c : v) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

}  // namespace

std::string WebUi::page_audit(Page& pg, const Request& r) {
    if (!pg.at_least("approver")) throw ApiError(403, "forbidden", pg.person.name + " is a " + pg.person.role + "; this needs approver");
    const AuditFilter f = audit_filter(r);
    std::string actions;
    std::size_t n_actions = 0, n_events = 0;
    if (pg.at_least("admin")) {
        std::string rows;
        const Json::Value all = service_.list_actions(f.since, 1000000);
        for (Json::ArrayIndex i = all.size(); i-- > 0;) {  // newest first
            const Json::Value& a = all[i];
            if (!action_matches(a, f)) continue;
            if (++n_actions > kAuditRows) continue;
            rows += render("action_row.html", {{"at", utc(a["at"].asInt64())},
                                               {"actor", a["actor"].asString()},
                                               {"source", a["source"].asString()},
                                               {"action", a["action"].asString()},
                                               {"target", a["target"].asString()},
                                               {"detail", compact_json(a["detail"])}});
        }
        if (rows.empty()) rows = render("empty_row.html", {{"cols", "6"}, {"text", "Nothing matches."}});
        actions = render("actions_table.html", {{"rows", rows}});
    } else {
        actions = render("actions_hidden.html", {});
    }
    std::string events;
    const Json::Value all = service_.list_events(f.host, 0, 100000);
    for (Json::ArrayIndex i = all.size(); i-- > 0;) {
        const Json::Value& e = all[i];
        if (!event_matches(e, f)) continue;
        if (++n_events > kAuditRows) continue;
        const Json::Value& ev = e["event"];
        events += render("event_row.html", {{"at", utc(ev.get("time", e["received_at"]).asInt64())},
                                            {"host_id", e["host_id"].asString()},
                                            {"seq", std::to_string(e["seq"].asInt64())},
                                            {"type", ev.get("type", "").asString()},
                                            {"user", ev.get("user", "").asString()},
                                            {"grant_id", ev.get("grant_id", "").asString()}});
    }
    if (events.empty()) events = render("empty_row.html", {{"cols", "6"}, {"text", "Nothing matches."}});
    auto shown = [](std::size_t n) { return n > kAuditRows ? std::to_string(kAuditRows) + " of " + std::to_string(n) : std::to_string(n); };
    return render("audit.html", {{"user", f.user},
                                 {"host", f.host},
                                 {"grant", f.grant},
                                 {"since", f.since_text},
                                 {"until", f.until_text},
                                 {"query", f.query},
                                 {"action_count", pg.at_least("admin") ? shown(n_actions) : ""},
                                 {"actions", actions},
                                 {"event_count", shown(n_events)},
                                 {"events", events}});
}

std::string WebUi::audit_csv(const Request& r, const PersonRecord& person) {
    if (role_rank(person.role) < role_rank("approver"))
        throw ApiError(403, "forbidden", person.name + " is a " + person.role + "; this needs approver");
    const AuditFilter f = audit_filter(r);
    std::string csv = "record,at,host,actor_or_user,source,action_or_type,target,detail\n";
    if (role_rank(person.role) >= role_rank("admin"))
        for (const auto& a : service_.list_actions(f.since, 1000000)) {
            if (!action_matches(a, f)) continue;
            const std::string target = a["target"].asString();
            csv += "action," + std::to_string(a["at"].asInt64()) + "," + csv_cell(target.substr(0, target.find('/'))) +
                   "," + csv_cell(a["actor"].asString()) + "," + csv_cell(a["source"].asString()) + "," +
                   csv_cell(a["action"].asString()) + "," + csv_cell(target) + "," + csv_cell(compact_json(a["detail"])) + "\n";
        }
    for (const auto& e : service_.list_events(f.host, 0, 100000)) {
        if (!event_matches(e, f)) continue;
        const Json::Value& ev = e["event"];
        csv += "event," + std::to_string(ev.get("time", e["received_at"]).asInt64()) + "," + csv_cell(e["host_id"].asString()) +
               "," + csv_cell(ev.get("user", "").asString()) + ",," + csv_cell(ev.get("type", "").asString()) + "," +
               csv_cell(ev.get("grant_id", "").asString()) + "," + csv_cell(compact_json(ev)) + "\n";
    }
    service_.record(Caller{person.name, r.peer}, "web.audit_export", f.query, Json::Value(Json::objectValue));
    return csv;
}

}  // namespace jit::authority
