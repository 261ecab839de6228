// Homes: made at the first session (only where nothing is), recorded by the
// Enforcer; retention archives or deletes only the homes jitlogin created,
// after the configured days without any grant.
#include "helpers.hpp"

#include <jit/enforce/enforcer.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

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
    void terminate(const Session&, const std::vector<Session>&, Done done) override { done(std::string("x")); }
    void alive(const Session&, const std::vector<Session>&, bool, AliveDone done) override { done(false); }
    void kill(const Session&, const std::vector<Session>&, Done done) override { done(std::string("x")); }
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
    helperd::ManualLoop loop;
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
    void make(std::optional<int> days, RetentionPolicy::Action action, std::uint64_t max_bytes = 1 << 20) {
        EnforcerOptions o;
        o.state_path = dir.path() + "/enforce.json";
        o.retention.days = days;
        o.retention.action = action;
        o.retention.archive_dir = archives;
        o.retention.max_archive_bytes = max_bytes;
        enf = std::make_unique<Enforcer>(o, Enforcer::Deps{clock, term, warner, sink, nullptr, &loop});
        ASSERT_TRUE(enf->start().ok());
    }
    // The grants change; then the retention jobs this started run to their end.
    void grants(std::vector<Grant> gs) {
        GrantsUpdate u;
        u.have_bundle = true;
        u.grants = std::move(gs);
        enf->update_grants(u);
        finish_jobs();
    }
    void finish_jobs() {
        while (loop.watched_children() > 0) loop.reap_children(true);
    }
    std::vector<std::string> archive_files() {
        std::vector<std::string> out;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(archives, ec)) out.push_back(e.path().string());
        return out;
    }
};

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(HomeCreation, CreatesFromSkelOnceWithOwnerAndMode) {
    if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
    test::TempDir dir;
    const std::string base = dir.path() + "/home", skel = dir.path() + "/skel";
    ASSERT_EQ(::mkdir(base.c_str(), 0755), 0);
    std::filesystem::create_directories(skel + "/.config");
    std::ofstream(skel + "/.bashrc") << "echo hi\n";
    std::ofstream(skel + "/.config/app") << "x\n";
    ASSERT_EQ(::chmod((skel + "/.config/app").c_str(), 0600), 0);
    ASSERT_EQ(::symlink(".bashrc", (skel + "/.profile").c_str()), 0);
    const uid_t uid = 70005;

    auto made = create_home(base + "/alice", uid, uid, HomeOptions{skel, 0700});
    ASSERT_TRUE(made.ok()) << made.error().message;
    EXPECT_TRUE(*made);
    const std::string home = base + "/alice";
    struct stat st {};
    ASSERT_EQ(::stat(home.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, uid);
    EXPECT_EQ(st.st_gid, uid);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    ASSERT_EQ(::stat((home + "/.config/app").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, uid);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(read_text(home + "/.bashrc"), "echo hi\n");
    ASSERT_EQ(::lstat((home + "/.profile").c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    EXPECT_EQ(st.st_uid, uid);

    // Only if missing: an existing home (even a symlink) is left alone.
    std::ofstream(home + "/mine") << "keep\n";
    made = create_home(home, uid, uid, HomeOptions{skel, 0700});
    ASSERT_TRUE(made.ok());
    EXPECT_FALSE(*made);
    EXPECT_EQ(read_text(home + "/mine"), "keep\n");
    ASSERT_EQ(::symlink("/etc", (base + "/bob").c_str()), 0);
    made = create_home(base + "/bob", 70006, 70006, HomeOptions{skel, 0700});
    ASSERT_TRUE(made.ok());
    EXPECT_FALSE(*made);
    ASSERT_EQ(::lstat("/etc", &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
}

TEST(HomeCreation, RefusesUnsafeParentsAndPaths) {
    test::TempDir dir;
    const std::string base = dir.path() + "/home";
    ASSERT_EQ(::mkdir(base.c_str(), 0777), 0);
    ASSERT_EQ(::chmod(base.c_str(), 0777), 0);
    auto made = create_home(base + "/alice", 70005, 70005);
    ASSERT_FALSE(made.ok());
    EXPECT_EQ(made.error().code, "home.parent");
    EXPECT_FALSE(create_home("relative/alice", 70005, 70005).ok());
    EXPECT_FALSE(create_home(base + "/../alice", 70005, 70005).ok());
}

// The code that makes a home tells the Enforcer: a home it made is recorded
// (home.created) and retention may later take it; a path where something
// already was is never recorded; a failure is an alert.
TEST_F(HomeRetention, CreatedHomesAreRecordedOthersNot) {
    make(0, RetentionPolicy::Action::Delete);
    const std::string skel = dir.path() + "/skel";
    ASSERT_EQ(::mkdir(skel.c_str(), 0755), 0);
    EnforcerOptions o = enf->options();
    o.new_home = HomeOptions{skel, 0700};
    enf->set_options(o);
    enf->create_home("alice", ::getuid(), homes + "/alice");
    ASSERT_EQ(enf->state().homes.count("alice"), 1u);
    EXPECT_EQ(enf->state().homes.at("alice").path, homes + "/alice");
    EXPECT_EQ(enf->state().homes.at("alice").created_at, T0);
    ASSERT_NE(sink.last(EventType::HomeCreated), nullptr);
    EXPECT_EQ(sink.last(EventType::HomeCreated)->field("JIT_PATH"), homes + "/alice");
    EXPECT_TRUE(load_state(dir.path() + "/enforce.json")->homes.count("alice"));  // on disk at once

    const std::string bob = make_home("bob");  // there before: not jitlogin's
    enf->create_home("bob", ::getuid(), bob);
    EXPECT_EQ(enf->state().homes.count("bob"), 0u);
    EXPECT_EQ(sink.count(EventType::HomeCreated), 1u);

    enf->create_home("carol", ::getuid(), dir.path() + "/no-such-dir/carol");
    EXPECT_EQ(enf->state().homes.count("carol"), 0u);
    const auto* alert = sink.last(EventType::SecurityAlert);
    ASSERT_NE(alert, nullptr);
    EXPECT_EQ(alert->field("JIT_ALERT"), "home.create_failed");

    // Retention takes the one it made (its grant gone, 0 days), leaves bob's.
    grants({grant("g1", "alice", T0 - 10, T0), grant("g2", "bob", T0 - 10, T0)});
    grants({});
    EXPECT_FALSE(std::filesystem::exists(homes + "/alice"));
    EXPECT_TRUE(std::filesystem::exists(bob + "/notes.txt"));
}

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
    finish_jobs();
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

// The case: a 1 TiB sparse file (`truncate -s 1T`) in the home. The
// evaluation only starts the job (a child process the loop watches) and
// returns; tar --sparse archives the holes as holes.
TEST_F(HomeRetention, SparseTerabyteFileIsArchivedByAChildProcess) {
    make(0, RetentionPolicy::Action::Archive);
    const std::string frank = make_home("frank");
    ASSERT_EQ(std::system(("truncate -s 1T '" + frank + "/huge'").c_str()), 0);
    enf->note_home_created("frank", {frank, ::getuid(), T0});
    grants({grant("g1", "frank", T0, T0 + 10)});
    clock.wall = T0 + 20;
    GrantsUpdate u;
    u.have_bundle = true;
    enf->update_grants(u);  // returns with the job running in its child
    EXPECT_EQ(enf->running_home_jobs(), 1u);
    EXPECT_EQ(loop.watched_children(), 1u);
    EXPECT_EQ(enf->state().homes.at("frank").attempts, 1);  // recorded before it started
    EXPECT_FALSE(enf->state().homes.at("frank").partial_archive.empty());
    finish_jobs();
    EXPECT_EQ(enf->running_home_jobs(), 0u);
    EXPECT_FALSE(std::filesystem::exists(frank));
    const auto* e = sink.last(EventType::HomeArchived);
    ASSERT_NE(e, nullptr) << (sink.last(EventType::SecurityAlert) ? *sink.last(EventType::SecurityAlert)->field("JIT_ERROR") : "");
    struct stat st {};
    ASSERT_EQ(::stat(std::string(*e->field("JIT_ARCHIVE")).c_str(), &st), 0);
    EXPECT_LT(st.st_size, 1 << 20);  // holes are not stored
    EXPECT_TRUE(enf->state().homes.empty());
}

TEST_F(HomeRetention, ArchiveOverItsSizeLimitLeavesTheHome) {
    make(0, RetentionPolicy::Action::Archive, /*max_bytes=*/4096);
    const std::string gina = make_home("gina");
    ASSERT_EQ(std::system(("head -c 1048576 /dev/urandom > '" + gina + "/random'").c_str()), 0);
    enf->note_home_created("gina", {gina, ::getuid(), T0});
    grants({grant("g1", "gina", T0, T0 + 10)});
    clock.wall = T0 + 20;
    grants({});
    EXPECT_TRUE(std::filesystem::exists(gina + "/random"));
    EXPECT_EQ(sink.count(EventType::HomeArchived), 0u);
    const auto* alert = sink.last(EventType::SecurityAlert);
    ASSERT_NE(alert, nullptr);
    EXPECT_NE(std::string(*alert->field("JIT_ERROR")).find("tar "), std::string::npos) << *alert->field("JIT_ERROR");
    EXPECT_TRUE(archive_files().empty()) << "the partial archive is removed";
    EXPECT_TRUE(enf->state().homes.empty());  // not retried
}

// A daemon that stops during the job (each time) retries at the next start,
// and gives up with an alert after max_attempts: never a loop on one home.
TEST_F(HomeRetention, AttemptsAreCountedAcrossRestartsThenGivenUp) {
    const std::string hank = make_home("hank");
    make(0, RetentionPolicy::Action::Archive);
    enf->note_home_created("hank", {hank, ::getuid(), T0});
    grants({grant("g1", "hank", T0, T0 + 10)});
    clock.wall = T0 + 20;
    for (int attempt = 1; attempt <= 3; ++attempt) {
        GrantsUpdate u;
        u.have_bundle = true;
        enf->update_grants(u);
        ASSERT_EQ(enf->running_home_jobs(), 1u) << attempt;
        enf.reset();  // the daemon stops: its job is killed with it
        auto saved = load_state(dir.path() + "/enforce.json");
        ASSERT_TRUE(saved.ok());
        EXPECT_EQ(saved->homes.at("hank").attempts, attempt);
        make(0, RetentionPolicy::Action::Archive);
    }
    GrantsUpdate u;
    u.have_bundle = true;
    enf->update_grants(u);
    EXPECT_EQ(enf->running_home_jobs(), 0u);
    const auto* alert = sink.last(EventType::SecurityAlert);
    ASSERT_NE(alert, nullptr);
    EXPECT_NE(std::string(*alert->field("JIT_ERROR")).find("given up after 3 attempts"), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(hank + "/notes.txt"));
    EXPECT_TRUE(archive_files().empty()) << "partial archives of the interrupted attempts are removed";
    EXPECT_TRUE(enf->state().homes.empty());
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
    st.homes["alice"].attempts = 2;
    st.homes["alice"].partial_archive = "/var/lib/jit/home-archives/alice-1.tar.gz";
    s.ending = true;
    s.end_reason = "revoked";
    s.end_grant_id = "g1";
    s.end_not_after = T0 + 100;
    s.end_decided_at = T0 + 60;
    s.end_how = "terminate-session";
    st.sessions[s.key] = s;
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
    EXPECT_EQ(back->homes.at("alice").attempts, 2);
    EXPECT_EQ(back->homes.at("alice").partial_archive, "/var/lib/jit/home-archives/alice-1.tar.gz");
    EXPECT_TRUE(b.ending);
    EXPECT_EQ(b.end_reason, "revoked");
    EXPECT_EQ(b.end_grant_id, "g1");
    EXPECT_EQ(b.end_not_after, T0 + 100);
    EXPECT_EQ(b.end_decided_at, T0 + 60);
    EXPECT_EQ(b.end_how, "terminate-session");
    EXPECT_TRUE(load_state(dir.path() + "/missing.json").ok());
    std::ofstream(path) << "{\"version\": 2}";
    EXPECT_FALSE(load_state(path).ok());
    std::ofstream(path) << "not json";
    EXPECT_FALSE(load_state(path).ok());
}

}  // namespace
}  // namespace jit::enforce
