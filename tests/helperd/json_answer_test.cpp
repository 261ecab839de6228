// json_answer: op=status and op=grants answers fit in one frame. Before it,
// a host with ~900 sessions (nspawn.host.many_sessions at 1,000) answered
// `jitctl status` with "internal: answer could not be encoded".
#include <jit/helperd/json_answer.hpp>

#include <gtest/gtest.h>

#include <sstream>

namespace {

using jit::helperd::json_answer;

Json::Value status_with_sessions(int n) {
    Json::Value v(Json::objectValue);
    v["sessions"] = n;  // the count: never cut
    Json::Value list(Json::arrayValue);
    for (int i = 0; i < n; ++i) {
        Json::Value s(Json::objectValue);
        s["key"] = "logind:c" + std::to_string(i);
        s["user"] = "alice";
        s["service"] = "sshd";
        s["rhost"] = "10.0.0.9";
        s["note"] = "a \"quoted\" \\ word";  // escapes: the frame doubles each backslash
        list.append(s);
    }
    v["enforcement"]["sessions"] = list;
    return v;
}

Json::Value parsed(const jit::ipc::Message& m) {
    Json::Value out;
    std::string errs;
    std::istringstream in(m.at("json"));
    EXPECT_TRUE(Json::parseFromStream(Json::CharReaderBuilder(), in, &out, &errs)) << errs;
    return out;
}

TEST(JsonAnswer, SmallAnswersAreWhole) {
    auto m = json_answer(status_with_sessions(3), {{"enforcement", "sessions"}});
    ASSERT_EQ(m.at("status"), "ok");
    Json::Value v = parsed(m);
    EXPECT_EQ(v["enforcement"]["sessions"].size(), 3u);
    EXPECT_FALSE(v["enforcement"].isMember("sessions_not_listed"));
}

TEST(JsonAnswer, AThousandSessionsAreCutToFitAndSaySo) {
    auto m = json_answer(status_with_sessions(1000), {{"enforcement", "sessions"}});
    ASSERT_EQ(m.at("status"), "ok");
    EXPECT_FALSE(jit::ipc::encode(m).empty());  // one frame
    Json::Value v = parsed(m);
    const auto listed = v["enforcement"]["sessions"].size();
    EXPECT_GT(listed, 100u);
    EXPECT_LT(listed, 1000u);
    EXPECT_EQ(listed + v["enforcement"]["sessions_not_listed"].asUInt64(), 1000u);
    EXPECT_EQ(v["sessions"].asInt(), 1000);
    EXPECT_EQ(v["enforcement"]["sessions"][0]["key"].asString(), "logind:c0");  // cut from the end
}

TEST(JsonAnswer, TheLongestListIsCutFirstAndMissingPathsAreLeftAlone) {
    Json::Value v = status_with_sessions(1000);
    Json::Value few(Json::arrayValue);
    for (int i = 0; i < 5; ++i) few.append("x");
    v["refused"] = few;
    auto m = json_answer(v, {{"refused"}, {"enforcement", "sessions"}, {"no", "such"}, {"sessions"}});
    ASSERT_EQ(m.at("status"), "ok");
    Json::Value out = parsed(m);
    EXPECT_EQ(out["refused"].size(), 5u);
    EXPECT_FALSE(out.isMember("refused_not_listed"));
    EXPECT_TRUE(out["enforcement"].isMember("sessions_not_listed"));
}

TEST(JsonAnswer, TooLargeWithoutAListToCutIsAnError) {
    Json::Value v(Json::objectValue);
    v["blob"] = std::string(jit::ipc::kMaxBody, 'a');
    auto m = json_answer(v, {{"enforcement", "sessions"}});
    EXPECT_EQ(m.at("status"), "error");
    EXPECT_EQ(m.at("error"), "internal");
}

}  // namespace
