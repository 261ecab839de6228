#include <jit/helperd/socket_server.hpp>
#include <jit/local_account.hpp>

#include <jit/helperd/boundary.hpp>

#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sched.h>
#include <unistd.h>

namespace jit::helperd {
namespace {
constexpr int64_t kPriority = SD_EVENT_PRIORITY_IMPORTANT;
}  // namespace

struct SocketServer::Conn {
    SocketServer* server;
    std::uint64_t id;
    int fd = -1;
    Peer peer;
    sd_event_source* io = nullptr;        // created only when the socket is not ready at once
    sd_event_source* deadline = nullptr;  // likewise; io_timeout_ms (answer_timeout_ms) after accept
    std::uint64_t accepted_us = 0;        // CLOCK_MONOTONIC
    ipc::FrameReader reader;
    std::string out;
    std::size_t written = 0;
    bool dispatched = false;
};

SocketServer::SocketServer(sd_event* event, SocketServerOptions options, Handler handler)
    : event_(sd_event_ref(event)), options_(std::move(options)), handler_(std::move(handler)),
      alive_(std::make_shared<bool>(true)) {}

SocketServer::~SocketServer() {
    *alive_ = false;
    while (!conns_.empty()) finish(conns_.begin()->first);
    if (listen_source_) sd_event_source_disable_unref(listen_source_);
    if (listen_fd_ >= 0) {
        // Remove the socket file if it is still the one we bound (not a successor's).
        struct stat path_st{}, fd_st{};
        if (fstat(listen_fd_, &fd_st) == 0 && lstat(options_.path.c_str(), &path_st) == 0 && S_ISSOCK(path_st.st_mode) &&
            bound_ino_ != 0 && path_st.st_ino == bound_ino_)
            unlink(options_.path.c_str());
        close(listen_fd_);
    }
    sd_event_unref(event_);
}

Status SocketServer::listen() {
    auto err = [](const std::string& what) { return make_error("socket", what + ": " + std::strerror(errno)); };
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (options_.path.empty() || options_.path.size() >= sizeof(addr.sun_path))
        return make_error("socket", "socket path '" + options_.path + "' is empty or too long");
    std::memcpy(addr.sun_path, options_.path.c_str(), options_.path.size() + 1);

    // Socket activation (jit-helperd.socket): systemd holds the listening
    // socket across daemon restarts, so a client that connects meanwhile
    // waits in the backlog for the new daemon instead of finding no socket.
    // The socket file is systemd's: not bound, not unlinked here.
    const int passed = sd_listen_fds(1);
    if (passed < 0) return make_error("socket", std::string("sd_listen_fds: ") + std::strerror(-passed));
    if (passed > 0) {
        if (passed != 1)
            return make_error("socket", "systemd passed " + std::to_string(passed) +
                                            " sockets; jit-helperd.socket must have exactly one ListenStream=");
        const int fd = SD_LISTEN_FDS_START;
        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, options_.path.c_str(), 0) <= 0)
            return make_error("socket", "the socket systemd passed is not a listening stream socket on " + options_.path +
                                            ": jit-helperd.socket's ListenStream= and helperd.conf socket.path must be the same");
        const int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
            return err("fcntl on the socket systemd passed");
        listen_fd_ = fd;
        if (auto applied = apply_owner_and_mode(); !applied) return applied;
        return watch_listener();
    }

    // Without systemd's RuntimeDirectory= nobody made /run/jit: the socket's
    // directory is created (0755, owned by the daemon: root) when missing.
    // Only the last component: its parent must exist.
    if (auto slash = options_.path.rfind('/'); slash != std::string::npos && slash > 0) {
        const std::string dir = options_.path.substr(0, slash);
        if (mkdir(dir.c_str(), 0755) == 0) {
            if (chmod(dir.c_str(), 0755) != 0) return err("chmod " + dir);  // whatever the umask
        } else if (errno != EEXIST) {
            return err("mkdir " + dir);
        }
    }
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) return err("socket");
    struct stat st{};
    if (lstat(options_.path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return make_error("socket", options_.path + " exists and is not a socket; refusing to replace it");
        // Stale (left by a daemon that died) or live (another jit-helperd)?
        // Only a socket nobody answers on is replaced.
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (probe < 0) return err("socket");
        const bool live = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 || errno == EAGAIN;
        close(probe);
        if (live)
            return make_error("socket", options_.path + " is in use: another jit-helperd is listening on it; refusing to take it over");
        unlink(options_.path.c_str());
    }
    // Bind with a tight umask, then open up to the configured mode: no window
    // in which the socket has a wider mode than intended.
    mode_t old = umask(0177);
    int r = bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    umask(old);
    if (r != 0) return err("bind " + options_.path);
    if (auto applied = apply_owner_and_mode(); !applied) return applied;
    struct stat bound{};
    if (lstat(options_.path.c_str(), &bound) == 0) bound_ino_ = bound.st_ino;
    if (::listen(listen_fd_, 128) != 0) return err("listen " + options_.path);
    return watch_listener();
}

// socket.group and socket.mode, on a socket bound here or passed by systemd
// (whose SocketMode= is then narrowed or widened to the configuration's).
Status SocketServer::apply_owner_and_mode() {
    auto err = [](const std::string& what) { return make_error("socket", what + ": " + std::strerror(errno)); };
    if (!options_.group.empty()) {
        bool failed = false;
        const auto gid = jit::gid_of_group(options_.group, &failed);
        if (!gid)
            return make_error("socket", "socket.group '" + options_.group + "' " +
                                            (failed ? "could not be looked up (NSS error)" : "does not exist"));
        if (chown(options_.path.c_str(), uid_t(-1), *gid) != 0) return err("chown " + options_.path);
    }
    if (chmod(options_.path.c_str(), options_.mode) != 0) return err("chmod " + options_.path);
    return Ok{};
}

Status SocketServer::watch_listener() {
    if (sd_event_add_io(event_, &listen_source_, listen_fd_, EPOLLIN, &SocketServer::on_accept, this) < 0)
        return make_error("socket", "sd_event_add_io failed");
    // PAM is waiting on the other end: when a request and a timer or an
    // authority transfer are ready together, the request goes first.
    sd_event_source_set_priority(listen_source_, kPriority);
    return Ok{};
}

int SocketServer::on_accept(sd_event_source*, int, uint32_t, void* userdata) {
    return at_c_boundary("socket accept", [userdata] { static_cast<SocketServer*>(userdata)->accept_all(); });
}

void SocketServer::accept_all() {
    for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;  // EAGAIN, or EMFILE etc.: try again at the next event
        }
        ucred cred{};
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
            close(fd);
            continue;
        }
        if (std::string why = over_cap(cred.uid); !why.empty()) {
            // Over a cap: answer "busy" best-effort (never blocks) and close.
            std::string frame = ipc::encode(error_reply("busy", why));
            (void)!send(fd, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            close(fd);
            ++rejected_;
            continue;
        }
        auto c = std::make_unique<Conn>();
        c->server = this;
        c->id = next_id_++;
        c->fd = fd;
        c->peer = Peer{cred.uid, cred.gid, cred.pid};
        sd_event_now(event_, CLOCK_MONOTONIC, &c->accepted_us);
        Conn& conn = *c;
        conns_[c->id] = std::move(c);
        // A client writes its request right after connect(): it is usually
        // there already, and then the whole exchange needs no event source.
        read_some(conn, true);  // may finish (and free) conn
    }
}

std::string SocketServer::over_cap(uid_t uid) const {
    const std::size_t max = std::size_t(options_.max_connections);
    if (conns_.size() >= max) return "too many concurrent connections";
    if (uid == 0) return {};
    std::size_t others = 0, own = 0;
    for (const auto& [id, c] : conns_) {
        if (c->peer.uid == 0) continue;
        ++others;
        if (c->peer.uid == uid) ++own;
    }
    if (own >= std::size_t(options_.max_connections_per_user))
        return "too many concurrent connections from uid " + std::to_string(uid);
    if (others >= max - max / 4) return "too many concurrent connections from non-root clients";
    return {};
}

bool SocketServer::watch(Conn& c, std::uint32_t events) {
    if (!c.deadline &&
        sd_event_add_time(event_, &c.deadline, CLOCK_MONOTONIC,
                          c.accepted_us + std::uint64_t(options_.io_timeout_ms) * 1000, 0, &SocketServer::on_deadline,
                          &c) < 0) {
        finish(c.id);
        return false;
    }
    if (events == 0) {
        if (c.io) sd_event_source_set_enabled(c.io, SD_EVENT_OFF);
        return true;
    }
    if (!c.io) {
        if (sd_event_add_io(event_, &c.io, c.fd, events, &SocketServer::on_io, &c) < 0) {
            finish(c.id);
            return false;
        }
        sd_event_source_set_priority(c.io, kPriority);
        return true;
    }
    sd_event_source_set_io_events(c.io, events);
    sd_event_source_set_enabled(c.io, SD_EVENT_ON);
    return true;
}

int SocketServer::on_io(sd_event_source*, int, uint32_t revents, void* userdata) {
    return at_c_boundary("socket io", [revents, userdata] {
        auto* c = static_cast<Conn*>(userdata);
        SocketServer* self = c->server;
        const std::uint64_t id = c->id;
        if (revents & (EPOLLERR | EPOLLHUP)) {
            if (!c->dispatched || (revents & EPOLLERR)) {
                self->finish(id);
                return;
            }
        }
        if (!c->dispatched) self->read_some(*c);
        else if (!c->out.empty()) self->write_some(*c);
    });
}

int SocketServer::on_deadline(sd_event_source*, uint64_t, void* userdata) {
    return at_c_boundary("socket deadline", [userdata] {
        auto* c = static_cast<Conn*>(userdata);
        c->server->finish(c->id);
    });
}

void SocketServer::read_some(Conn& c, bool just_accepted) {
    char buf[8192];
    bool yielded = !just_accepted;
    for (;;) {
        ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!yielded) {
                // The kernel often runs us on the client's CPU the moment it
                // connects, before it could write its request: step aside
                // once (a no-op when nothing else wants this CPU) rather than
                // pay for an event source and a second wake-up.
                yielded = true;
                sched_yield();
                continue;
            }
            watch(c, EPOLLIN);
            return;
        }
        if (n <= 0) {
            finish(c.id);  // closed before a complete request
            return;
        }
        auto st = c.reader.feed(std::string_view(buf, std::size_t(n)));
        if (st == ipc::FrameReader::State::Invalid) {
            c.dispatched = true;
            c.out = ipc::encode(error_reply("bad_frame", c.reader.error()));
            write_some(c);
            return;
        }
        if (st == ipc::FrameReader::State::Complete) {
            dispatch(c);
            return;
        }
    }
}

void SocketServer::dispatch(Conn& c) {
    c.dispatched = true;
    if (c.io) sd_event_source_set_enabled(c.io, SD_EVENT_OFF);  // nothing more to read; wait for the answer
    std::string perr;
    auto msg = ipc::decode_body(c.reader.body(), &perr);
    const std::uint64_t id = c.id;
    std::weak_ptr<bool> alive = alive_;
    auto reply = [this, id, alive](ipc::Message answer) {
        auto a = alive.lock();
        if (!a || !*a) return;
        auto it = conns_.find(id);
        if (it == conns_.end()) return;  // the client went away or timed out
        Conn& conn = *it->second;
        conn.out = ipc::encode(answer);
        if (conn.out.empty()) conn.out = ipc::encode(error_reply("internal", "answer could not be encoded"));
        write_some(conn);
    };
    if (!msg) {
        reply(error_reply("bad_request", perr));
        return;
    }
    const Peer peer = c.peer;  // a synchronous reply frees c
    // A handler that throws is a bug: reported like any exception at the C
    // boundary, and the client gets an answer instead of waiting for its deadline.
    const bool failed = at_c_boundary("socket handler", [&] { handler_(*msg, peer, reply); }, -1) != 0;
    if (auto it = conns_.find(id); failed && it != conns_.end() && it->second->out.empty())
        reply(error_reply("internal", "the daemon failed to handle this request"));
    // An answer that comes later (request relay) has answer_timeout_ms from accept.
    if (auto it = conns_.find(id); it != conns_.end() && it->second->out.empty()) {
        Conn& later = *it->second;
        if (watch(later, 0) && options_.answer_timeout_ms > options_.io_timeout_ms)
            sd_event_source_set_time(later.deadline, later.accepted_us + std::uint64_t(options_.answer_timeout_ms) * 1000);
    }
}

void SocketServer::write_some(Conn& c) {
    while (c.written < c.out.size()) {
        ssize_t n = send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch(c, EPOLLOUT);
            return;
        }
        if (n <= 0) break;
        c.written += std::size_t(n);
    }
    finish(c.id);
}

void SocketServer::finish(std::uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& c = *it->second;
    if (c.io) sd_event_source_disable_unref(c.io);
    if (c.deadline) sd_event_source_disable_unref(c.deadline);
    if (c.fd >= 0) close(c.fd);
    conns_.erase(it);
}

}  // namespace jit::helperd
