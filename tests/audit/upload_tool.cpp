// Drives the upload queue from the command line for upload_authority_e2e.py:
//   upload_tool DIR emit N                  spool N login.allowed events (no sending)
//   upload_tool DIR flush URL TOKEN [MS]    send with the curl transport until all
//                                           are acknowledged (backoff starts at MS, default 100);
//                                           prints "pending=P next_seq=S acked_through=A"
#include "jit/upload.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace jit;

namespace {

struct NoTransport : upload::EventTransport {
    void send(const upload::Batch&, Done) override {}  // never answers: nothing leaves the spool
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: upload_tool DIR emit N | upload_tool DIR flush URL TOKEN [BACKOFF_MS]\n");
        return 2;
    }
    std::string dir = argv[1], mode = argv[2];
    audit::StderrSink local("upload_tool");
    upload::UploadOptions opt;
    if (mode == "emit") {
        NoTransport none;
        auto q = upload::UploadQueue::open(dir, none, local, opt);
        if (!q) {
            std::fprintf(stderr, "open: %s\n", q.error().message.c_str());
            return 1;
        }
        int n = std::atoi(argv[3]);
        for (int i = 0; i < n; ++i) {
            audit::Event e{audit::EventType::LoginAllowed, "login " + std::to_string(i), {}};
            e.add("JIT_USER", "alice").add("JIT_GRANT_ID", "g-e2e").add("JIT_SERVICE", "sshd");
            if (auto st = (*q)->enqueue(e); !st) {
                std::fprintf(stderr, "enqueue: %s\n", st.error().message.c_str());
                return 1;
            }
        }
        std::printf("next_seq=%llu\n", static_cast<unsigned long long>((*q)->stats().next_seq));
        return 0;
    }
    if (mode == "flush" && argc >= 5) {
        opt.backoff_initial_ms = argc > 5 ? std::atoll(argv[5]) : 100;
        opt.backoff_max_ms = opt.backoff_initial_ms * 8;
        auto transport = upload::make_blocking_event_transport({argv[3], argv[4], "", "", "", 10000, "jitlogin-test/0.1"});
        auto q = upload::UploadQueue::open(dir, *transport, local, opt);
        if (!q) {
            std::fprintf(stderr, "open: %s\n", q.error().message.c_str());
            return 1;
        }
        auto clock = upload::system_clock_ms();
        for (int rounds = 0; rounds < 200; ++rounds) {
            (*q)->pump();
            auto wake = (*q)->next_wakeup_ms();
            if (!wake) break;  // nothing pending (the curl transport answers synchronously)
            std::int64_t wait = *wake - clock();
            if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait));
        }
        auto s = (*q)->stats();
        std::printf("pending=%zu next_seq=%llu acked_through=%llu last_error=%s\n", s.pending,
                    static_cast<unsigned long long>(s.next_seq), static_cast<unsigned long long>(s.acked_through),
                    s.last_error.c_str());
        return s.pending == 0 ? 0 : 1;
    }
    std::fprintf(stderr, "bad arguments\n");
    return 2;
}
