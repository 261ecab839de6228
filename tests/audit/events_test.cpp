#include "jit/audit.hpp"
#include "jit/grant.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>

using namespace jit::audit;

TEST(AuditEvents, EveryTypeHasUniqueNameIdAndPriority) {
    std::set<std::string_view> names, ids;
    ASSERT_EQ(all_event_types().size(), static_cast<std::size_t>(EventType::SecurityAlert) + 1);
    for (EventType t : all_event_types()) {
        auto name = event_name(t);
        auto id = message_id(t);
        EXPECT_TRUE(names.insert(name).second) << name;
        EXPECT_TRUE(ids.insert(id).second) << id;
        ASSERT_EQ(id.size(), 32u) << name;
        for (char c : id) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << name;
        EXPECT_GE(priority(t), 0);
        EXPECT_LE(priority(t), 7);
        EXPECT_FALSE(event_summary(t).empty()) << name;
        EXPECT_FALSE(event_fields(t).empty()) << name;
        for (auto f : event_fields(t)) EXPECT_TRUE(valid_field_name(f)) << name << " " << f;
        EXPECT_EQ(event_type_from_name(name), t);
        EXPECT_EQ(event_type_from_message_id(id), t);
    }
    EXPECT_FALSE(event_type_from_name("login.maybe"));
}

TEST(AuditEvents, StableNamesAndIds) {
    // These are an external contract (journal filters, catalog, authority): never change.
    EXPECT_EQ(event_name(EventType::LoginAllowed), "login.allowed");
    EXPECT_EQ(message_id(EventType::LoginAllowed), "120618d6696549a890d9e471f2228379");
    EXPECT_EQ(event_name(EventType::SessionEnded), "session.ended");
    EXPECT_EQ(event_name(EventType::SecurityAlert), "security.alert");
    EXPECT_EQ(priority(EventType::SudoDenied), 4);
}

TEST(AuditEvents, FieldNameValidation) {
    EXPECT_TRUE(valid_field_name("JIT_USER"));
    EXPECT_FALSE(valid_field_name("jit_user"));
    EXPECT_FALSE(valid_field_name("_PID"));
    EXPECT_FALSE(valid_field_name("1ABC"));
    EXPECT_FALSE(valid_field_name(""));
    EXPECT_FALSE(valid_field_name(std::string(65, 'A')));
    EXPECT_EQ(sanitize_field_name("jit-user"), "JIT_USER");
    EXPECT_EQ(sanitize_field_name("_PID"), "X_PID");
    EXPECT_TRUE(valid_field_name(sanitize_field_name("9 lives=ok")));
    EXPECT_EQ(sanitize_value("a\nb\tc\x1b"), "a b c ");
}

TEST(AuditEvents, GrantFields) {
    jit::Grant g;
    g.id = "g-7f3a";
    g.user = "alice";
    g.uid = 70001;
    g.not_before = 100;
    g.not_after = 200;
    g.reason = "patch openssl";
    g.requested_by = "alice";
    g.approved_by = {"bob", "carol"};
    Event e{EventType::GrantActivated, "grant g-7f3a active", {}};
    e.add(grant_fields(g));
    EXPECT_EQ(e.field("JIT_USER"), "alice");
    EXPECT_EQ(e.field("JIT_UID"), "70001");
    EXPECT_EQ(e.field("JIT_GRANT_ID"), "g-7f3a");
    EXPECT_EQ(e.field("JIT_NOT_AFTER"), "200");
    EXPECT_EQ(e.field("JIT_APPROVED_BY"), "bob,carol");
    EXPECT_FALSE(e.field("JIT_TICKET"));  // absent ticket is not an empty field
    g.uid.reset();
    g.ticket = "CHG-1";
    auto f = grant_fields(g, 60005);
    Event e2{EventType::GrantActivated, "", f};
    EXPECT_EQ(e2.field("JIT_UID"), "60005");
    EXPECT_EQ(e2.field("JIT_TICKET"), "CHG-1");
    g.uid.reset();
    Event e3{EventType::GrantActivated, "", grant_fields(g)};
    EXPECT_FALSE(e3.field("JIT_UID"));
}

TEST(AuditSinks, StderrLineQuotesAndStaysOneLine) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    StderrSink sink("jit-test", fds[1]);
    Event e{EventType::SudoDenied, "sudo denied for alice:\nnot in grant", {}};
    e.add("JIT_USER", "alice").add("JIT_COMMAND", "/bin/sh -c \"x\"").add("JIT_UID", 70001).add("bad name", "v");
    sink.emit(e);
    close(fds[1]);
    char buf[1024];
    ssize_t n = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    ASSERT_GT(n, 0);
    std::string line(buf, static_cast<std::size_t>(n));
    EXPECT_EQ(line,
              "jit-test: sudo.denied priority=4 message=\"sudo denied for alice: not in grant\" JIT_USER=alice "
              "JIT_COMMAND=\"/bin/sh -c \\\"x\\\"\" JIT_UID=70001 BAD_NAME=v\n");
}

TEST(AuditSinks, DefaultSinkPicksJournalOnlyWhenSocketExists) {
    auto dir = std::filesystem::temp_directory_path() / ("jit-audit-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    auto sock = (dir / "socket").string();
    auto none = make_default_sink("t", sock);
    EXPECT_NE(dynamic_cast<StderrSink*>(none.get()), nullptr);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    auto j = make_default_sink("t", sock);
    EXPECT_NE(dynamic_cast<JournalSink*>(j.get()), nullptr);
    close(fd);
    std::filesystem::remove_all(dir);
}

TEST(AuditSinks, RecordingSink) {
    RecordingSink r;
    Sink& s = r;
    s.emit({EventType::LoginAllowed, "a", {{"JIT_USER", "alice"}}});
    s.emit({EventType::LoginDenied, "b", {{"JIT_USER", "bob"}}});
    s.emit({EventType::LoginAllowed, "c", {{"JIT_USER", "carol"}}});
    EXPECT_EQ(r.count(EventType::LoginAllowed), 2u);
    ASSERT_NE(r.last(EventType::LoginAllowed), nullptr);
    EXPECT_EQ(r.last(EventType::LoginAllowed)->field("JIT_USER"), "carol");
    EXPECT_EQ(r.last(EventType::SudoAllowed), nullptr);
}

TEST(AuditSinks, JournalSinkFallsBackWhenJournaldIsAbsent) {
    if (access("/run/systemd/journal/socket", F_OK) == 0) GTEST_SKIP() << "journald is running here";
    struct Forward : Sink {
        RecordingSink* to;
        explicit Forward(RecordingSink* r) : to(r) {}
        void emit(const Event& e) override { to->emit(e); }
    };
    RecordingSink fallback;
    JournalSink sink("jit-test", std::make_unique<Forward>(&fallback));
    sink.emit(Event{EventType::LoginDenied, "denied", {{"JIT_USER", "alice"}}});
    ASSERT_EQ(fallback.events.size(), 1u);
    EXPECT_EQ(fallback.events[0].field("JIT_USER"), "alice");
    auto err = fallback.events[0].field("JIT_ERROR");
    ASSERT_TRUE(err);
    EXPECT_EQ(err->rfind("journal:", 0), 0u) << *err;
}
