#include <jit/ipc.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

namespace jit::ipc {
namespace {

bool valid_key(std::string_view k) {
    if (k.empty() || k.size() > 64) return false;
    for (char c : k) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
        if (!ok) return false;
    }
    return true;
}

void escape_into(std::string& out, std::string_view v) {
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
}

bool unescape(std::string_view v, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] != '\\') { out += v[i]; continue; }
        if (++i == v.size()) return false;
        if (v[i] == '\\') out += '\\';
        else if (v[i] == 'n') out += '\n';
        else return false;
    }
    return true;
}

std::int64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Waits for `events` on fd until the absolute monotonic deadline.
bool wait_fd(int fd, short events, std::int64_t deadline) {
    for (;;) {
        std::int64_t left = deadline - now_ms();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        int r = poll(&p, 1, int(left));
        if (r > 0) return true;
        if (r == 0) return false;
        if (errno != EINTR) return false;
    }
}

}  // namespace

std::string encode(const Message& msg) {
    std::string body;
    for (const auto& [k, v] : msg) {
        if (!valid_key(k)) return {};
        body += k;
        body += '=';
        escape_into(body, v);
        body += '\n';
    }
    if (body.size() > kMaxBody) return {};
    std::string frame(kMagic);
    frame += ' ';
    frame += std::to_string(body.size());
    frame += '\n';
    frame += body;
    return frame;
}

std::optional<Message> decode_body(std::string_view body, std::string* error) {
    Message m;
    std::size_t line_no = 0;
    while (!body.empty()) {
        ++line_no;
        auto nl = body.find('\n');
        if (nl == std::string_view::npos) {
            if (error) *error = "line " + std::to_string(line_no) + ": missing newline";
            return std::nullopt;
        }
        std::string_view line = body.substr(0, nl);
        body.remove_prefix(nl + 1);
        auto eq = line.find('=');
        if (eq == std::string_view::npos || !valid_key(line.substr(0, eq))) {
            if (error) *error = "line " + std::to_string(line_no) + ": expected key=value with key [a-z0-9_.]{1,64}";
            return std::nullopt;
        }
        std::string key(line.substr(0, eq)), value;
        if (!unescape(line.substr(eq + 1), value)) {
            if (error) *error = "line " + std::to_string(line_no) + ": bad escape in value of '" + key + "'";
            return std::nullopt;
        }
        if (!m.emplace(std::move(key), std::move(value)).second) {
            if (error) *error = "line " + std::to_string(line_no) + ": duplicate key";
            return std::nullopt;
        }
    }
    return m;
}

FrameReader::State FrameReader::feed(std::string_view bytes) {
    if (state_ != State::NeedMore) return state_;
    while (!bytes.empty() && !have_header_) {
        char c = bytes.front();
        bytes.remove_prefix(1);
        if (c != '\n') {
            header_ += c;
            if (header_.size() > 16) {
                error_ = "frame header too long";
                return state_ = State::Invalid;
            }
            continue;
        }
        // "JIT1 <len>"
        if (header_.size() < kMagic.size() + 2 || header_.compare(0, kMagic.size(), kMagic) != 0 ||
            header_[kMagic.size()] != ' ') {
            error_ = "frame header is not 'JIT1 <length>'";
            return state_ = State::Invalid;
        }
        std::size_t len = 0;
        for (std::size_t i = kMagic.size() + 1; i < header_.size(); ++i) {
            char d = header_[i];
            if (d < '0' || d > '9') {
                error_ = "frame length is not a decimal number";
                return state_ = State::Invalid;
            }
            len = len * 10 + std::size_t(d - '0');
            if (len > kMaxBody) {
                error_ = "frame body larger than " + std::to_string(kMaxBody) + " bytes";
                return state_ = State::Invalid;
            }
        }
        expected_ = len;
        have_header_ = true;
    }
    if (!have_header_) return state_;
    std::size_t want = expected_ - body_.size();
    if (bytes.size() > want) {
        error_ = "trailing bytes after the frame";
        return state_ = State::Invalid;
    }
    body_.append(bytes.data(), bytes.size());
    if (body_.size() == expected_) state_ = State::Complete;
    return state_;
}

std::optional<Message> call(const std::string& socket_path, const Message& request,
                            std::chrono::milliseconds timeout, std::string* error) {
    auto fail = [&](std::string what, int fd) -> std::optional<Message> {
        if (error) *error = std::move(what);
        if (fd >= 0) close(fd);
        return std::nullopt;
    };
    const std::int64_t deadline = now_ms() + timeout.count();
    std::string frame = encode(request);
    if (frame.empty()) return fail("request cannot be encoded", -1);

    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path))
        return fail("socket path '" + socket_path + "' is empty or too long", -1);
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno), -1);
    // EAGAIN on a unix socket: the listen backlog is full (a burst of
    // clients), and unlike EINPROGRESS nothing is under way: connect again
    // after a short pause (1 ms doubling to 20 ms) until the deadline.
    int rc = 0;
    for (int pause_ms = 1; (rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))) != 0 && errno == EAGAIN;
         pause_ms = std::min(pause_ms * 2, 20)) {
        if (now_ms() + pause_ms >= deadline)
            return fail("connect " + socket_path + ": the daemon's listen queue stayed full until the time-out", fd);
        usleep(useconds_t(pause_ms) * 1000);
    }
    if (rc != 0) {
        if (errno != EINPROGRESS) return fail("connect " + socket_path + ": " + std::strerror(errno), fd);
        if (!wait_fd(fd, POLLOUT, deadline)) return fail("connect " + socket_path + ": timed out", fd);
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr != 0) return fail("connect " + socket_path + ": " + std::strerror(soerr), fd);
    }
    std::size_t sent = 0;
    while (sent < frame.size()) {
        ssize_t n = send(fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
        if (n > 0) { sent += std::size_t(n); continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(fd, POLLOUT, deadline)) return fail("send: timed out", fd);
            continue;
        }
        return fail(std::string("send: ") + std::strerror(errno), fd);
    }
    FrameReader reader;
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
            auto st = reader.feed(std::string_view(buf, std::size_t(n)));
            if (st == FrameReader::State::Invalid) return fail("bad response: " + reader.error(), fd);
            if (st == FrameReader::State::Complete) break;
            continue;
        }
        if (n == 0) return fail("daemon closed the connection before answering", fd);
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait_fd(fd, POLLIN, deadline)) return fail("no answer within " + std::to_string(timeout.count()) + " ms", fd);
            continue;
        }
        return fail(std::string("recv: ") + std::strerror(errno), fd);
    }
    close(fd);
    std::string perr;
    auto msg = decode_body(reader.body(), &perr);
    if (!msg) return fail("bad response: " + perr, -1);
    return msg;
}

}  // namespace jit::ipc
