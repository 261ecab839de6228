// libFuzzer target for what jit-authority reads from a host or a person before
// anything is stored (docs/authority.md, "Requests"): the request body
// (parse_body: strict JSON, one object, depth and size bounded) and its
// validation against the rules (Service::submit_request: fields, POSIX user,
// duration, sudo commands and run_as, ssh keys, `extends`, then the rules of
// the host's groups). One Service for the whole run (SQLite on tmpfs when
// /dev/shm is there, a fixed clock, two hosts, rules that need an approver so
// that no input issues a bundle); each input is an origin (first byte: the
// host web-01, a host in group prod, or the person alice) and a body (the rest).
// Every refusal is an ApiError with a 4xx status, a code and a message; an
// accepted request is pending with an id.
#include <jit/authority/config.hpp>
#include <jit/authority/crypto.hpp>
#include <jit/authority/service.hpp>
#include <jit/authority/store.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

#include "require.hpp"

namespace {

using namespace jit::authority;
using jit::fuzz::require;

// Its own rules, not tests/authority/unit/fixture.hpp's: every rule here needs
// an approval (so an accepted request is always "pending", the property checked
// below; the unit tests' prod-self approves itself) and web-oncall has run_as.
constexpr const char* kRules = R"(
[authority]
database = /unused
key_id = fuzz-1
bundle_ttl = 900

[group web]
hosts = web-*

[group prod]
labels = env=prod

[rule web-oncall]
groups = web
requesters = alice bob
approvers = carol dave
approvals = 2
max_duration = 4h
sudo = /usr/bin/apt-get, /usr/bin/systemctl restart nginx
run_as = root postgres
extend = yes
max_extension = 1h

[rule prod-any]
groups = prod
requesters = *
approvers = carol
approvals = 1
max_duration = 1h
login = yes
)";

struct World {
    std::string dir;
    Config config;
    std::optional<Signer> signer;
    std::unique_ptr<Store> store;
    std::unique_ptr<Service> service;
    Caller admin{"carol", "fuzz"};

    World() {
        struct stat st {};
        const bool shm = ::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && ::access("/dev/shm", W_OK) == 0;
        std::string tmpl = (shm ? std::string("/dev/shm") : std::filesystem::temp_directory_path().string()) +
                           "/jit-fuzz-authority.XXXXXX";
        require(::mkdtemp(tmpl.data()) != nullptr, "a temp dir");
        dir = tmpl;
        auto cfg = parse_config(kRules, "rules.conf");
        require(static_cast<bool>(cfg), "the rules parse");
        config = std::move(cfg.value());
        require(static_cast<bool>(Signer::generate(dir + "/key", dir + "/key.pub")), "a signing key");
        auto s = Signer::load(dir + "/key", "fuzz-1");
        require(static_cast<bool>(s), "the signing key loads");
        signer.emplace(std::move(s.value()));
        store = open_sqlite_store(dir + "/authority.db", true);
        service = std::make_unique<Service>(*store, *signer, config, [] { return jit::UnixTime(1'800'000'000); });
        service->add_host("web-01", {}, admin);
        service->add_host("db-01", {"env=prod"}, admin);
    }
    ~World() {
        service.reset();
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

World* world = nullptr;

struct Origin {
    const char* host;
    const char* origin;
    Caller caller;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    static World world_;  // built before the first input: not counted as its allocations
    world = &world_;
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static const Origin kOrigins[] = {{"web-01", "host", {"host:web-01", "fuzz"}},
                                      {"db-01", "host", {"host:db-01", "fuzz"}},
                                      {"web-01", "person", {"alice", "fuzz"}}};
    const Origin& o = kOrigins[data[0] % 3];
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    Json::Value body;
    try {
        body = parse_body(bytes);
    } catch (const ApiError& e) {
        require(e.status == 400 && e.code == "invalid_json" && *e.what() != '\0', "a bad body is 400 invalid_json");
        return 0;
    }
    try {
        Json::Value view = world->service->submit_request(o.host, body, o.origin, o.caller);
        require(view["state"].asString() == "pending" && !view["id"].asString().empty(),
                "an accepted request is pending, with an id");
    } catch (const ApiError& e) {
        require(e.status >= 400 && e.status < 500, "a refusal is a 4xx");
        require(!e.code.empty() && *e.what() != '\0', "a refusal has a code and a message");
    }
    return 0;
}
