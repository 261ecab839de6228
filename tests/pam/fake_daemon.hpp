// A stand-in for jit-helperd speaking the local framing (ipc.hpp) on a unix
// socket in a temp dir, for unit-level tests of pam_jit. Each connection gets
// the answer of `handler` for its request; Mode::Silent never answers (client
// timeout), Mode::Hangup closes without answering, Mode::Garbage sends a bad frame.
#pragma once

#include <jit/ipc.hpp>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace jit::test {

class FakeDaemon {
public:
    enum class Mode { Answer, Silent, Hangup, Garbage };
    using Handler = std::function<ipc::Message(const ipc::Message&)>;

    FakeDaemon() {
        char tmpl[] = "/tmp/jit-fake-daemon-XXXXXX";
        if (!mkdtemp(tmpl)) std::abort();
        dir_ = tmpl;
        path_ = dir_ + "/helperd.sock";
        fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        path_.copy(a.sun_path, path_.size());
        if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd_, 16) != 0) std::abort();
        thread_ = std::thread([this] { loop(); });
    }
    ~FakeDaemon() {
        stop_ = true;
        thread_.join();
        close(fd_);
        unlink(path_.c_str());
        rmdir(dir_.c_str());
    }
    FakeDaemon(const FakeDaemon&) = delete;
    FakeDaemon& operator=(const FakeDaemon&) = delete;

    const std::string& path() const { return path_; }
    void set_mode(Mode m) { mode_ = m; }
    void set_handler(Handler h) {
        std::lock_guard<std::mutex> l(mu_);
        handler_ = std::move(h);
    }
    void answer(ipc::Message m) {
        set_handler([m](const ipc::Message&) { return m; });
    }
    std::vector<ipc::Message> requests() {
        std::lock_guard<std::mutex> l(mu_);
        return requests_;
    }
    void clear_requests() {
        std::lock_guard<std::mutex> l(mu_);
        requests_.clear();
    }

private:
    void loop() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (poll(&p, 1, 20) <= 0) continue;
            int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            serve(c);
            close(c);
        }
    }
    void serve(int c) {
        ipc::FrameReader r;
        char buf[4096];
        while (true) {
            pollfd p{c, POLLIN, 0};
            if (poll(&p, 1, 2000) <= 0) return;
            ssize_t n = read(c, buf, sizeof(buf));
            if (n <= 0) return;
            auto st = r.feed(std::string_view(buf, std::size_t(n)));
            if (st == ipc::FrameReader::State::Invalid) return;
            if (st == ipc::FrameReader::State::Complete) break;
        }
        std::string err;
        auto req = ipc::decode_body(r.body(), &err);
        if (!req) return;
        Handler h;
        {
            std::lock_guard<std::mutex> l(mu_);
            requests_.push_back(*req);
            h = handler_;
        }
        switch (mode_.load()) {
        case Mode::Silent: {
            // Hold the connection until the client gives up (or we stop).
            for (int i = 0; i < 500 && !stop_; ++i) {
                pollfd p{c, POLLIN, 0};
                if (poll(&p, 1, 20) > 0) return;  // client closed
            }
            return;
        }
        case Mode::Hangup: return;
        case Mode::Garbage: {
            const char junk[] = "HTTP/1.1 200 OK\r\n\r\n";
            (void)!write(c, junk, sizeof(junk) - 1);
            return;
        }
        case Mode::Answer: break;
        }
        ipc::Message resp = h ? h(*req) : ipc::Message{{"status", "error"}, {"error", "no_handler"}, {"message", "test"}};
        std::string frame = ipc::encode(resp);
        (void)!write(c, frame.data(), frame.size());
    }

    std::string dir_, path_;
    int fd_ = -1;
    std::atomic<bool> stop_{false};
    std::atomic<Mode> mode_{Mode::Answer};
    std::mutex mu_;
    Handler handler_;
    std::vector<ipc::Message> requests_;
    std::thread thread_;
};

}  // namespace jit::test
