// libFuzzer target: the response path without its sockets. Bytes as a backend sends them are
// framed, strictly validated (head_validator), parsed by Beast into arena fields, rewritten
// into the head the client gets, and the body decoded. Properties: no crash, leak or UB; a
// refusal is a 502 with a reason; every head the proxy writes for a client contains no bare CR
// or LF and ends in one empty line, and reads back whole (H2ResponseReader, an HTTP/2 client's
// way) with the same status.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_parser.hpp"
#include "http/forwarded_head.hpp"
#include "http/h2_response_reader.hpp"
#include "policy/head_validator.hpp"

namespace http = boost::beast::http;
using namespace ringproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t end = find_head_end(in);
  if (end == std::string_view::npos) return 0;
  const HeadVerdict verdict = validate_response_head(in.substr(0, end));
  if (!verdict) {
    if (verdict.status != 502 || verdict.reason.empty()) std::abort();
    return 0;
  }

  ArenaBlockPool blocks;
  MessageArena arena(blocks);
  fuzz::ArenaParser<false> parser(arena);
  boost::system::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(in.data(), end), ec);
  if (ec || !parser.is_header_done()) return 0;  // Beast refuses it too: the client gets 502

  std::string head;
  const bool chunked = !parser.is_done() && !parser.content_length();
  write_client_response_head(
      parser.get(),
      ClientResponseHead{chunked, "close", "\"default\";q=10;w=1", "\"default\";r=9;t=1", {}},
      head);
  // Every line of it ends in CRLF, and it ends in exactly one empty line.
  if (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) std::abort();
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) std::abort();
    if (head[i] == '\r' && (i + 1 == head.size() || head[i + 1] != '\n')) std::abort();
  }
  if (head.find("\r\n\r\n") != head.size() - 4) std::abort();
  // The head as an HTTP/2 stream's pipeline writes it reads back whole, with its status.
  H2HeadScratch scratch;
  H2ResponseReader reader(false, scratch);
  std::size_t read = 0;
  const H2ResponseReader::Head h2 = reader.read_head(head, &read);
  if (h2 != H2ResponseReader::Head::final && h2 != H2ResponseReader::Head::interim) std::abort();
  if (read != head.size() || reader.status() != parser.get().result_int()) std::abort();

  fuzz::drain_body(parser, in.substr(used));
  return 0;
}
