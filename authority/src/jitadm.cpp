// jitadm: the operator and engineer CLI of jit-authority, over its admin API
// (docs/authority.md, jitadm.1). People authenticate with their personal token
// or their client certificate (mTLS).
#include <jit/helperd/config.hpp>  // parse_duration, url_host_is_loopback
#include <jit/json_text.hpp>

#include <CLI/CLI.hpp>
#include <curl/curl.h>
#include <json/json.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace {

struct Options {
    std::string url;
    std::string token_file;
    std::string ca_file;
    std::string cert_file;  // client certificate (PEM) bound to the person
    std::string key_file;   // its private key
    bool json = false;
};

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string read_text(const std::string& path, const char* what) {
    std::ifstream in(path);
    if (!in) throw Failure(std::string("cannot read ") + what + " " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A client certificate file to bind to a person: the authority checks it in
// full; a file that is no PEM certificate at all is named here.
std::string read_certificate(const std::string& path) {
    std::string pem = read_text(path, "certificate");
    if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
        throw Failure("certificate " + path + " is not a PEM certificate (no -----BEGIN CERTIFICATE----- line)");
    return pem;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

std::int64_t seconds(const std::string& text, const char* what) {
    auto n = jit::helperd::parse_duration(text);
    if (!n || *n <= 0) throw Failure(std::string(what) + " '" + text + "' is not a duration (e.g. 30m, 2h)");
    return *n;
}

std::string when(std::int64_t t) {
    if (t <= 0) return "never";
    char buf[32];
    std::time_t tt = t;
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", std::gmtime(&tt));
    return buf;
}

std::string text(const Json::Value& v) { return jit::indented_json(v); }

size_t collect(char* p, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, size * n);
    return size * n;
}

class Client {
public:
    explicit Client(Options o) : o_(std::move(o)) {
        if (o_.url.empty()) {
            const char* env = std::getenv("JITADM_URL");
            if (env == nullptr) throw Failure("no authority URL: use --url or set JITADM_URL");
            o_.url = env;
        }
        while (!o_.url.empty() && o_.url.back() == '/') o_.url.pop_back();
        if (o_.url.rfind("https://", 0) != 0 && !(o_.url.rfind("http://", 0) == 0 && jit::helperd::url_host_is_loopback(o_.url)))
            throw Failure("the authority URL must be https:// (plain http only for loopback): " + o_.url);
        if (o_.cert_file.empty())
            if (const char* env = std::getenv("JITADM_CERT")) o_.cert_file = env;
        if (o_.key_file.empty())
            if (const char* env = std::getenv("JITADM_KEY")) o_.key_file = env;
        if (!o_.cert_file.empty() && o_.key_file.empty()) throw Failure("--cert needs --key (or JITADM_KEY)");
        if (o_.cert_file.empty() && !o_.key_file.empty()) throw Failure("--key needs --cert (or JITADM_CERT)");
        if (!o_.cert_file.empty() && o_.url.rfind("https://", 0) != 0)
            throw Failure("a client certificate needs an https:// authority URL: " + o_.url);
        bool named = !o_.token_file.empty();
        if (!named) {
            const char* env = std::getenv("JITADM_TOKEN_FILE");
            const char* home = std::getenv("HOME");
            named = env != nullptr;
            o_.token_file = env ? env : std::string(home ? home : "") + "/.config/jit/token";
        }
        // With a certificate, the default token file is used only if it exists.
        if (named || o_.cert_file.empty() || access(o_.token_file.c_str(), F_OK) == 0)
            token_ = trimmed(read_text(o_.token_file, "token file"));
    }

    // Returns the decoded JSON answer; Failure with the authority's message otherwise.
    Json::Value call(const std::string& method, const std::string& path, const Json::Value* body = nullptr,
                     std::string* raw = nullptr) {
        CURL* c = curl_easy_init();
        if (c == nullptr) throw Failure("curl_easy_init failed");
        std::string out, payload;
        curl_slist* headers = nullptr;
        if (!token_.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
        headers = curl_slist_append(headers, "User-Agent: jitadm/" JIT_VERSION);
        if (body != nullptr) {
            payload = jit::compact_json(*body);
            headers = curl_slist_append(headers, "Content-Type: application/json");
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.c_str());
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, long(payload.size()));
        }
        const std::string url = o_.url + path;
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (!o_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o_.ca_file.c_str());
        if (!o_.cert_file.empty()) {
            curl_easy_setopt(c, CURLOPT_SSLCERT, o_.cert_file.c_str());
            curl_easy_setopt(c, CURLOPT_SSLKEY, o_.key_file.c_str());
        }
        const CURLcode rc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(headers);
        curl_easy_cleanup(c);
        if (rc != CURLE_OK) throw Failure("cannot reach " + o_.url + ": " + curl_easy_strerror(rc));
        if (raw != nullptr) *raw = out;
        Json::Value v;
        std::string err;
        std::unique_ptr<Json::CharReader> r(Json::CharReaderBuilder().newCharReader());
        const bool parsed = !out.empty() && r->parse(out.data(), out.data() + out.size(), &v, &err);
        if (status >= 400) {
            if (parsed && v.isObject() && v["message"].isString())
                throw Failure(std::to_string(status) + " " + v["error"].asString() + ": " + v["message"].asString());
            throw Failure("the authority answered " + std::to_string(status));
        }
        if (!parsed && raw == nullptr) throw Failure("the authority's answer is not JSON");
        return v;
    }

    const Options& options() const { return o_; }

private:
    Options o_;
    std::string token_;
};

std::string query(const std::vector<std::pair<std::string, std::string>>& kv) {
    std::string q;
    for (const auto& [k, v] : kv) {
        if (v.empty()) continue;
        char* e = curl_easy_escape(nullptr, v.c_str(), int(v.size()));
        q += (q.empty() ? "?" : "&") + k + "=" + e;
        curl_free(e);
    }
    return q;
}

void print_request_line(const Json::Value& r) {
    std::printf("%-20s %-10s %-12s %-10s %3d/%d  %s\n", r["id"].asCString(), r["host_id"].asCString(),
                r["requested_by"].asCString(), r["state"].asCString(), int(r["approvals"].size()),
                r["approvals_required"].asInt(), r["request"]["reason"].asCString());
}

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

// Follows a request until decided. Live status on a terminal, one line per
// change otherwise. Ctrl-C leaves the request pending.
int wait_for(Client& client, const std::string& id) {
    std::signal(SIGINT, on_sigint);
    const bool tty = isatty(STDOUT_FILENO) == 1;
    std::string last;
    const char* spin = "|/-\\";
    for (unsigned tick = 0;; ++tick) {
        if (g_interrupted) {
            std::printf("%srequest %s stays pending; check it with: jitadm requests show %s\n", tty ? "\n" : "", id.c_str(),
                        id.c_str());
            return 130;
        }
        if (tick % 20 == 0) {
            Json::Value r = client.call("GET", "/admin/requests/" + id);
            const std::string state = r["state"].asString();
            std::string line = "request " + id + ": " + state + " (" + std::to_string(r["approvals"].size()) + "/" +
                               std::to_string(r["approvals_required"].asInt()) + " approvals)";
            if (state != "pending") {
                std::printf("%s%s\n", tty ? "\r\033[K" : "", line.c_str());
                if (state == "approved") {
                    std::printf("approved by %s; grant %s on %s. Log in with: ssh %s@%s\n",
                                r["decided_by"].size() ? r["decided_by"][0].asCString() : "rule",
                                r["grant_id"].asCString(), r["host_id"].asCString(), r["user"].asCString(),
                                r["host_id"].asCString());
                    return 0;
                }
                if (r["message"].isString()) std::printf("message: %s\n", r["message"].asCString());
                return 1;
            }
            if (!tty && line != last) std::printf("%s\n", line.c_str());
            last = line;
            std::fflush(stdout);
        }
        if (tty) {
            std::printf("\r\033[K%c %s", spin[tick % 4], last.c_str());
            std::fflush(stdout);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"jitadm: ask for, approve and administer just-in-time access through jit-authority"};
    app.name("jitadm");
    app.require_subcommand(1);
    app.set_version_flag("--version", "jitadm " JIT_VERSION);
    Options o;
    app.add_option("--url", o.url, "authority URL (or JITADM_URL)");
    app.add_option("--token-file", o.token_file, "personal token (or JITADM_TOKEN_FILE; default ~/.config/jit/token)");
    app.add_option("--ca", o.ca_file, "CA bundle for the authority's certificate");
    app.add_option("--cert", o.cert_file, "your client certificate, PEM (or JITADM_CERT; instead of a token)");
    app.add_option("--key", o.key_file, "its private key, PEM (or JITADM_KEY)");
    app.add_flag("--json", o.json, "print the authority's JSON answers");
    std::function<int(Client&)> run;
    auto show = [&](const Json::Value& v) { std::printf("%s\n", text(v).c_str()); };

    // jitadm request HOST ...: an engineer asks for access.
    auto* req = app.add_subcommand("request", "ask for access to a host");
    std::string host, duration = "1h", reason, ticket, extend, user, ssh_key_file;
    std::vector<std::string> sudo;
    std::string run_as = "root";
    bool wait = false, no_login = false;
    req->add_option("host", host, "host id")->required();
    req->add_option("--duration", duration, "how long (e.g. 30m, 2h)")->capture_default_str();
    req->add_option("--reason", reason, "why (shown to approvers and kept in the grant)")->required();
    req->add_option("--ticket", ticket, "change or incident reference");
    req->add_option("--sudo", sudo, "a command to run with sudo (repeatable; ALL for any)");
    req->add_option("--run-as", run_as, "sudo target user")->capture_default_str();
    req->add_option("--ssh-key", ssh_key_file, "an OpenSSH public key file allowed to log in during the window");
    req->add_option("--extend", extend, "extend this active grant instead");
    req->add_flag("--no-login", no_login, "sudo-only access (no new sessions)");
    req->add_flag("--wait", wait, "follow the request until it is decided");
    req->callback([&] {
        run = [&](Client& c) {
            Json::Value b;
            b["host_id"] = host;
            b["duration_seconds"] = Json::Int64(seconds(duration, "--duration"));
            b["reason"] = reason;
            if (!ticket.empty()) b["ticket"] = ticket;
            if (!extend.empty()) b["extends"] = extend;
            if (no_login) b["login"] = false;
            if (!sudo.empty()) {
                b["sudo"]["run_as"] = run_as;
                for (const auto& s : sudo) b["sudo"]["commands"].append(s);
            }
            if (!ssh_key_file.empty()) b["ssh_authorized_keys"].append(trimmed(read_text(ssh_key_file, "ssh key")));
            Json::Value r = c.call("POST", "/admin/requests", &b);
            if (c.options().json) show(r);
            else std::printf("request %s on %s: %s (%d approval%s needed, rule %s)\n", r["id"].asCString(), host.c_str(),
                             r["state"].asCString(), r["approvals_required"].asInt(),
                             r["approvals_required"].asInt() == 1 ? "" : "s", r["rule"].asCString());
            return wait ? wait_for(c, r["id"].asString()) : 0;
        };
    });

    auto* reqs = app.add_subcommand("requests", "list, show, approve, deny or cancel requests");
    reqs->require_subcommand(1);
    std::string state, id, comment;
    auto* rl = reqs->add_subcommand("list", "requests (approvers see all, others their own)");
    rl->add_option("--host", host, "only this host");
    rl->add_option("--state", state, "pending, approved, denied, expired or cancelled");
    rl->callback([&] {
        run = [&](Client& c) {
            Json::Value all = c.call("GET", "/admin/requests" + query({{"host", host}, {"state", state}}));
            if (c.options().json) show(all);
            else for (const auto& r : all) print_request_line(r);
            return 0;
        };
    });
    for (const char* verb : {"show", "approve", "deny", "cancel"}) {
        auto* s = reqs->add_subcommand(verb, std::string(verb) + " a request");
        s->add_option("id", id, "request id")->required();
        if (std::string(verb) == "approve" || std::string(verb) == "deny")
            s->add_option("--comment", comment, "recorded with the decision")->required(std::string(verb) == "deny");
        s->callback([&, v = std::string(verb)] {
            run = [&, v](Client& c) {
                Json::Value r;
                if (v == "show") r = c.call("GET", "/admin/requests/" + id);
                else {
                    Json::Value b;
                    b["comment"] = comment;
                    r = c.call("POST", "/admin/requests/" + id + "/" + v, &b);
                }
                if (c.options().json || v == "show") show(r);
                else std::printf("request %s: %s%s\n", id.c_str(), r["state"].asCString(),
                                 r["grant_id"].isString() ? (" (grant " + r["grant_id"].asString() + ")").c_str() : "");
                return 0;
            };
        });
    }

    auto* hosts = app.add_subcommand("host", "register and list hosts");
    hosts->require_subcommand(1);
    std::vector<std::string> labels;
    auto* ha = hosts->add_subcommand("add", "register a host and print its bearer token (shown once)");
    ha->add_option("host", host, "host id")->required();
    ha->add_option("--label", labels, "key=value (repeatable), for [group] labels = ...");
    ha->callback([&] {
        run = [&](Client& c) {
            Json::Value b;
            b["host_id"] = host;
            for (const auto& l : labels) b["labels"].append(l);
            Json::Value r = c.call("POST", "/admin/hosts", &b);
            std::printf("%s\n", r["token"].asCString());
            return 0;
        };
    });
    hosts->add_subcommand("list", "hosts with last contact, revision and staleness")->callback([&] {
        run = [&](Client& c) {
            Json::Value all = c.call("GET", "/admin/hosts");
            if (c.options().json) { show(all); return 0; }
            std::printf("%-24s %8s %8s  %-21s %s\n", "HOST", "REVISION", "HOLDS", "LAST SEEN", "STALE");
            for (const auto& h : all)
                std::printf("%-24s %8lld %8lld  %-21s %s\n", h["host_id"].asCString(), (long long)h["revision"].asInt64(),
                            (long long)h["revision_held"].asInt64(), when(h["last_seen"].asInt64()).c_str(),
                            h["stale"].asBool() ? "yes" : "no");
            return 0;
        };
    });

    auto* grants = app.add_subcommand("grant", "create, list, revoke or extend grants directly (admins)");
    grants->require_subcommand(1);
    std::string grant_id;
    auto* gc = grants->add_subcommand("create", "grant access now, without a request");
    gc->add_option("host", host, "host id")->required();
    gc->add_option("--user", user, "login name")->required();
    gc->add_option("--duration", duration, "how long")->capture_default_str();
    gc->add_option("--reason", reason, "why")->required();
    gc->add_option("--sudo", sudo, "sudo command (repeatable)");
    gc->add_option("--ssh-key", ssh_key_file, "OpenSSH public key file");
    std::int64_t grant_uid = -1;
    gc->add_option("--uid", grant_uid, "the account's uid on the host (when it must be fixed)");
    gc->callback([&] {
        run = [&](Client& c) {
            Json::Value b;
            b["user"] = user;
            if (grant_uid >= 0) b["uid"] = Json::Int64(grant_uid);
            b["duration_seconds"] = Json::Int64(seconds(duration, "--duration"));
            b["reason"] = reason;
            if (!sudo.empty()) {
                b["sudo"]["run_as"] = run_as;
                for (const auto& s : sudo) b["sudo"]["commands"].append(s);
            }
            if (!ssh_key_file.empty()) b["ssh_authorized_keys"].append(trimmed(read_text(ssh_key_file, "ssh key")));
            Json::Value r = c.call("POST", "/admin/hosts/" + host + "/grants", &b);
            if (c.options().json) show(r);
            else std::printf("%s\n", r["grant"]["id"].asCString());
            return 0;
        };
    });
    auto* glist = grants->add_subcommand("list", "grants of a host");
    glist->add_option("host", host, "host id")->required();
    glist->callback([&] {
        run = [&](Client& c) {
            Json::Value all = c.call("GET", "/admin/hosts/" + host + "/grants");
            if (c.options().json) { show(all); return 0; }
            for (const auto& g : all)
                std::printf("%-20s %-12s %-8s until %s  %s\n", g["id"].asCString(), g["user"].asCString(),
                            g["state"].asCString(), when(g["not_after"].asInt64()).c_str(), g["reason"].asCString());
            return 0;
        };
    });
    auto* grv = grants->add_subcommand("revoke", "end a grant now");
    grv->add_option("host", host, "host id")->required();
    grv->add_option("id", grant_id, "grant id")->required();
    grv->add_option("--reason", reason, "why")->required();
    grv->callback([&] {
        run = [&](Client& c) {
            Json::Value b;
            b["reason"] = reason;
            Json::Value r = c.call("POST", "/admin/hosts/" + host + "/grants/" + grant_id + "/revoke", &b);
            std::printf("revoked %s (revision %lld)\n", grant_id.c_str(), (long long)r["revision"].asInt64());
            return 0;
        };
    });
    auto* gx = grants->add_subcommand("extend", "move a grant's end later");
    gx->add_option("host", host, "host id")->required();
    gx->add_option("id", grant_id, "grant id")->required();
    gx->add_option("--duration", duration, "how much longer")->required();
    gx->callback([&] {
        run = [&](Client& c) {
            Json::Value b;
            b["duration_seconds"] = Json::Int64(seconds(duration, "--duration"));
            Json::Value r = c.call("POST", "/admin/hosts/" + host + "/grants/" + grant_id + "/extend", &b);
            std::printf("%s now ends %s\n", grant_id.c_str(), when(r["not_after"].asInt64()).c_str());
            return 0;
        };
    });

    std::string since = "0", format = "json", role = "requester", name;
    auto* ev = app.add_subcommand("events", "audit events uploaded by hosts");
    ev->add_option("--host", host, "only this host");
    ev->add_option("--since", since, "unix time");
    ev->callback([&] {
        run = [&](Client& c) {
            show(c.call("GET", "/admin/events" + query({{"host", host}, {"since", since}})));
            return 0;
        };
    });
    auto* ac = app.add_subcommand("actions", "every action of people and hosts on the authority (admins)");
    ac->add_option("--since", since, "unix time");
    ac->add_option("--format", format, "json or csv")->check(CLI::IsMember({"json", "csv"}));
    ac->callback([&] {
        run = [&](Client& c) {
            std::string raw;
            if (format == "csv") {
                c.call("GET", "/admin/actions" + query({{"since", since}, {"format", "csv"}}), nullptr, &raw);
                std::fputs(raw.c_str(), stdout);
            } else {
                show(c.call("GET", "/admin/actions" + query({{"since", since}})));
            }
            return 0;
        };
    });
    auto* pa = app.add_subcommand("person", "add, list and remove people, rebind their certificate (admins)");
    pa->require_subcommand(1);
    auto* padd = pa->add_subcommand("add", "add a person and print their token (shown once)");
    std::string cert_file;
    bool with_token = false;
    padd->add_option("name", name, "user name")->required();
    padd->add_option("--role", role, "admin, approver or requester")->capture_default_str();
    padd->add_option("--cert", cert_file, "bind this client certificate (PEM) to the person: they authenticate with it");
    padd->add_flag("--token", with_token, "with --cert: also make a personal token (e.g. for the web page)");
    padd->callback([&] {
        run = [&](Client& c) {
            Json::Value b;
            b["name"] = name;
            b["role"] = role;
            if (!cert_file.empty()) {
                b["cert"] = read_certificate(cert_file);
                b["token"] = with_token;
            }
            Json::Value r = c.call("POST", "/admin/people", &b);
            if (c.options().json) { show(r); return 0; }
            if (r["cert_sha256"].isString())
                std::fprintf(stderr, "%s (%s) authenticates with the client certificate SHA-256 %s\n", r["name"].asCString(),
                             r["role"].asCString(), r["cert_sha256"].asCString());
            if (r["token"].isString()) std::printf("%s\n", r["token"].asCString());
            return 0;
        };
    });
    pa->add_subcommand("list", "people, their role and how they authenticate")->callback([&] {
        run = [&](Client& c) {
            Json::Value r = c.call("GET", "/admin/people");
            if (c.options().json) { show(r); return 0; }
            for (const auto& p : r)
                std::printf("%-16s %-10s %-6s %s\n", p["name"].asCString(), p["role"].asCString(),
                            p["token"].asBool() ? "token" : "-",
                            p["cert_sha256"].asString().empty() ? "-" : ("cert " + p["cert_sha256"].asString()).c_str());
            return 0;
        };
    });
    auto* pcert = pa->add_subcommand("cert", "bind a person to a new client certificate (a renewed one): the old one "
                                             "stops working at once");
    std::string new_cert_file;
    pcert->add_option("name", name, "user name")->required();
    pcert->add_option("--cert", new_cert_file, "the new client certificate (PEM)")->required();
    pcert->callback([&] {
        run = [&](Client& c) {
            Json::Value b;
            b["cert"] = read_certificate(new_cert_file);
            Json::Value r = c.call("POST", "/admin/people/" + name + "/cert", &b);
            if (c.options().json) { show(r); return 0; }
            std::printf("%s (%s) now authenticates with the client certificate SHA-256 %s (was %s)\n",
                        r["name"].asCString(), r["role"].asCString(), r["cert_sha256"].asCString(),
                        r["old_cert_sha256"].asString().empty() ? "none" : r["old_cert_sha256"].asCString());
            return 0;
        };
    });
    auto* prm = pa->add_subcommand("remove", "remove a person: their token and certificate stop working at once");
    prm->add_option("name", name, "user name")->required();
    prm->callback([&] {
        run = [&](Client& c) {
            std::string raw;
            c.call("DELETE", "/admin/people/" + name, nullptr, &raw);
            std::printf("removed %s\n", name.c_str());
            return 0;
        };
    });
    app.add_subcommand("keys", "the signing key in use and which hosts hold a bundle signed with it (key rotation)")
        ->callback([&] {
            run = [&](Client& c) {
                Json::Value k = c.call("GET", "/admin/keys");
                if (c.options().json) { show(k); return 0; }
                std::printf("signing key in use: %s\n", k["key_id"].asCString());
                for (const auto& kid : k["latest_bundles_by_key"].getMemberNames())
                    std::printf("  latest bundles signed with %s: %lld\n", kid.empty() ? "(none yet)" : kid.c_str(),
                                (long long)k["latest_bundles_by_key"][kid].asInt64());
                std::printf("hosts holding a bundle signed with %s: %lld of %lld\n", k["key_id"].asCString(),
                            (long long)k["hosts_holding_key_in_use"].asInt64(), (long long)k["hosts"].asInt64());
                if (k["hosts_behind"].size() > 0) {
                    std::printf("not yet:");
                    for (const auto& h : k["hosts_behind"]) std::printf(" %s", h.asCString());
                    std::printf("\n");
                } else {
                    std::printf("every host holds it: older keys can be retired from the hosts\n");
                }
                return 0;
            };
        });
    app.add_subcommand("whoami", "who the token belongs to")->callback([&] {
        run = [&](Client& c) {
            Json::Value r = c.call("GET", "/admin/whoami");
            std::printf("%s (%s)\n", r["name"].asCString(), r["role"].asCString());
            return 0;
        };
    });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        Client client(o);
        return run ? run(client) : 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jitadm: %s\n", e.what());
        return 1;
    }
}
