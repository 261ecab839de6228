// What sshd gets from the grants: key lines and principals, only inside a
// login window, each bounded by expiry-time, malformed lines left out.
#include <jit/ssh_keys.hpp>
#include <jit/test/grants.hpp>

#include <gtest/gtest.h>

namespace jit {
namespace {

const std::string kKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHiFI+gdazrDM0qbTNwsHxTKiPMdHV5Rg5Cep3O2qjpJ alice@laptop";
const std::string kKeyNoComment = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHiFI+gdazrDM0qbTNwsHxTKiPMdHV5Rg5Cep3O2qjpJ";
constexpr UnixTime T0 = 1'800'000'000;  // 2027-01-15 08:00:00 UTC

Grant grant(std::string id, std::string user, UnixTime nb, UnixTime na, std::vector<std::string> keys, bool login = true) {
    Grant g = test::grant(std::move(id), std::move(user), nb, na, login);
    g.ssh_authorized_keys = std::move(keys);
    return g;
}

TEST(SshKeys, ExpiryTimeIsTheWindowsLastSecondInUtc) {
    EXPECT_EQ(ssh_expiry_time(T0), "20270115080000Z");
    EXPECT_EQ(ssh_expiry_time(0), "19700101000000Z");
    auto out = authorized_keys_for({grant("g1", "alice", T0 - 60, T0 + 3600, {kKey})}, "alice", T0, "");
    ASSERT_EQ(out.lines.size(), 1u);
    EXPECT_EQ(out.lines[0], "expiry-time=\"20270115085959Z\" " + kKey);
    EXPECT_TRUE(out.dropped.empty());
}

TEST(SshKeys, OnlyInsideALoginWindowOfThatUser) {
    std::vector<Grant> g = {grant("g1", "alice", T0, T0 + 60, {kKey})};
    EXPECT_TRUE(authorized_keys_for(g, "alice", T0 - 1, "").lines.empty());
    EXPECT_EQ(authorized_keys_for(g, "alice", T0, "").lines.size(), 1u);
    EXPECT_EQ(authorized_keys_for(g, "alice", T0 + 59, "").lines.size(), 1u);
    EXPECT_TRUE(authorized_keys_for(g, "alice", T0 + 60, "").lines.empty());
    EXPECT_TRUE(authorized_keys_for(g, "bob", T0, "").lines.empty());
    std::vector<Grant> sudo_only = {grant("g2", "alice", T0, T0 + 60, {kKey}, false)};
    EXPECT_TRUE(authorized_keys_for(sudo_only, "alice", T0, "").lines.empty());
    EXPECT_TRUE(authorized_principals_for(sudo_only, "alice", T0, "").lines.empty());
}

TEST(SshKeys, HostOptionsFollowTheExpiry) {
    auto opts = parse_ssh_key_options("restrict, pty ,from=\"10.0.0.0/8,!10.0.0.1\"");
    ASSERT_TRUE(opts.ok()) << opts.error().message;
    EXPECT_EQ(*opts, "restrict,pty,from=\"10.0.0.0/8,!10.0.0.1\"");
    auto out = authorized_keys_for({grant("g1", "alice", T0, T0 + 60, {kKey})}, "alice", T0, *opts);
    ASSERT_EQ(out.lines.size(), 1u);
    EXPECT_EQ(out.lines[0], "expiry-time=\"20270115080059Z\",restrict,pty,from=\"10.0.0.0/8,!10.0.0.1\" " + kKey);
}

TEST(SshKeys, HostOptionsThatLoosenOrSmuggleAreRefused) {
    for (const char* bad : {"command=\"/bin/sh\"", "environment=\"A=b\"", "expiry-time=\"20300101\"",
                            "cert-authority", "principals=\"root\"", "tunnel=\"1\"", "from=10.0.0.1",
                            "from=\"10.0.0.1\" command=\"x\"", "from=\"a\"b\"", "from=\"10.0.0.1", "restrict,,pty",
                            "no-pty x", "from=\"a b\""}) {
        auto r = parse_ssh_key_options(bad);
        EXPECT_FALSE(r.ok()) << bad;
        if (!r.ok()) {
            EXPECT_EQ(r.error().code, "ssh.key_options");
        }
    }
    auto empty = parse_ssh_key_options("");
    ASSERT_TRUE(empty.ok());
    EXPECT_EQ(*empty, "");
}

TEST(SshKeys, MalformedLinesAreDroppedWithTheirReason) {
    const std::vector<std::string> keys = {
        "command=\"/bin/sh\" " + kKey,        // options smuggled in front
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP== x",  // type not allowed
        "ssh-ed25519 !!!notbase64",            // bad blob
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIHiFI+gdazrDM0qbTNwsHxTKiPMdHV5Rg5Cep3O2qjpJ",  // blob of another type
        kKey + "\nssh-ed25519 AAAA",           // a second line smuggled in
        kKeyNoComment,
    };
    auto out = authorized_keys_for({grant("g1", "alice", T0, T0 + 60, keys)}, "alice", T0, "");
    ASSERT_EQ(out.lines.size(), 1u);
    EXPECT_EQ(out.lines[0], "expiry-time=\"20270115080059Z\" " + kKeyNoComment);
    ASSERT_EQ(out.dropped.size(), 5u);
    EXPECT_EQ(out.dropped[0].rfind("grant g1 key 1: has key type", 0), 0u) << out.dropped[0];
    EXPECT_NE(out.dropped[2].find("invalid base64"), std::string::npos) << out.dropped[2];
    EXPECT_NE(out.dropped[3].find("does not hold a ssh-rsa key"), std::string::npos) << out.dropped[3];
    EXPECT_NE(out.dropped[4].find("control character"), std::string::npos) << out.dropped[4];
}

TEST(SshKeys, AKeyInSeveralGrantsAppearsOnceWithTheLatestEnd) {
    auto out = authorized_keys_for({grant("g1", "alice", T0, T0 + 60, {kKey}), grant("g2", "alice", T0, T0 + 120, {kKeyNoComment})},
                                   "alice", T0, "");
    ASSERT_EQ(out.lines.size(), 1u);
    EXPECT_EQ(out.lines[0], "expiry-time=\"20270115080159Z\" " + kKeyNoComment);
}

TEST(SshKeys, PrincipalsNameTheUserWhileALoginWindowIsOpen) {
    std::vector<Grant> g = {grant("g1", "alice", T0, T0 + 60, {}), grant("g2", "alice", T0 + 30, T0 + 90, {})};
    EXPECT_TRUE(authorized_principals_for(g, "alice", T0 - 1, "").lines.empty());
    auto out = authorized_principals_for(g, "alice", T0 + 40, "restrict");
    ASSERT_EQ(out.lines.size(), 1u);
    EXPECT_EQ(out.lines[0], "expiry-time=\"20270115080129Z\",restrict alice");
    EXPECT_TRUE(authorized_principals_for(g, "alice", T0 + 90, "").lines.empty());
}

}  // namespace
}  // namespace jit
