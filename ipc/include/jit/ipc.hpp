// The local wire protocol between pam_jit.so / jitctl and jit-helperd
// (documented in docs/socket-protocol.md).
//
// One request and one response per connection over a SOCK_STREAM unix socket.
// A frame is the ASCII header "JIT1 <decimal length>\n" followed by exactly
// <length> bytes of body. The body is lines "key=value\n"; in values "\\" is
// written "\\\\" and a newline "\\n". Keys match [a-z0-9_.]{1,64}, appear at most
// once, and a body is at most kMaxBody bytes. Every message has "op" (request)
// or "status" (response: "ok" or "error", with "error" and "message").
//
// This library throws nothing and allocates only std::string/std::map, so the
// PAM module can link it statically.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace jit::ipc {

inline constexpr std::size_t kMaxBody = 64 * 1024;
inline constexpr std::string_view kMagic = "JIT1";

using Message = std::map<std::string, std::string>;

// Encodes a message into a complete frame; "" if a key is invalid or the body too large.
std::string encode(const Message& msg);

// Parses a body (the bytes after the header). On failure returns nullopt and
// sets *error to what is wrong and where.
std::optional<Message> decode_body(std::string_view body, std::string* error);

// Incremental frame reader for non-blocking servers: feed bytes as they come.
class FrameReader {
public:
    enum class State { NeedMore, Complete, Invalid };
    State feed(std::string_view bytes);
    const std::string& body() const { return body_; }
    const std::string& error() const { return error_; }

private:
    std::string header_;
    std::string body_;
    std::size_t expected_ = 0;
    bool have_header_ = false;
    std::string error_;
    State state_ = State::NeedMore;
};

// Blocking client call with one overall deadline covering connect, send and
// receive. Returns nullopt with *error set on any failure (daemon absent,
// timeout, malformed answer).
std::optional<Message> call(const std::string& socket_path, const Message& request,
                            std::chrono::milliseconds timeout, std::string* error);

inline std::string get(const Message& m, const std::string& key, std::string fallback = {}) {
    auto it = m.find(key);
    return it == m.end() ? fallback : it->second;
}

}  // namespace jit::ipc
