#include <jit/helperd/boundary.hpp>

#include <cstdio>
#include <ctime>
#include <map>
#include <string>

namespace jit::helperd {
namespace {

struct Seen {
    long last_ms = 0;
    long suppressed = 0;
};

audit::Sink* g_sink = nullptr;

// Per callback name, since the sink was set.
std::map<std::string, Seen>& seen() {
    static std::map<std::string, Seen> by_where;
    return by_where;
}

long monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return long(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

void set_boundary_sink(audit::Sink* sink) {
    g_sink = sink;
    seen().clear();
}

void report_boundary_fault(const char* where, const char* what) noexcept {
    try {
        const long now = monotonic_ms();
        auto [it, first] = seen().try_emplace(where);
        if (!first && now - it->second.last_ms < kBoundaryAlertIntervalMs) {
            ++it->second.suppressed;
            return;
        }
        const long count = it->second.suppressed + 1;
        it->second = Seen{now, 0};
        audit::Event e{audit::EventType::SecurityAlert,
                       std::string("exception caught at the C boundary in ") + where + ": " + what +
                           "; jit-helperd keeps running",
                       {}};
        e.add(std::string(audit::field::kAlert), "callback_failed")
            .add(std::string(audit::field::kReason), std::string("callback ") + where)
            .add(std::string(audit::field::kError), what)
            .add(std::string(audit::field::kCount), std::int64_t(count));
        if (g_sink) {
            g_sink->emit(e);
            return;
        }
        std::fprintf(stderr, "jit-helperd: %s\n", e.message.c_str());
    } catch (...) {
        std::fprintf(stderr, "jit-helperd: exception caught at the C boundary in %s: %s\n", where, what);
    }
}

}  // namespace jit::helperd
