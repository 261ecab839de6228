// The local unix socket server on sd-event: non-blocking, one request and one
// answer per connection (ipc framing), SO_PEERCRED for the peer, a deadline
// per connection, a body size limit and a cap on concurrent connections, so
// one slow or malicious client cannot stall the loop or starve the others.
#pragma once

#include <jit/helperd/daemon.hpp>
#include <jit/ipc.hpp>
#include <jit/result.hpp>

#include <systemd/sd-event.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <sys/types.h>

namespace jit::helperd {

struct SocketServerOptions {
    std::string path;
    unsigned mode = 0666;
    std::string group;          // "" = leave the group alone
    int io_timeout_ms = 2000;   // whole exchange, from accept to last byte written
    // An answer the handler gives later (request relay) may take this long
    // from accept instead; 0 (or less than io_timeout_ms): io_timeout_ms.
    int answer_timeout_ms = 0;
    int max_connections = 64;
    // Non-root peers (jitctl) are capped per uid, and all of them together
    // leave a quarter of max_connections to root (pam_jit as sshd, sudo and
    // su run it), so that local users cannot crowd out login decisions.
    int max_connections_per_user = 8;
};

class SocketServer {
public:
    using Handler = std::function<void(const ipc::Message&, const Peer&, std::function<void(ipc::Message)>)>;

    SocketServer(sd_event* event, SocketServerOptions options, Handler handler);
    ~SocketServer();
    SocketServer(const SocketServer&) = delete;
    SocketServer& operator=(const SocketServer&) = delete;

    // Takes the listening socket systemd passes (socket activation,
    // jit-helperd.socket; it must be bound to `path`), or binds one
    // (replacing a stale socket file); sets mode/group; listens.
    Status listen();
    std::size_t connections() const { return conns_.size(); }
    std::uint64_t rejected_connections() const { return rejected_; }

private:
    struct Conn;
    static int on_accept(sd_event_source* s, int fd, uint32_t revents, void* userdata);
    static int on_io(sd_event_source* s, int fd, uint32_t revents, void* userdata);
    static int on_deadline(sd_event_source* s, uint64_t usec, void* userdata);
    void accept_all();
    Status apply_owner_and_mode();
    Status watch_listener();
    // Why a new connection from `uid` is refused ("" = admitted).
    std::string over_cap(uid_t uid) const;
    void read_some(Conn& c, bool just_accepted = false);
    void write_some(Conn& c);
    void finish(std::uint64_t id);
    // Makes sure the connection has its deadline and waits for `events`
    // (EPOLLIN/EPOLLOUT; 0: none, an answer is pending). False: it was closed.
    bool watch(Conn& c, std::uint32_t events);
    void dispatch(Conn& c);

    sd_event* event_;
    SocketServerOptions options_;
    Handler handler_;
    int listen_fd_ = -1;
    ino_t bound_ino_ = 0;
    sd_event_source* listen_source_ = nullptr;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, std::unique_ptr<Conn>> conns_;
    std::uint64_t rejected_ = 0;
    std::shared_ptr<bool> alive_;
};

}  // namespace jit::helperd
