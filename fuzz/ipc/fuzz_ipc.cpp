// libFuzzer target for the local socket protocol (docs/socket-protocol.md):
// the frame reader jit-helperd runs on every client's bytes, and the body
// decoder. Arbitrary bytes, fed whole and in fuzzer-chosen chunks, must never
// crash, hang or read out of bounds, and:
//   - the chunked reader ends no worse than the whole one: a complete frame
//     read whole is read the same in chunks;
//   - a body that decodes re-encodes (encode) into a frame that reads and
//     decodes back to the same message.
#include <jit/ipc.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "require.hpp"

namespace {

using jit::fuzz::require;

jit::ipc::FrameReader::State feed_chunked(jit::ipc::FrameReader& r, std::string_view data, std::size_t chunk) {
    auto st = jit::ipc::FrameReader::State::NeedMore;
    while (!data.empty()) {
        std::size_t n = chunk < data.size() ? chunk : data.size();
        st = r.feed(data.substr(0, n));
        data.remove_prefix(n);
    }
    return st;
}

void check_round_trip(const jit::ipc::Message& m) {
    const std::string frame = jit::ipc::encode(m);
    require(!frame.empty(), "a decoded message encodes");
    jit::ipc::FrameReader r;
    require(r.feed(frame) == jit::ipc::FrameReader::State::Complete, "an encoded frame reads");
    std::string err;
    auto again = jit::ipc::decode_body(r.body(), &err);
    require(again && *again == m, "an encoded message decodes to itself");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t chunk = data[0] % 17 + 1;
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

    using State = jit::ipc::FrameReader::State;
    jit::ipc::FrameReader whole, chunked;
    const State sw = whole.feed(bytes);
    const State sc = feed_chunked(chunked, bytes, chunk);
    require(whole.body().size() <= jit::ipc::kMaxBody && chunked.body().size() <= jit::ipc::kMaxBody, "a body within the limit");
    require(sw != State::Invalid || !whole.error().empty(), "Invalid comes with an error");
    require(sw != State::Complete || (sc == State::Complete && chunked.body() == whole.body()),
            "a frame read whole is read the same in chunks");
    // Chunks may complete a frame before bytes that trail it arrive (the server
    // stops reading there); otherwise they agree with the whole read.
    require(sw != State::NeedMore || sc == State::NeedMore, "chunks decide nothing the whole read could not");

    std::string err;
    if (sw == State::Complete) {
        if (auto m = jit::ipc::decode_body(whole.body(), &err)) check_round_trip(*m);
        else require(!err.empty(), "a refused body comes with an error");
    }
    err.clear();
    if (auto m = jit::ipc::decode_body(bytes, &err)) check_round_trip(*m);
    else require(!err.empty(), "a refused body comes with an error");
    return 0;
}
