// parse_sudo_audit and render_command_line: the sudo plugin's message at the
// socket edge, and the command line an auditor reads.
#include <jit/helperd/sudo_audit.hpp>

#include <gtest/gtest.h>

using jit::helperd::parse_sudo_audit;
using jit::helperd::render_command_line;
using jit::helperd::SudoAuditRecord;

namespace {

jit::ipc::Message valid() {
    return {{"event", "reject"}, {"user", "alice"}, {"run_as", "#0"}, {"argc", "1"}, {"arg.0", "/usr/bin/passwd"}};
}

}  // namespace

TEST(SudoAudit, ParsesAValidRecord) {
    auto r = parse_sudo_audit(valid());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->kind, SudoAuditRecord::Kind::Reject);
    EXPECT_EQ(r->run_as, "#0");
    EXPECT_EQ(r->argv, std::vector<std::string>{"/usr/bin/passwd"});
    EXPECT_FALSE(r->truncated);
}

TEST(SudoAudit, EveryBadKeyIsNamed) {
    const std::vector<std::pair<std::pair<std::string, std::string>, std::string>> cases = {
        {{"event", "maybe"}, "'event'"},       {{"user", "Alice"}, "'user'"},
        {{"run_as", "#x"}, "'run_as'"},        {{"cwd", "relative"}, "'cwd'"},
        {{"tty", "a\nb"}, "'tty'"},            {{"message", std::string(2000, 'x')}, "'message'"},
        {{"argc", "0"}, "'argc'"},             {{"argc", "2"}, "'arg.1' is missing"},
        {{"argc", "99999"}, "'argc'"},         {{"argc", "1x"}, "'argc'"},
        {{"arg.0", ""}, "'arg.0' is empty"},   {{"truncated", "maybe"}, "'truncated'"},
        {{"arg.0", std::string(70 * 1024, 'a')}, "'arg.0' makes the command longer"},
    };
    for (const auto& [kv, want] : cases) {
        auto m = valid();
        m[kv.first] = kv.second;
        auto r = parse_sudo_audit(m);
        ASSERT_FALSE(r.ok()) << kv.first << "=" << kv.second.substr(0, 20);
        EXPECT_EQ(r.error().code, "bad_request");
        EXPECT_NE(r.error().message.find(want), std::string::npos) << r.error().message;
    }
}

TEST(SudoAudit, CommandLineQuotesWhatAShellWould) {
    EXPECT_EQ(render_command_line({"/usr/bin/id", "-u"}, false), "/usr/bin/id -u");
    EXPECT_EQ(render_command_line({"/bin/echo", "it's", "a b", ""}, false), "/bin/echo $'it\\'s' $'a b' $''");
    EXPECT_EQ(render_command_line({"/bin/echo", "two\nlines\x7f", "back\\slash"}, false),
              "/bin/echo $'two\\x0alines\\x7f' $'back\\\\slash'");
    EXPECT_EQ(render_command_line({"/bin/ls", "-l"}, true), "/bin/ls -l …(truncated)");
}
