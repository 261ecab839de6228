// Shared fixtures for the enforcement tests.
#pragma once

#include <jit/enforce/enforcer.hpp>
#include <jit/test/grants.hpp>
#include <jit/test/temp_dir.hpp>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

namespace jit::enforce::test {

inline constexpr UnixTime T0 = 1764250000;  // a fixed "now"

using jit::test::grant;
using jit::test::TempDir;

// A Terminator that records what it is asked. It answers at once, or, with
// `hold`, keeps every answer until release() (as logind does while it is slow).
class FakeTerminator final : public Terminator {
public:
    explicit FakeTerminator(const char* name = "logind") : name_(name) {}
    std::vector<std::string> terminated, killed;
    std::vector<std::pair<std::string, bool>> alive_asked;  // key, leader_closing
    std::set<std::string> stubborn;     // survive the polite step
    std::set<std::string> leader_only;  // only the leader still runs (it exits after its close)
    std::map<std::string, std::vector<std::string>> staying_seen;
    bool hold = false;

    const char* name() const override { return name_; }
    void terminate(const Session& s, const std::vector<Session>& staying, Done done) override {
        terminated.push_back(s.key);
        for (const auto& o : staying) staying_seen[s.key].push_back(o.key);
        answer([this, done] { done(std::string(polite())); });
    }
    void alive(const Session& s, const std::vector<Session>&, bool leader_closing, AliveDone done) override {
        alive_asked.emplace_back(s.key, leader_closing);
        const bool a = stubborn.count(s.key) > 0 || (leader_only.count(s.key) > 0 && !leader_closing);
        answer([done, a] { done(a); });
    }
    void kill(const Session& s, const std::vector<Session>&, Done done) override {
        killed.push_back(s.key);
        answer([this, done] { done(std::string(std::string(name_) == "logind" ? "kill-session" : "fallback-kill")); });
    }
    // end_users: the users the session manager lists (name -> uid), what it
    // was asked (names, hard), and an error to answer instead (a listing not
    // answered). It answers at once.
    std::map<std::string, std::uint32_t> user_managers;
    std::vector<std::pair<std::vector<std::string>, bool>> users_asked;
    std::optional<std::string> users_error;
    void end_users(const std::vector<std::string>& users, bool hard, UsersDone done) override {
        users_asked.emplace_back(users, hard);
        if (users_error) return done(make_error("enforce.logind", *users_error));
        std::vector<UserEnding> out;
        for (const std::string& u : users)
            if (auto m = user_managers.find(u); m != user_managers.end()) out.push_back(UserEnding{u, m->second, {}, {}});
        done(std::move(out));
    }
    // Delivers the held answers, in the order they were asked for.
    void release() {
        auto held = std::move(held_);
        held_.clear();
        for (auto& f : held) f();
    }
    std::size_t held() const { return held_.size(); }

private:
    const char* polite() const { return std::string(name_) == "logind" ? "terminate-session" : "fallback-kill"; }
    void answer(std::function<void()> f) {
        if (hold)
            held_.push_back(std::move(f));
        else
            f();
    }
    const char* name_;
    std::vector<std::function<void()>> held_;
};

// The answer of a Terminator step that answers at once (the fallback).
inline Result<std::string> step(Terminator& t, void (Terminator::*method)(const Session&, const std::vector<Session>&,
                                                                          Terminator::Done),
                                const Session& s, const std::vector<Session>& staying) {
    std::optional<Result<std::string>> out;
    (t.*method)(s, staying, [&out](Result<std::string> r) { out = std::move(r); });
    if (!out) return make_error("test", "the terminator did not answer at once");
    return *out;
}

}  // namespace jit::enforce::test
