#include "test_signer.hpp"

#include <jit/bundle.hpp>

#include <gtest/gtest.h>

#include <functional>

namespace jit {
namespace {

using test::good_grant;
using test::good_payload;
using test::kIssued;
using test::to_bytes;

using Mutation = std::function<void(Json::Value&)>;

Result<GrantsPayload> parse_mutated(const Mutation& mutate) {
    Json::Value p = good_payload();
    mutate(p);
    return parse_payload(to_bytes(p));
}

// The mutation must be rejected with `code`, and the message must name `word`.
::testing::AssertionResult rejected(const Mutation& mutate, const std::string& code, const std::string& word) {
    const auto r = parse_mutated(mutate);
    if (r.ok()) return ::testing::AssertionFailure() << "accepted";
    if (r.error().code != code)
        return ::testing::AssertionFailure() << "code " << r.error().code << " (" << r.error().message << ")";
    if (r.error().message.find(word) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks '" << word << "': " << r.error().message;
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult accepted(const Mutation& mutate) {
    const auto r = parse_mutated(mutate);
    if (!r.ok()) return ::testing::AssertionFailure() << r.error().code << ": " << r.error().message;
    return ::testing::AssertionSuccess();
}

Mutation grant_field(const std::string& field, Json::Value value) {
    return [field, value](Json::Value& p) { p["grants"][0][field] = value; };
}

Mutation drop_grant_field(const std::string& field) {
    return [field](Json::Value& p) { p["grants"][0].removeMember(field); };
}

TEST(ParsePayload, ParsesTheSharedVectorIntoTypedGrants) {
    const auto p = parse_payload(test::read_file(test::vector_path("payload.json")));
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->type, "jit.grants.v1");
    EXPECT_EQ(p->host_id, "web-01");
    EXPECT_EQ(p->revision, 42);
    EXPECT_EQ(p->issued_at, 1764250000);
    EXPECT_EQ(p->expires_at, 1764250900);
    ASSERT_EQ(p->grants.size(), 2U);
    const Grant& a = p->grants[0];
    EXPECT_EQ(a.id, "g-7f3a");
    EXPECT_EQ(a.user, "alice");
    EXPECT_EQ(a.uid, 70001U);
    EXPECT_EQ(a.display_name, "Alice Liddell");
    EXPECT_EQ(a.shell, "/bin/bash");
    EXPECT_TRUE(a.login);
    ASSERT_TRUE(a.sudo.has_value());
    EXPECT_EQ(a.sudo->run_as, "root");
    EXPECT_EQ(a.sudo->commands, (std::vector<std::string>{"/usr/bin/apt-get", "/usr/bin/systemctl restart nginx"}));
    EXPECT_EQ(a.groups, std::vector<std::string>{"adm"});
    EXPECT_EQ(a.not_before, 1764250000);
    EXPECT_EQ(a.not_after, 1764253600);
    EXPECT_EQ(a.ticket, "INC-1234");
    EXPECT_EQ(a.approved_by, std::vector<std::string>{"bob"});
    ASSERT_EQ(a.ssh_authorized_keys.size(), 1U);
    const Grant& b = p->grants[1];
    EXPECT_EQ(b.user, "bob");
    EXPECT_FALSE(b.uid.has_value());
    EXPECT_FALSE(b.sudo.has_value());
    EXPECT_TRUE(b.display_name.empty());
    ASSERT_EQ(p->revoked.size(), 1U);
    EXPECT_EQ(p->revoked[0].id, "g-1a2b");
    EXPECT_EQ(p->revoked[0].by, "carol");
}

TEST(ParsePayload, AcceptsNoGrantsAndIgnoresExtensionFields) {
    EXPECT_TRUE(accepted([](Json::Value& p) { p["grants"] = Json::Value(Json::arrayValue); }));
    EXPECT_TRUE(accepted([](Json::Value& p) {
        p["x_authority"] = "v2";
        p["grants"][0]["x_priority"] = 3;
        p["grants"][0]["x_meta"]["labels"] = Json::Value(Json::arrayValue);  // depth 5
    }));
}

TEST(ParsePayload, TypeMustBeKnown) {
    EXPECT_TRUE(rejected([](Json::Value& p) { p["type"] = "jit.grants.v2"; }, "type", "jit.grants.v2"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p.removeMember("type"); }, "type", "required"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p["type"] = 1; }, "type", "integer"));
}

TEST(ParsePayload, HeaderFieldsHaveTheirTypesAndRanges) {
    EXPECT_TRUE(rejected([](Json::Value& p) { p["host_id"] = "-web"; }, "host_id", "-web"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p["host_id"] = "web/01"; }, "host_id", "host_id"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p["revision"] = 0; }, "revision", "outside"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p["revision"] = -5; }, "revision", "outside"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p["revision"] = "42"; }, "revision", "must be an integer"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p["revision"] = 42.5; }, "revision", "must be an integer"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p.removeMember("issued_at"); }, "issued_at", "required"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p["expires_at"] = -1; }, "expires_at", "outside"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p.removeMember("grants"); }, "payload", "grants"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p["grants"] = Json::Value(Json::objectValue); }, "payload", "array"));
}

TEST(ParsePayload, IntegersMustBeWrittenAsIntegers) {
    const std::string good = to_bytes(good_payload());
    for (const std::string& bad : std::vector<std::string>{"42.0", "4.2e1", "42e0", "\"42\"", "true", "null", "18446744073709551616"}) {
        std::string text = good;
        text.replace(text.find("\"revision\":42"), 13, "\"revision\":" + bad);
        const auto r = parse_payload(text);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().code, "revision") << bad;
    }
    // RFC 8259 has no leading zeros; jsoncpp alone would read 042 as 42.
    std::string text = good;
    text.replace(text.find("\"revision\":42"), 13, "\"revision\":042");
    const auto r = parse_payload(text);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("leading zero"), std::string::npos);
}

TEST(ParsePayload, ExpiresAtMustFollowIssuedAt) {
    EXPECT_TRUE(rejected([](Json::Value& p) { p["expires_at"] = p["issued_at"]; }, "expires_at", "later than"));
    EXPECT_TRUE(accepted([](Json::Value& p) { p["expires_at"] = kIssued + 1; }));
}

TEST(GrantFields, IdIsRequiredUniqueAndPlain) {
    EXPECT_TRUE(rejected(drop_grant_field("id"), "grant", "grants[0]: field \"id\" is required"));
    EXPECT_TRUE(rejected(grant_field("id", "g 1"), "grant", "\"id\""));
    EXPECT_TRUE(rejected(grant_field("id", std::string(65, 'g')), "grant", "\"id\""));
    EXPECT_TRUE(accepted(grant_field("id", std::string(64, 'g'))));
    EXPECT_TRUE(rejected([](Json::Value& p) { p["grants"].append(good_grant("g-1", "bob")); }, "grant",
                         "duplicates grants[0]"));
}

TEST(GrantFields, UserIsAPosixName) {
    for (const std::string& bad : std::vector<std::string>{"Alice", "1alice", "al:ice", "al ice", "", "alice\n", "r\xC3\xA9mi"}) {
        EXPECT_TRUE(rejected(grant_field("user", bad), "grant", "\"user\"")) << bad;
    }
    EXPECT_TRUE(rejected(grant_field("user", std::string(33, 'a')), "grant", "user"));
    EXPECT_TRUE(accepted(grant_field("user", std::string(32, 'a'))));
    EXPECT_TRUE(accepted(grant_field("user", "_svc-ops_1")));
    EXPECT_TRUE(rejected(drop_grant_field("user"), "grant", "required"));
}

TEST(GrantFields, UidRangeBoundaries) {
    EXPECT_TRUE(rejected(grant_field("uid", 999), "grant", "999 is outside 1000..2147483646"));
    EXPECT_TRUE(accepted(grant_field("uid", 1000)));
    EXPECT_TRUE(accepted(grant_field("uid", 2147483646)));
    EXPECT_TRUE(rejected(grant_field("uid", Json::Int64{2147483647}), "grant", "outside"));
    EXPECT_TRUE(rejected(grant_field("uid", -1), "grant", "outside"));
    EXPECT_TRUE(rejected(grant_field("uid", Json::UInt64{18446744073709551615ULL}), "grant", "outside"));
    EXPECT_TRUE(rejected(grant_field("uid", 1500.5), "grant", "must be an integer"));
    EXPECT_TRUE(rejected(grant_field("uid", "1500"), "grant", "must be an integer"));
    EXPECT_TRUE(accepted(drop_grant_field("uid")));
}

TEST(GrantFields, UidsAreConsistentAcrossGrants) {
    EXPECT_TRUE(rejected(
        [](Json::Value& p) {
            p["grants"][0]["uid"] = 70001;
            Json::Value g = good_grant("g-2", "alice");
            g["uid"] = 70002;
            p["grants"].append(g);
        },
        "grant", "conflicts"));
    EXPECT_TRUE(rejected(
        [](Json::Value& p) {
            p["grants"][0]["uid"] = 70001;
            Json::Value g = good_grant("g-2", "bob");
            g["uid"] = 70001;
            p["grants"].append(g);
        },
        "grant", "already given"));
    EXPECT_TRUE(accepted([](Json::Value& p) {
        p["grants"][0]["uid"] = 70001;
        Json::Value g = good_grant("g-2", "alice");
        g["uid"] = 70001;
        p["grants"].append(g);
    }));
}

TEST(GrantFields, DisplayNameIsGecosSafe) {
    EXPECT_TRUE(rejected(grant_field("display_name", "Alice: admin"), "grant", "':'"));
    EXPECT_TRUE(rejected(grant_field("display_name", "Alice\nroot::0:0"), "grant", "control character"));
    EXPECT_TRUE(accepted(grant_field("display_name", std::string(256, 'x'))));
    EXPECT_TRUE(rejected(grant_field("display_name", std::string(257, 'x')), "grant", "257 bytes"));
    EXPECT_TRUE(accepted(grant_field("display_name", "Zo\xC3\xAB Lef\xC3\xA8vre")));
}

TEST(GrantFields, ShellIsANormalisedAbsolutePath) {
    EXPECT_TRUE(accepted(grant_field("shell", "/bin/bash")));
    EXPECT_TRUE(accepted(grant_field("shell", "/usr/local/bin/zsh-5.9")));
    for (const std::string& bad : std::vector<std::string>{"bash", "/bin/../bin/sh", "/bin//sh", "/bin/", "/bin/sh -c x", "/bin/sh:x", "", "/bin/./sh"}) {
        EXPECT_TRUE(rejected(grant_field("shell", bad), "grant", "\"shell\"")) << bad;
    }
}

TEST(GrantFields, LoginIsARequiredBoolean) {
    EXPECT_TRUE(rejected(drop_grant_field("login"), "grant", "\"login\" is required"));
    EXPECT_TRUE(rejected(grant_field("login", "true"), "grant", "boolean"));
    EXPECT_TRUE(rejected(grant_field("login", 1), "grant", "boolean"));
    EXPECT_TRUE(accepted(grant_field("login", false)));
}

TEST(GrantFields, WindowMustBeNonEmpty) {
    EXPECT_TRUE(rejected(grant_field("not_after", Json::Int64{kIssued}), "grant", "must be later than not_before"));
    EXPECT_TRUE(rejected(grant_field("not_after", Json::Int64{kIssued - 1}), "grant", "not_after"));
    EXPECT_TRUE(accepted(grant_field("not_after", Json::Int64{kIssued + 1})));
    EXPECT_TRUE(rejected(drop_grant_field("not_before"), "grant", "not_before"));
    EXPECT_TRUE(rejected(grant_field("not_before", "2026-01-01"), "grant", "integer"));
    EXPECT_TRUE(rejected(grant_field("not_after", Json::Int64{limits::kMaxTime + 1}), "grant", "outside"));
}

TEST(GrantFields, TextLimits) {
    EXPECT_TRUE(accepted(grant_field("reason", std::string(1024, 'r'))));
    EXPECT_TRUE(rejected(grant_field("reason", std::string(1025, 'r')), "grant", "1025 bytes"));
    EXPECT_TRUE(rejected(grant_field("reason", ""), "grant", "must not be empty"));
    EXPECT_TRUE(rejected(drop_grant_field("reason"), "grant", "reason"));
    EXPECT_TRUE(accepted(grant_field("ticket", std::string(128, 't'))));
    EXPECT_TRUE(rejected(grant_field("ticket", std::string(129, 't')), "grant", "ticket"));
    EXPECT_TRUE(rejected(drop_grant_field("requested_by"), "grant", "requested_by"));
    EXPECT_TRUE(rejected(grant_field("reason", "esc \x1b[2J"), "grant", "control character"));
    EXPECT_TRUE(rejected(grant_field("reason", "csi \xC2\x9b"), "grant", "control character"));
}

TEST(GrantFields, ApproversAreAListOfDistinctNames) {
    EXPECT_TRUE(accepted(grant_field("approved_by", Json::Value(Json::arrayValue))));
    EXPECT_TRUE(rejected(drop_grant_field("approved_by"), "grant", "approved_by"));
    Json::Value twice(Json::arrayValue);
    twice.append("bob");
    twice.append("bob");
    EXPECT_TRUE(rejected(grant_field("approved_by", twice), "grant", "listed twice"));
    Json::Value not_strings(Json::arrayValue);
    not_strings.append(7);
    EXPECT_TRUE(rejected(grant_field("approved_by", not_strings), "grant", "approved_by[0]"));
    EXPECT_TRUE(rejected(grant_field("approved_by", "bob"), "grant", "array"));
}

Json::Value sudo(const std::string& run_as, std::vector<std::string> commands) {
    Json::Value s(Json::objectValue);
    s["run_as"] = run_as;
    s["commands"] = Json::Value(Json::arrayValue);
    for (auto& c : commands) s["commands"].append(c);
    return s;
}

TEST(GrantSudo, AcceptsAllAndAbsoluteCommandsWithArguments) {
    EXPECT_TRUE(accepted(grant_field("sudo", sudo("root", {"ALL"}))));
    EXPECT_TRUE(accepted(grant_field("sudo", sudo("postgres", {"/usr/bin/psql", "/usr/bin/systemctl restart nginx"}))));
}

TEST(GrantSudo, RejectsWhatSudoersWouldReinterpret) {
    for (const std::string& bad : std::vector<std::string>{"apt-get", "all", "/usr/bin/apt-get, /bin/sh", "/bin/ls:x", "/usr/bin/env A=1",
                                  "/bin/echo \\", "/bin/true # x", "/bin/cat /var/log/*", "/bin/ls ?",
                                  "/bin/ls [ab]", "/bin/echo \"\"", "/bin/ls\n/bin/sh", "/bin/ls  -l",
                                  "/bin/ls ", "/usr/../bin/sh", "/bin/l\xC3\xA9", ""}) {
        EXPECT_TRUE(rejected(grant_field("sudo", sudo("root", {bad})), "grant", "sudo: field \"commands[0]\"")) << bad;
    }
}

TEST(GrantSudo, RunAsAndCommandsAreRequired) {
    EXPECT_TRUE(rejected(grant_field("sudo", sudo("ALL", {"ALL"})), "grant", "run_as"));
    EXPECT_TRUE(rejected(grant_field("sudo", sudo("Root", {"ALL"})), "grant", "run_as"));
    EXPECT_TRUE(rejected(grant_field("sudo", sudo("root", {})), "grant", "is empty"));
    EXPECT_TRUE(rejected(grant_field("sudo", sudo("root", {"ALL", "ALL"})), "grant", "listed twice"));
    Json::Value no_run_as = sudo("root", {"ALL"});
    no_run_as.removeMember("run_as");
    EXPECT_TRUE(rejected(grant_field("sudo", no_run_as), "grant", "run_as"));
    EXPECT_TRUE(rejected(grant_field("sudo", true), "grant", "must be an object"));
    EXPECT_TRUE(rejected(grant_field("sudo", Json::Value()), "grant", "must be an object"));
}

Json::Value names(std::vector<std::string> items) {
    Json::Value a(Json::arrayValue);
    for (auto& s : items) a.append(s);
    return a;
}

TEST(GrantGroups, AreDistinctPosixNamesWithinALimit) {
    EXPECT_TRUE(accepted(grant_field("groups", names({"adm", "systemd-journal", "docker"}))));
    EXPECT_TRUE(rejected(grant_field("groups", names({"Wheel"})), "grant", "groups[0]"));
    EXPECT_TRUE(rejected(grant_field("groups", names({"adm", "adm"})), "grant", "listed twice"));
    EXPECT_TRUE(rejected(grant_field("groups", names({"adm,root"})), "grant", "POSIX"));
    std::vector<std::string> many;
    for (std::size_t i = 0; i <= limits::kMaxGroups; ++i) many.push_back("g" + std::to_string(i));
    EXPECT_TRUE(rejected(grant_field("groups", names(many)), "grant", "at most 64"));
    many.pop_back();
    EXPECT_TRUE(accepted(grant_field("groups", names(many))));
}

constexpr const char* kAliceKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILfwxCtBxM5rAS7R6nTsvCiDdxc5uS4FplvTRfqQzg/4 alice@laptop";

TEST(GrantSshKeys, AcceptsKnownSingleLineKeys) {
    EXPECT_TRUE(accepted(grant_field("ssh_authorized_keys", names({kAliceKey}))));
    // The comment is optional.
    EXPECT_TRUE(accepted(grant_field("ssh_authorized_keys",
                                     names({"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILfwxCtBxM5rAS7R6nTsvCiDdxc5uS4FplvTRfqQzg/4"}))));
}

TEST(GrantSshKeys, RejectsOptionsUnknownTypesAndBrokenBlobs) {
    const std::string blob = "AAAAC3NzaC1lZDI1NTE5AAAAILfwxCtBxM5rAS7R6nTsvCiDdxc5uS4FplvTRfqQzg/4";
    for (const std::string& bad : std::vector<std::string>{
             "command=\"/bin/sh\" ssh-ed25519 " + blob,  // options prefix
             "ssh-dss " + blob,                          // unknown type
             "ssh-rsa " + blob,                          // blob is not an RSA key
             "ssh-ed25519 " + blob.substr(1),            // truncated base64
             "ssh-ed25519",                              // no key
             "ssh-ed25519 " + blob + " a\nssh-ed25519 " + blob,  // two lines
             "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",         // type only, no key material
         }) {
        EXPECT_TRUE(rejected(grant_field("ssh_authorized_keys", names({bad})), "grant", "ssh_authorized_keys[0]")) << bad;
    }
    EXPECT_TRUE(rejected(grant_field("ssh_authorized_keys", names({kAliceKey, kAliceKey})), "grant", "twice"));
}

TEST(Revoked, IsOptionalButWellFormedWhenPresent) {
    EXPECT_TRUE(accepted([](Json::Value& p) { p.removeMember("revoked"); }));
    EXPECT_TRUE(rejected([](Json::Value& p) { p["revoked"] = "g-1"; }, "revoked", "array"));
    EXPECT_TRUE(rejected([](Json::Value& p) { p["revoked"].append(Json::Value(Json::objectValue)); }, "revoked",
                         "revoked[0]: field \"id\" is required"));
    EXPECT_TRUE(rejected(
        [](Json::Value& p) {
            Json::Value r(Json::objectValue);
            r["id"] = "g-1";  // the live grant
            r["at"] = 1;
            p["revoked"].append(r);
        },
        "revoked", "also in grants"));
}

TEST(RawJson, RejectsNonUtf8AndBadEscapes) {
    const std::string good = to_bytes(good_payload());
    auto with_reason = [&](const std::string& raw) {
        std::string text = good;
        const std::string key = "\"reason\":\"investigate INC-1\"";
        text.replace(text.find(key), key.size(), "\"reason\":\"" + raw + "\"");
        return parse_payload(text);
    };
    auto r = with_reason("bad \xC0\xAF overlong");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "payload");
    EXPECT_NE(r.error().message.find("UTF-8"), std::string::npos);
    r = with_reason("truncated \xE2\x82");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "payload");
    r = with_reason("lone surrogate \\udc00");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("UTF-8"), std::string::npos) << r.error().message;
    r = with_reason("nul \\u0000 byte");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("control character"), std::string::npos);
    r = with_reason("fine \\u00e9 \xE2\x82\xAC");
    EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST(RawJson, RejectsDuplicateKeysAndTrailingData) {
    std::string text = to_bytes(good_payload());
    auto r = parse_payload(text.substr(0, text.size() - 1) + ",\"revision\":43}");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "payload");
    r = parse_payload(text + " []");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "payload");
    r = parse_payload("[" + text + "]");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "payload");
    EXPECT_FALSE(parse_payload("").ok());
    EXPECT_FALSE(parse_payload(text.substr(0, text.size() / 2)).ok());
}

TEST(RawJson, RejectsDeepNestingBeforeParsing) {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    auto r = parse_payload(deep);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "payload");
    EXPECT_NE(r.error().message.find("deeper than 5"), std::string::npos);
    // One level beyond the schema inside an extension field.
    EXPECT_TRUE(rejected(
        [](Json::Value& p) { p["grants"][0]["x_meta"]["a"]["b"]["c"] = 1; }, "payload", "deeper than 5"));
    // Brackets inside strings do not count.
    EXPECT_TRUE(accepted(grant_field("reason", "[[[[[[[[{{{{{{{{")));
}

TEST(RawJson, CapsArraySizes) {
    EXPECT_TRUE(rejected(
        [](Json::Value& p) {
            for (std::size_t i = 0; i < limits::kMaxGrants; ++i) p["grants"].append(good_grant("g-x" + std::to_string(i)));
        },
        "payload", "at most 4096"));
    EXPECT_TRUE(accepted([](Json::Value& p) {
        for (std::size_t i = 1; i < limits::kMaxGrants; ++i) p["grants"].append(good_grant("g-x" + std::to_string(i)));
    }));
    EXPECT_TRUE(rejected(
        [](Json::Value& p) {
            Json::Value many(Json::arrayValue);
            for (std::size_t i = 0; i <= limits::kMaxApprovers; ++i) many.append("a" + std::to_string(i));
            p["grants"][0]["approved_by"] = many;
        },
        "grant", "at most 64"));
}

TEST(RawJson, CapsTheTotalNumberOfElementsBeforeParsing) {
    // An extension array of small numbers: cheap to send, ~100 bytes each in jsoncpp.
    std::string text = to_bytes(good_payload());
    std::string zeros = "[0";
    for (std::size_t i = 0; i < limits::kMaxPayloadElements; ++i) zeros += ",0";
    text = text.substr(0, text.size() - 1) + ",\"x_pad\":" + zeros + "]}";
    const auto r = parse_payload(text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "payload");
    EXPECT_NE(r.error().message.find("JSON elements"), std::string::npos) << r.error().message;
}

TEST(RawJson, OneMalformedGrantRejectsTheWholePayload) {
    const auto r = parse_mutated([](Json::Value& p) {
        Json::Value bad = good_grant("g-2", "bob");
        bad["uid"] = 12;
        p["grants"].append(bad);
    });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "grant");
    EXPECT_EQ(r.error().message, "grant \"g-2\" (grants[1]): field \"uid\" 12 is outside 1000..2147483646");
}

}  // namespace
}  // namespace jit
