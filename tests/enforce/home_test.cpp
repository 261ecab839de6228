// Home retention: archive or delete only the homes jitlogin created, after
// the configured days without any grant.
#include "helpers.hpp"

#include <jit/enforce/enforcer.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

namespace jit::enforce {
namespace {

using audit::EventType;
using test::grant;
using test::T0;

class Clock0 final : public Clock {
public:
    UnixTime wall = T0;
    UnixTime now() override { return wall; }
    std::int64_t monotonic_ms() override { return wall * 1000; }
};
class NoTerm final : public Terminator {
public:
    const char* name() const override { return "fallback"; }
    Result<std::string> terminate(const Session&, const std::vector<Session>&) override { return std::string("x"); }
    bool alive(const Session&, const std::vector<Session>&) override { return false; }
    Result<std::string> kill(const Session&, const std::vector<Session>&) override { return std::string("x"); }
};
class NoWarn final : public Warner {
public:
    WarnOutcome warn(const Session&, const std::string&) override { return {}; }
};

class HomeRetention : public ::testing::Test {
protected:
    test::TempDir dir;
    Clock0 clock;
    NoTerm term;
    NoWarn warner;
    audit::RecordingSink sink;
    std::string homes, archives;
    std::unique_ptr<Enforcer> enf;

    void SetUp() override {
        homes = dir.path() + "/home";
        archives = dir.path() + "/archives";
        ASSERT_EQ(::mkdir(homes.c_str(), 0755), 0);
    }
    std::string make_home(const std::string& user) {
        const std::string h = homes + "/" + user;
        std::filesystem::create_directories(h + "/.config");
        std::ofstream(h + "/notes.txt") << "hello from " << user << "\n";
        return h;
    }
    void make(std::optional<int> days, RetentionPolicy::Action action) {
        EnforcerOptions o;
        o.state_path = dir.path() + "/enforce.json";
        o.retention.days = days;
        o.retention.action = action;
        o.retention.archive_dir = archives;
        enf = std::make_unique<Enforcer>(o, Enforcer::Deps{clock, term, warner, sink, nullptr});
        ASSERT_TRUE(enf->start().ok());
    }
    void grants(std::vector<Grant> gs) {
        GrantsUpdate u;
        u.have_bundle = true;
        u.grants = std::move(gs);
        enf->update_grants(u);
    }
};

TEST_F(HomeRetention, ArchivesAfterTheDaysWithoutGrantThenRemoves) {
    make(2, RetentionPolicy::Action::Archive);
    const std::string alice = make_home("alice");
    const std::string local = make_home("localuser");  // not created by jitlogin
    enf->note_home_created("alice", {alice, ::getuid(), T0});
    grants({grant("g1", "alice", T0, T0 + 3600)});
    clock.wall = T0 + 3600;
    grants({});  // grant gone from the bundle
    clock.wall = T0 + 3600 + 2 * 86400 - 1;
    enf->evaluate();
    EXPECT_TRUE(std::filesystem::exists(alice));
    EXPECT_EQ(enf->next_wakeup(), T0 + 3600 + 2 * 86400);
    clock.wall += 1;
    enf->evaluate();
    EXPECT_FALSE(std::filesystem::exists(alice));
    EXPECT_TRUE(std::filesystem::exists(local + "/notes.txt"));
    const auto* e = sink.last(EventType::HomeArchived);
    ASSERT_NE(e, nullptr);
    const std::string archive = std::string(*e->field("JIT_ARCHIVE"));
    struct stat st {};
    ASSERT_EQ(::stat(archive.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(archives.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    // The archive holds the home's files.
    const std::string list = dir.path() + "/list";
    ASSERT_EQ(std::system(("tar -tzf '" + archive + "' > '" + list + "'").c_str()), 0);
    std::ifstream in(list);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(all.find("alice/notes.txt"), std::string::npos) << all;
    EXPECT_TRUE(enf->state().homes.empty());
}

TEST_F(HomeRetention, DeleteActionRemovesWithoutArchive) {
    make(0, RetentionPolicy::Action::Delete);
    const std::string bob = make_home("bob");
    enf->note_home_created("bob", {bob, ::getuid(), T0});
    grants({grant("g1", "bob", T0, T0 + 10)});
    EXPECT_TRUE(std::filesystem::exists(bob));  // has a grant
    clock.wall = T0 + 10;
    grants({grant("g1", "bob", T0, T0 + 10)});  // still listed (ended): keeps the home
    EXPECT_TRUE(std::filesystem::exists(bob));
    grants({});
    EXPECT_FALSE(std::filesystem::exists(bob));
    EXPECT_EQ(sink.count(EventType::HomeDeleted), 1u);
    EXPECT_FALSE(std::filesystem::exists(archives));
}

TEST_F(HomeRetention, DefaultKeepsForever) {
    make(std::nullopt, RetentionPolicy::Action::Delete);
    const std::string carol = make_home("carol");
    enf->note_home_created("carol", {carol, ::getuid(), T0});
    grants({grant("g1", "carol", T0, T0 + 10)});
    clock.wall = T0 + 1000 * 86400;
    grants({});
    EXPECT_TRUE(std::filesystem::exists(carol));
}

TEST_F(HomeRetention, ReplacedHomeIsLeftAlone) {
    make(0, RetentionPolicy::Action::Delete);
    const std::string dave = make_home("dave");
    const std::string elsewhere = make_home("elsewhere");
    enf->note_home_created("dave", {dave, ::getuid(), T0});
    std::filesystem::remove_all(dave);
    std::filesystem::create_directory_symlink(elsewhere, dave);  // not the directory we created
    grants({grant("g1", "dave", T0, T0 + 10)});
    clock.wall = T0 + 20;
    grants({});
    EXPECT_TRUE(std::filesystem::exists(elsewhere + "/notes.txt"));
    EXPECT_EQ(sink.count(EventType::HomeDeleted), 0u);
    const auto* alert = sink.last(EventType::SecurityAlert);
    ASSERT_NE(alert, nullptr);
    EXPECT_NE(std::string(*alert->field("JIT_ERROR")).find("not a directory"), std::string::npos);
}

TEST_F(HomeRetention, HomeOfAnotherOwnerIsLeftAlone) {
    make(0, RetentionPolicy::Action::Delete);
    const std::string eve = make_home("eve");
    enf->note_home_created("eve", {eve, ::getuid() + 1, T0});
    grants({grant("g1", "eve", T0, T0 + 10)});
    clock.wall = T0 + 20;
    grants({});
    EXPECT_TRUE(std::filesystem::exists(eve + "/notes.txt"));
    EXPECT_EQ(sink.count(EventType::SecurityAlert), 1u);
}

TEST(StateFile, RoundTripsEveryField) {
    test::TempDir dir;
    PersistedState st;
    Session s;
    s.logind_id = "";
    s.user = "alice";
    s.uid = 70001;
    s.service = "sshd";
    s.tty = "pts/3";
    s.rhost = "192.0.2.1";
    s.pid = 1234;
    s.pid_start = 987654321;
    s.opened_at = T0;
    s.grant_id = "g1";
    s.warned_end = T0 + 100;
    s.warned_offset = 60;
    s.key = session_key("", 1234, "pts/3");
    st.sessions[s.key] = s;
    st.grants["g1"] = {GrantPhase::Active, "alice", T0, T0 + 100};
    st.user_last_grant["alice"] = T0 + 50;
    st.homes["alice"] = {"/home/alice", 70001, T0};
    const std::string path = dir.path() + "/state.json";
    ASSERT_TRUE(save_state(path, st).ok());
    auto back = load_state(path);
    ASSERT_TRUE(back.ok()) << back.error().message;
    ASSERT_EQ(back->sessions.size(), 1u);
    const Session& b = back->sessions.at("pid:1234:pts/3");
    EXPECT_EQ(b.user, "alice");
    EXPECT_EQ(b.uid, 70001u);
    EXPECT_EQ(b.pid_start, 987654321u);
    EXPECT_EQ(b.warned_offset, 60);
    EXPECT_EQ(b.grant_id, "g1");
    EXPECT_EQ(back->grants.at("g1").phase, GrantPhase::Active);
    EXPECT_EQ(back->user_last_grant.at("alice"), T0 + 50);
    EXPECT_EQ(back->homes.at("alice").path, "/home/alice");
    EXPECT_TRUE(load_state(dir.path() + "/missing.json").ok());
    std::ofstream(path) << "{\"version\": 2}";
    EXPECT_FALSE(load_state(path).ok());
    std::ofstream(path) << "not json";
    EXPECT_FALSE(load_state(path).ok());
}

}  // namespace
}  // namespace jit::enforce
