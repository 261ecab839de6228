// libFuzzer target for jit-helperd's socket operations (docs/socket-protocol.md,
// "Operations"): what any local user can send once a frame has been read. One
// daemon (manual clock, fake authority, fake accounts, state in a temp dir, on
// tmpfs when /dev/shm is there), built once before the first input, holds a bundle with a login + sudo grant for alice; each input is a peer
// (first byte) and a request body (the rest, as decode_body reads it).
// Every request must get exactly one answer, and the answer must be one the
// server can send: status ok or error (then with an error code and a message),
// encodable as a frame (valid keys, at most 64 KiB).
#include <jit/helperd/daemon.hpp>
#include <jit/ipc.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "require.hpp"
#include "test_util.hpp"

namespace {

using namespace jit::helperd;
using jit::fuzz::require;

constexpr jit::UnixTime kStart = 1764250000;

struct World {
    jit::test::TempDir dir;
    jit::test::Signer signer;
    ManualLoop loop{kStart};
    jit::test::FakeTransport transport;
    jit::helperd::AuthorityClient authority{transport};
    jit::audit::RecordingSink sink;
    jit::test::FakeAccounts accounts;
    jit::helperd::InlineLookups lookups{accounts};
    std::unique_ptr<Daemon> daemon;

    World() {
        jit::test::add_daemon_accounts(accounts);
        daemon = std::make_unique<Daemon>(jit::test::daemon_config(dir.path()), signer.keys(),
                                          Daemon::Deps{loop, authority, sink, lookups});
        require(daemon->start().ok(), "the daemon starts");
        loop.advance(std::chrono::milliseconds(0));  // its first long poll
        require(!transport.pending.empty(), "the daemon polls the authority");
        jit::test::TestGrant g{"g-1", "alice", true, true, kStart - 60, kStart + 3600};
        transport.answer(200, signer.envelope(jit::test::payload_json("web-01", 1, kStart, kStart + 900, {g})));
        require(daemon->grants().grants.size() == 1, "the bundle is accepted");
        for (const auto& open : kBaseline) {
            int answers = 0;
            daemon->handle(open, Peer{0, 0, 1}, [&](jit::ipc::Message m) {
                answers += jit::ipc::get(m, "decision") == "allow";
            });
            require(answers == 1, "a baseline session opens");
        }
        sink.events.clear();
    }

    // The session table as every input finds it: alice's two sessions (a
    // session_close can end one; the corpus has the matching inputs). After
    // each input, sessions it opened are forgotten and baseline sessions it
    // closed are opened again, so that the table neither grows with the run
    // nor shrinks (an input that allocates more than it frees makes libFuzzer
    // re-run it and scan the whole heap for leaks: that was most of the time).
    static inline const jit::ipc::Message kBaseline[] = {
        {{"op", "session_open"}, {"user", "alice"}, {"service", "sshd"}, {"pid", "4321"}, {"tty", "pts/3"}, {"logind_session", "7"}},
        {{"op", "session_open"}, {"user", "alice"}, {"service", "sudo"}, {"pid", "4322"}, {"tty", "pts/3"}},
    };

    void restore_sessions() {
        std::size_t have[2] = {0, 0};
        std::vector<std::uint64_t> extra;
        for (const auto& [id, s] : daemon->sessions()) {
            const bool first = s.pid == 4321 && s.logind_session == "7" && s.service == "sshd" && s.tty == "pts/3";
            const bool second = s.pid == 4322 && s.logind_session.empty() && s.service == "sudo" && s.tty == "pts/3";
            if (s.user == "alice" && s.rhost.empty() && (first || second) && have[second ? 1 : 0]++ == 0) continue;
            extra.push_back(id);
        }
        for (std::uint64_t id : extra) daemon->forget_session(id);
        for (std::size_t i = 0; i < 2; ++i)
            if (have[i] == 0) daemon->handle(kBaseline[i], Peer{0, 0, 1}, [](jit::ipc::Message) {});
    }

    // Answers what the daemon relayed to the authority (op=request,
    // request_status) with an error; its next long poll stays open, as it
    // would at the authority.
    void answer_relays() {
        std::vector<Transport::Done> relays;  // taken out first: answering may start new requests
        for (auto it = transport.pending.begin(); it != transport.pending.end();) {
            if (it->request.url.find("/grants?") != std::string::npos) {
                ++it;
                continue;
            }
            relays.push_back(std::move(it->done));
            it = transport.pending.erase(it);
        }
        for (auto& done : relays) done(HttpResponse{503, "{}", ""});
    }
};

}  // namespace

namespace {

// One daemon for the whole run, as in production; its temp dir goes at exit.
// Built before the first input, so that its allocations are not counted as
// the first input's (libFuzzer's leak check).
World* world = nullptr;


}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // The state dir on tmpfs when there is one: op=request writes the
    // request-owners file durably (fsync) on every relay, and a disk's fsync
    // would set the pace. The code path is the same.
    struct stat st {};
    if (::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && ::access("/dev/shm", W_OK) == 0)
        ::setenv("TMPDIR", "/dev/shm", 1);
    static World world_;
    world = &world_;
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static constexpr Peer kPeers[] = {{0, 0, 4242}, {1000, 1000, 4243}, {1001, 1001, 4244}, {70005, 70005, 4245}, {4242, 4242, 4246}};
    const Peer peer = kPeers[data[0] % (sizeof kPeers / sizeof kPeers[0])];
    std::string err;
    auto request = jit::ipc::decode_body(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), &err);
    if (!request) return 0;  // the server answers bad_request before any op runs

    int answers = 0;
    jit::ipc::Message answer;
    world->daemon->handle(*request, peer, [&](jit::ipc::Message m) {
        ++answers;
        answer = std::move(m);
    });
    world->answer_relays();  // a relayed request gets its authority answer
    world->loop.advance(std::chrono::milliseconds(0));
    world->restore_sessions();
    world->sink.events.clear();

    require(answers == 1, "exactly one answer per request");
    const std::string status = jit::ipc::get(answer, "status");
    require(status == "ok" || status == "error", "status ok or error");
    require(status == "ok" || (!jit::ipc::get(answer, "error").empty() && !jit::ipc::get(answer, "message").empty()),
            "an error answer has a code and a message");
    require(!jit::ipc::encode(answer).empty(), "the answer can be sent (valid keys, at most 64 KiB)");
    return 0;
}
