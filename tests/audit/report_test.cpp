// jitctl audit's formats and the grant summary, on synthetic records.
#include "jit/audit_reader.hpp"

#include <gtest/gtest.h>
#include <json/json.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <ctime>
#include <sstream>

using namespace jit::audit;

namespace {

constexpr std::int64_t T0 = 1764250000;  // 2025-11-27 13:26:40 UTC

Record rec(EventType t, std::int64_t at, std::map<std::string, std::string> f) {
    Record r;
    r.realtime_usec = at * 1000000;
    r.type = t;
    f["MESSAGE_ID"] = std::string(message_id(t));
    f["JIT_EVENT"] = std::string(event_name(t));
    f["PRIORITY"] = std::to_string(priority(t));
    if (!f.count("MESSAGE")) f["MESSAGE"] = std::string(event_name(t)) + " message";
    r.fields = std::move(f);
    return r;
}

std::map<std::string, std::string> grant(std::string na = std::to_string(T0 + 3600)) {
    return {{"JIT_USER", "alice"},         {"JIT_UID", "70001"},       {"JIT_GRANT_ID", "g-7f3a"},
            {"JIT_NOT_BEFORE", std::to_string(T0)}, {"JIT_NOT_AFTER", na}, {"JIT_REQUESTED_BY", "alice"},
            {"JIT_APPROVED_BY", "bob,carol"}, {"JIT_TICKET", "CHG-88"},  {"JIT_REASON", "patch openssl"}};
}

std::map<std::string, std::string> with(std::map<std::string, std::string> base,
                                        std::map<std::string, std::string> more) {
    for (auto& [k, v] : more) base[k] = v;
    return base;
}

std::vector<Record> lifecycle() {
    auto g = grant();
    std::map<std::string, std::string> who = {{"JIT_USER", "alice"}, {"JIT_UID", "70001"}, {"JIT_GRANT_ID", "g-7f3a"}};
    return {
        rec(EventType::GrantActivated, T0 + 1, g),
        rec(EventType::LoginAllowed, T0 + 60, with(who, {{"JIT_SERVICE", "sshd"}, {"JIT_RHOST", "10.0.0.5"}})),
        rec(EventType::SessionOpened, T0 + 61, with(who, {{"JIT_SESSION_ID", "4"}, {"JIT_SERVICE", "sshd"},
                                                           {"JIT_RHOST", "10.0.0.5"}})),
        rec(EventType::SudoAllowed, T0 + 120, with(who, {{"JIT_RUN_AS", "root"}, {"JIT_COMMAND", "/usr/bin/apt-get upgrade"}})),
        rec(EventType::SudoDenied, T0 + 180, with(who, {{"JIT_RUN_AS", "root"}, {"JIT_COMMAND", "/bin/bash"},
                                                         {"JIT_REASON", "command not in grant"}})),
        rec(EventType::LoginDenied, T0 + 200, with(who, {{"JIT_SERVICE", "sshd"}, {"JIT_RHOST", "10.9.9.9"},
                                                          {"JIT_REASON", "key not allowed"}})),
        rec(EventType::SessionWarned, T0 + 3300, with(who, {{"JIT_SESSION_ID", "4"}, {"JIT_SECONDS_LEFT", "300"}})),
        rec(EventType::GrantEnded, T0 + 3600, with(g, {{"JIT_CAUSE", "expired"}})),
        rec(EventType::SessionEnded, T0 + 3601, with(who, {{"JIT_SESSION_ID", "4"}, {"JIT_HOW", "terminate-session"}})),
        rec(EventType::SessionClosed, T0 + 3602, with(who, {{"JIT_SESSION_ID", "4"}})),
        // Another grant's event must not leak into the summary.
        rec(EventType::SudoAllowed, T0 + 130, {{"JIT_USER", "bob"}, {"JIT_GRANT_ID", "g-other"},
                                               {"JIT_COMMAND", "/bin/true"}}),
    };
}

}  // namespace

TEST(AuditReport, GrantSummaryTellsTheStory) {
    std::string s = summarize_grant(lifecycle(), "g-7f3a", true);
    EXPECT_EQ(s,
              "Grant g-7f3a for alice (uid 70001)\n"
              "  requested by: alice\n"
              "  approved by:  bob, carol\n"
              "  ticket:       CHG-88\n"
              "  reason:       patch openssl\n"
              "  window:       2025-11-27 13:26:40 UTC -> 2025-11-27 14:26:40 UTC (1h 0m)\n"
              "  activated:    2025-11-27 13:26:41\n"
              "  ended:        2025-11-27 14:26:40 (expired)\n"
              "Logins: 1 allowed, 1 denied\n"
              "  2025-11-27 13:27:40  allowed  sshd from 10.0.0.5\n"
              "  2025-11-27 13:30:00  DENIED   sshd from 10.9.9.9  (key not allowed)\n"
              "sudo: 1 allowed, 1 denied\n"
              "  2025-11-27 13:28:40  allowed  root: /usr/bin/apt-get upgrade\n"
              "  2025-11-27 13:29:40  DENIED   root: /bin/bash  (command not in grant)\n"
              "Sessions: 1\n"
              "  session 4: opened 2025-11-27 13:27:41 (sshd from 10.0.0.5); warned 2025-11-27 14:21:40 (300 s "
              "left); ended by jitlogin 2025-11-27 14:26:41 via terminate-session; closed 2025-11-27 14:26:42\n");
}

TEST(AuditReport, SummaryShowsRevocationAndExtension) {
    auto g = grant();
    std::vector<Record> rs = {
        rec(EventType::GrantActivated, T0, g),
        rec(EventType::GrantActivated, T0 + 100, grant(std::to_string(T0 + 7200))),  // extended
        rec(EventType::GrantRevoked, T0 + 200,
            {{"JIT_USER", "alice"}, {"JIT_GRANT_ID", "g-7f3a"}, {"JIT_REVOKED_BY", "carol"},
             {"JIT_REASON", "done early"}}),
        rec(EventType::SessionOpened, T0 + 50, {{"JIT_GRANT_ID", "g-7f3a"}, {"JIT_SESSION_ID", "9"}}),
    };
    std::string s = summarize_grant(rs, "g-7f3a", true);
    EXPECT_NE(s.find("-> 2025-11-27 15:26:40 UTC (2h 0m)"), std::string::npos) << s;
    EXPECT_NE(s.find("(extended; previously until 2025-11-27 14:26:40 UTC)"), std::string::npos) << s;
    EXPECT_NE(s.find("revoked:      2025-11-27 13:30:00 by carol: done early"), std::string::npos) << s;
    EXPECT_NE(s.find("reason:       patch openssl"), std::string::npos) << s;  // not the revocation reason
    EXPECT_NE(s.find("session 9: opened 2025-11-27 13:27:30; still open"), std::string::npos) << s;
    EXPECT_EQ(summarize_grant(rs, "g-none", true), "No audit events for grant g-none in the journal(s) read.\n");
}

TEST(AuditReport, TimelineLine) {
    auto rs = lifecycle();
    EXPECT_EQ(format_timeline_line(rs[4], true),
              "2025-11-27 13:29:40 UTC  sudo.denied       alice  grant=g-7f3a  sudo.denied message  run_as=root  "
              "command=/bin/bash  reason=command not in grant");
    EXPECT_EQ(format_timeline_line(rs[8], true),
              "2025-11-27 14:26:41 UTC  session.ended     alice  grant=g-7f3a  session.ended message  session=4  "
              "how=terminate-session");
}

TEST(AuditReport, JsonLineHasEveryJitField) {
    auto rs = lifecycle();
    std::string line = format_json_line(rs[0]);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    Json::Value v;
    std::istringstream in(line);
    ASSERT_TRUE(Json::parseFromStream(Json::CharReaderBuilder(), in, &v, nullptr));
    EXPECT_EQ(v["event"].asString(), "grant.activated");
    EXPECT_EQ(v["message_id"].asString(), "0c0e8f07338b46adb0012c3963442b95");
    EXPECT_EQ(v["priority"].asInt(), 5);
    EXPECT_EQ(v["time"].asString(), "2025-11-27T13:26:41Z");
    for (const auto& [k, val] : grant()) EXPECT_EQ(v[k].asString(), val) << k;
}

TEST(AuditReport, CsvQuotesAndDefusesFormulas) {
    auto r = rec(EventType::SudoDenied, T0,
                 {{"JIT_USER", "alice"}, {"JIT_COMMAND", "=HYPERLINK(\"x\"),y"}, {"MESSAGE", "a \"quoted\" msg"}});
    std::string h = csv_header();
    EXPECT_EQ(h.rfind("time,event,message,user,uid,grant_id,decision,service,", 0), 0u) << h;
    std::string line = format_csv_line(r);
    EXPECT_EQ(line.rfind("2025-11-27 13:26:40 UTC,sudo.denied,\"a \"\"quoted\"\" msg\",alice,", 0), 0u) << line;
    EXPECT_NE(line.find(",\"'=HYPERLINK(\"\"x\"\"),y\","), std::string::npos) << line;
    // Same number of columns as the header (no embedded commas outside quotes).
    auto columns = [](const std::string& s) {
        int n = 1;
        bool q = false;
        for (char c : s) {
            if (c == '"') q = !q;
            else if (c == ',' && !q) ++n;
        }
        return n;
    };
    EXPECT_EQ(columns(line), columns(h));
}

TEST(AuditReport, EventFilter) {
    auto one = parse_event_filter("sudo.denied");
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(*one, std::vector<EventType>{EventType::SudoDenied});
    auto fam = parse_event_filter("sudo, session.*");
    ASSERT_TRUE(fam.ok());
    EXPECT_EQ(fam->size(), 8u);  // sudo.allowed/denied/command/refused + 4 session.*
    auto bad = parse_event_filter("sudo.maybe");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("known events: bundle.accepted"), std::string::npos);
    EXPECT_FALSE(parse_event_filter("").ok());
    EXPECT_FALSE(parse_event_filter("su.").ok());
}

TEST(AuditReport, TimeSpecs) {
    setenv("TZ", "UTC", 1);
    tzset();
    const std::int64_t now = T0;
    auto p = [&](const char* s) { return parse_time_spec(s, now); };
    EXPECT_EQ(*p("1764250000"), 1764250000);
    EXPECT_EQ(*p("@1764250000"), 1764250000);
    EXPECT_EQ(*p("now"), now);
    EXPECT_EQ(*p("-1h"), now - 3600);
    EXPECT_EQ(*p("-30m"), now - 1800);
    EXPECT_EQ(*p("-2d"), now - 2 * 86400);
    EXPECT_EQ(*p("+1w"), now + 604800);
    EXPECT_EQ(*p("2025-11-27 13:26:40 UTC"), T0);
    EXPECT_EQ(*p("2025-11-27T13:26:40Z"), T0);
    EXPECT_EQ(*p("2025-11-27 13:26"), T0 - 40);  // local = UTC here
    EXPECT_EQ(*p("2025-11-27"), T0 - (13 * 3600 + 26 * 60 + 40));
    EXPECT_EQ(*p("today"), T0 - (13 * 3600 + 26 * 60 + 40));
    EXPECT_EQ(*p("yesterday"), T0 - (13 * 3600 + 26 * 60 + 40) - 86400);
    for (const char* badspec : {"", "-1", "-1y", "1h", "2025-13-01", "2025-11-27 25:00", "2025/11/27", "tomorrowish",
                                "2025-11-27 13:2"}) {
        auto r = p(badspec);
        EXPECT_FALSE(r.ok()) << badspec;
        if (!r.ok()) {
            EXPECT_NE(r.error().message.find("cannot parse time"), std::string::npos);
        }
    }
}

TEST(AuditReader, EmptyAndMissingJournalDirectories) {
    auto dir = std::filesystem::temp_directory_path() / ("jit-audit-reader-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    Query q;
    q.directory = dir.string();
    auto none = read_journal(q);
    ASSERT_TRUE(none.ok()) << none.error().message;
    EXPECT_TRUE(none->empty());
    q.directory = (dir / "missing").string();
    auto bad = read_journal(q);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, "journal");
    EXPECT_NE(bad.error().message.find("missing"), std::string::npos);
    std::filesystem::remove_all(dir);
}

// The sudo audit plugin's records: every command sudo ran or refused, with its
// command line, run-as user and working directory.
TEST(AuditReport, SummaryListsSudoCommandsRanAndRefused) {
    const std::map<std::string, std::string> who = {{"JIT_USER", "alice"}, {"JIT_GRANT_ID", "g-7f3a"}};
    std::vector<Record> rs = {
        rec(EventType::GrantActivated, T0, grant()),
        rec(EventType::SudoCommand, T0 + 60,
            with(who, {{"JIT_COMMAND", "/usr/bin/id -u"}, {"JIT_RUN_AS", "root"}, {"JIT_CWD", "/home/alice"}})),
        rec(EventType::SudoRefused, T0 + 120,
            with(who, {{"JIT_COMMAND", "/usr/bin/passwd"}, {"JIT_REASON", "command not allowed"}})),
    };
    std::string s = summarize_grant(rs, "g-7f3a", true);
    EXPECT_NE(s.find("sudo commands: 1 ran, 1 refused\n"
                     "  2025-11-27 13:27:40  ran      root: /usr/bin/id -u  (in /home/alice)\n"
                     "  2025-11-27 13:28:40  REFUSED  root: /usr/bin/passwd  (command not allowed)\n"),
              std::string::npos)
        << s;
    // Without such records the section is left out (hosts without the plugin).
    EXPECT_EQ(summarize_grant(lifecycle(), "g-7f3a", true).find("sudo commands:"), std::string::npos);
}

// jitctl audit --grant: each tlog recording of the grant's sessions, with the
// command that replays it (docs/ssh.md "Session recording").
TEST(Report, RecordingsNameSessionAndReplayCommand) {
    Recording x;
    x.id = "0f1e-25-1b3f";
    x.session = "37";
    x.user = "alice";
    x.grant = "g-7f3a";
    x.first_usec = 1764250000LL * 1000000;
    x.last_usec = 1764250090LL * 1000000;
    x.entries = 14;
    const std::string s = format_recordings({x}, true);
    EXPECT_NE(s.find("Recordings (tlog): 1\n"), std::string::npos) << s;
    EXPECT_NE(s.find("session 37 of alice: " + format_time(1764250000, true) + " to " + format_time(1764250090, true) +
                     ", 14 journal entries"),
              std::string::npos)
        << s;
    EXPECT_NE(s.find("replay: tlog-play -r journal -M TLOG_REC=0f1e-25-1b3f\n"), std::string::npos) << s;
}
