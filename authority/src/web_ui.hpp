// The approvers' page (docs/authority.md, "The web page"), served under /ui/
// by the same listener as the admin API: server-rendered HTML from the
// templates in authority/web/ (compiled in by cmake/embed_files.cmake), a
// little JavaScript, live updates by server-sent events.
//
// Sign-in is with the person's own token (only its SHA-256 is stored, as for
// the API) or, over TLS, with the client certificate bound to them (the
// browser presents it; no token to paste); the session is a random cookie (Secure, HttpOnly,
// SameSite=Strict) held in memory, so a restart signs everyone out. Every
// POST carries the session's CSRF token. Every action goes through Service
// with the same role checks as the admin API, and is recorded the same way.
#pragma once

#include <jit/authority/service.hpp>

#include <event2/event.h>
#include <event2/http.h>

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace jit::authority {

class WebUi {
public:
    WebUi(event_base* base, Service& service);
    ~WebUi();
    WebUi(const WebUi&) = delete;
    WebUi& operator=(const WebUi&) = delete;

    struct Request {
        evhttp_request* req;
        std::string method;
        std::vector<std::string> parts;  // path segments, parts[0] == "ui"
        std::map<std::string, std::vector<std::string>> query;
        std::string peer;
        std::string body;
        std::string cert_sha256;  // the verified client certificate of the connection, "" when none
        std::string cert_cn;
    };
    // Answers the request (HTML, a redirect, an asset) or holds it as an event stream.
    void handle(const Request& r) noexcept;
    // After a commit: tells every open page (event "change"; the page fetches itself again).
    void changed(const Service::Change& change);
    // Once a second: ends idle and old sessions, keeps event streams alive.
    void tick();
    // Ends every event stream (before the loop stops).
    void shutdown();
    std::size_t streams() const { return streams_.size(); }

    struct Session {
        // The credential it was signed in with, one of the two: a token, or a
        // client certificate (then every request must present that same
        // certificate). Removed, or replaced by a new one, it ends the session.
        std::string token_hash;
        std::string cert_sha256;
        std::string name;
        std::string csrf;
        UnixTime created = 0;
        UnixTime last = 0;
        std::string flash;
        std::string flash_kind;
    };
    struct Stream;

private:
    struct Page;
    void route(const Request& r);
    void serve_static(const Request& r, const std::string& name);
    void login(const Request& r);
    // A new session for the person (method "token" or "certificate"), on the record; redirects to the page.
    void sign_in(const Request& r, const PersonRecord& person, const std::string& method);
    // Why the connection's client certificate signs nobody in, for the sign-in page ("" when it is bound or absent).
    std::string certificate_refusal(const Request& r);
    void post(const Request& r, Session& s, const std::string& session_key, const PersonRecord& person);
    void open_stream(const Request& r, const std::string& session_key);
    void end_stream(Stream* s, bool reply_end);
    // Forgets the session and ends its event streams.
    void end_session(const std::string& key);
    static void on_stream_closed(evhttp_connection* conn, void* stream) noexcept;
    std::string page_requests(Page& p);
    std::string page_grants(Page& p);
    std::string page_hosts(Page& p);
    std::string page_audit(Page& p, const Request& r);
    std::string audit_csv(const Request& r, const PersonRecord& person);

    event_base* base_;
    Service& service_;
    std::unordered_map<std::string, Session> sessions_;  // key: SHA-256 of the cookie
    std::vector<Stream*> streams_;
    UnixTime last_keepalive_ = 0;
};

}  // namespace jit::authority
