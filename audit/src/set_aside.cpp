#include <jit/set_aside.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

namespace jit::audit {

Event set_aside(const std::string& path, const std::string& problem, const std::string& instead, std::int64_t now,
                bool keep_original) {
    std::time_t t = static_cast<std::time_t>(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    const std::string base = path + ".corrupt-" + stamp;
    std::string moved;
    std::string failure;
    for (int i = 1; i <= 100 && moved.empty() && failure.empty(); ++i) {
        const std::string candidate = i == 1 ? base : base + "-" + std::to_string(i);
        // Neither replaces an earlier set-aside file with the same name.
        const int r = keep_original ? ::link(path.c_str(), candidate.c_str())
                                    : ::renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, candidate.c_str(), RENAME_NOREPLACE);
        if (r == 0)
            moved = candidate;
        else if (errno != EEXIST)
            failure = std::strerror(errno);
    }
    if (moved.empty() && failure.empty()) failure = "no free name next to it";
    Event e{EventType::SecurityAlert,
            "state file " + path + " is unusable (" + problem + "); " +
                (moved.empty() ? "it could not be set aside (" + failure + ")"
                               : (keep_original ? "a copy is kept as " : "moved aside to ") + moved) +
                "; " +
                instead,
            {}};
    e.add(std::string(field::kAlert), "state_corrupt")
        .add(std::string(field::kPath), path)
        .add(std::string(field::kError), problem)
        .add(std::string(field::kReason), instead);
    if (!moved.empty()) e.add(std::string(field::kArchive), moved);
    return e;
}

}  // namespace jit::audit
