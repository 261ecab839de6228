// Prints the event table from the code (the single source of truth), and
// checks docs/audit.md and audit/jitlogin.catalog against it.
//   audit_table ids                 "<message id> <event name>" per line
//   audit_table markdown            the table for docs/audit.md
//   audit_table check-doc FILE      exit 1 unless FILE contains the table verbatim
#include "jit/audit.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

using namespace jit::audit;

namespace {

const char* priority_name(int p) {
    static const char* names[] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};
    return p >= 0 && p <= 7 ? names[p] : "?";
}

std::string markdown() {
    std::ostringstream out;
    out << "| JIT_EVENT | MESSAGE_ID | PRIORITY | meaning | fields (besides MESSAGE, MESSAGE_ID, PRIORITY, "
           "JIT_EVENT, SYSLOG_IDENTIFIER) |\n";
    out << "|---|---|---|---|---|\n";
    for (EventType t : all_event_types()) {
        out << "| `" << event_name(t) << "` | `" << message_id(t) << "` | " << priority(t) << " ("
            << priority_name(priority(t)) << ") | " << event_summary(t) << " | ";
        bool first = true;
        for (auto f : event_fields(t)) {
            out << (first ? "" : ", ") << "`" << f << "`";
            first = false;
        }
        out << " |\n";
    }
    return out.str();
}

}  // namespace

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "ids") {
        for (EventType t : all_event_types()) std::cout << message_id(t) << ' ' << event_name(t) << '\n';
        return 0;
    }
    if (mode == "markdown") {
        std::cout << markdown();
        return 0;
    }
    if (mode == "check-doc" && argc == 3) {
        std::ifstream in(argv[2]);
        if (!in) {
            std::cerr << "cannot read " << argv[2] << "\n";
            return 1;
        }
        std::stringstream ss;
        ss << in.rdbuf();
        if (ss.str().find(markdown()) == std::string::npos) {
            std::cerr << argv[2] << " does not contain the current event table; regenerate it with\n"
                      << "  audit_table markdown\nand paste it between the EVENT TABLE markers. Expected:\n"
                      << markdown();
            return 1;
        }
        std::cout << argv[2] << ": event table matches the code\n";
        return 0;
    }
    std::cerr << "usage: audit_table ids | markdown | check-doc FILE\n";
    return 2;
}
