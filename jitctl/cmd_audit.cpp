// jitctl audit: the audit trail from the journal (docs/audit.md).
#include "commands.hpp"
#include "output.hpp"

#include "jit/audit_reader.hpp"

#include <unistd.h>
#include <grp.h>

#include <ctime>
#include <iostream>
#include <memory>

namespace jit::ctl {
namespace {

struct AuditOptions {
    std::string user, grant, since, until, directory;
    std::vector<std::string> events, files;
    bool json = false, csv = false, summary = false, utc = false;
};

bool may_read_system_journal() {
    if (::geteuid() == 0) return true;
    for (const char* name : {"systemd-journal", "adm", "wheel"}) {
        if (const group* g = ::getgrnam(name)) {
            if (::getegid() == g->gr_gid) return true;
            int n = ::getgroups(0, nullptr);
            std::vector<gid_t> gids(static_cast<std::size_t>(n > 0 ? n : 0));
            if (n > 0 && ::getgroups(n, gids.data()) == n)
                for (gid_t gid : gids)
                    if (gid == g->gr_gid) return true;
        }
    }
    return false;
}

int run_audit(const AuditOptions& o) {
    audit::Query q;
    q.user = o.user;
    q.grant = o.grant;
    q.directory = o.directory;
    q.files = o.files;
    std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    for (const auto& e : o.events) {
        auto types = audit::parse_event_filter(e);
        if (!types) {
            print_error(o.json, "usage", "audit: --event: " + types.error().message);
            return kExitUsage;
        }
        q.events.insert(q.events.end(), types->begin(), types->end());
    }
    if (!o.since.empty()) {
        auto t = audit::parse_time_spec(o.since, now);
        if (!t) {
            print_error(o.json, "usage", "audit: --since: " + t.error().message);
            return kExitUsage;
        }
        q.since = *t;
    }
    if (!o.until.empty()) {
        auto t = audit::parse_time_spec(o.until, now);
        if (!t) {
            print_error(o.json, "usage", "audit: --until: " + t.error().message);
            return kExitUsage;
        }
        q.until = *t;
    }
    if (q.since && q.until && *q.until < *q.since) {
        print_error(o.json, "usage", "audit: --until is before --since");
        return kExitUsage;
    }
    auto records = audit::read_journal(q);
    if (!records) {
        print_error(o.json, "journal", "audit: " + records.error().message);
        return 1;
    }
    bool system_journal = q.directory.empty() && q.files.empty();
    if (records->empty() && system_journal && !may_read_system_journal())
        std::cerr << "jitctl audit: note: only root and members of systemd-journal or adm can read the "
                     "system journal; you may be seeing only your own entries\n";

    // The tlog recordings of the grant's sessions (docs/ssh.md "Session recording").
    auto print_recordings = [&]() -> bool {
        auto recs = audit::read_recordings(*records, q);
        if (!recs) {
            std::cerr << "jitctl audit: recordings: " << recs.error().message << "\n";
            return false;
        }
        if (!recs->empty()) std::cout << audit::format_recordings(*recs, o.utc);
        return true;
    };
    if (o.summary) {
        std::cout << audit::summarize_grant(*records, o.grant, o.utc);
        if (!print_recordings()) return 1;
        return records->empty() ? 1 : 0;
    }
    if (o.csv) std::cout << audit::csv_header() << "\n";
    for (const auto& r : *records) {
        if (o.json) std::cout << audit::format_json_line(r) << "\n";
        else if (o.csv) std::cout << audit::format_csv_line(r) << "\n";
        else std::cout << audit::format_timeline_line(r, o.utc) << "\n";
    }
    if (records->empty() && !o.json && !o.csv) std::cerr << "jitctl audit: no matching jitlogin events\n";
    if (!o.grant.empty() && !o.json && !o.csv && !print_recordings()) return 1;
    return 0;
}

}  // namespace

void register_audit(CLI::App& app, ExitCode& exit_code) {
    auto opts = std::make_shared<AuditOptions>();
    CLI::App* cmd = app.add_subcommand(
        "audit",
        "Show jitlogin's audit trail from the journal: who had access, when, approved by whom, and what they did.");
    cmd->add_option("--user,-u", opts->user, "Only events about this user (JIT_USER)");
    cmd->add_option("--grant,-g", opts->grant, "Only events about this grant id (JIT_GRANT_ID)");
    cmd->add_option("--since,-S", opts->since,
                    "Start time: unix seconds, 'YYYY-MM-DD [HH:MM[:SS]]' (local; append Z or ' UTC' for UTC), "
                    "now, today, yesterday, or relative: -30m, -1h, -2d, -1w");
    cmd->add_option("--until,-U", opts->until, "End time (inclusive), same forms as --since");
    cmd->add_option("--event,-e", opts->events,
                    "Only these events: a name (sudo.denied), a family (sudo = sudo.allowed,sudo.denied), "
                    "comma-separated or repeated");
    auto json = cmd->add_flag("--json", opts->json, "One JSON object per line with every JIT_ field");
    auto csv = cmd->add_flag("--csv", opts->csv, "CSV with a header row, for spreadsheets");
    json->excludes(csv);
    auto summary = cmd->add_flag("--summary", opts->summary,
                                 "With --grant: the story of the grant (requested/approved by, window, logins, "
                                 "sudo commands, sessions and how they ended, recordings)");
    summary->excludes(json)->excludes(csv);
    cmd->add_option("--directory,-D", opts->directory,
                    "Read the journal files in this directory (e.g. a container's /var/log/journal/<machine-id>)");
    cmd->add_option("--file", opts->files, "Read this journal file (repeatable)");
    cmd->add_flag("--utc", opts->utc, "Show times in UTC (JSON (ISO 8601) and CSV always use UTC)");
    cmd->footer("Reads the journal with sd-journal, matching on MESSAGE_ID/JIT_USER/JIT_GRANT_ID fields.\n"
                "With --grant (text and --summary) it also lists the tlog recordings of the grant's sessions\n"
                "and the tlog-play command that replays each.\n"
                "Examples:\n"
                "  jitctl audit --user alice --since -1d\n"
                "  jitctl audit --grant g-7f3a --summary\n"
                "  jitctl audit --event sudo.denied --since today --csv > denied.csv\n"
                "  jitctl audit -D /var/lib/machines/web-01/var/log/journal --json");
    cmd->callback([opts, &exit_code] {
        if (opts->summary && opts->grant.empty()) throw CLI::ValidationError("--summary", "needs --grant");
        if (!opts->directory.empty() && !opts->files.empty())
            throw CLI::ValidationError("--directory", "use either --directory or --file");
        exit_code.value = run_audit(*opts);
    });
}

}  // namespace jit::ctl
