// libFuzzer target: a head that check_head<isRequest> found whole in the read buffer, parsed in
// place by parse_buffered_head as the sessions do, for requests and for responses (each input
// is tried as both). The buffer holds the head and whatever came after it (body, pipelined
// requests). Properties: no crash, leak or UB; parse_buffered_head parses the head or returns
// an error (never claims success with the head unparsed); it never consumes past the buffer
// nor past the head, even when it fails; on success it consumed exactly the head (up to the
// end find_head_end found) and left the bytes after it untouched.
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_parser.hpp"
#include "http/buffered_head.hpp"
#include "http/head_reader.hpp"

namespace beast = boost::beast;
using namespace ringproxy;

namespace {

// A flat buffer that aborts when asked to consume more than it holds (flat_buffer itself
// would clamp silently) and counts what was consumed.
struct CheckedBuffer {
  beast::flat_buffer& buffer;
  std::size_t consumed = 0;

  auto data() const { return buffer.data(); }
  std::size_t size() const { return buffer.size(); }
  void consume(std::size_t n) {
    if (n > buffer.size()) std::abort();  // past the buffer
    consumed += n;
    buffer.consume(n);
  }
};

// The header limits of the sessions: max_header_bytes (its default) for requests, the upstream
// limit for responses.
template <bool isRequest>
constexpr std::size_t kHeadLimit = isRequest ? 16384 : 64 * 1024;

template <bool isRequest>
void check(std::string_view in) {
  HeadVerdict verdict;
  if (check_head<isRequest>(in, kHeadLimit<isRequest>, verdict) != HeadProgress::whole) return;
  const std::size_t head_end = find_head_end(in);
  if (head_end == std::string_view::npos || head_end > in.size() || !verdict) std::abort();

  beast::flat_buffer storage;
  const auto space = storage.prepare(in.size());
  boost::asio::buffer_copy(space, boost::asio::buffer(in.data(), in.size()));
  storage.commit(in.size());
  CheckedBuffer buffer{storage};

  ArenaBlockPool blocks;
  MessageArena arena(blocks);
  fuzz::ArenaParser<isRequest> parser(arena);
  parser.header_limit(static_cast<std::uint32_t>(kHeadLimit<isRequest>));
  const boost::system::error_code ec = parse_buffered_head(parser, buffer);
  if (buffer.consumed > head_end) std::abort();  // into the body or the next request
  if (ec) return;  // refused by Beast: the session answers 400 (502 for a backend)
  if (!parser.is_header_done()) std::abort();     // success without a head
  if (buffer.consumed != head_end) std::abort();  // stopped short of the head's end, or past it
  // What follows the head is there, byte for byte, for the body or the next request.
  const std::string rest = beast::buffers_to_string(storage.data());
  if (rest != in.substr(head_end)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check<true>(in);
  check<false>(in);
  return 0;
}
