// libFuzzer target: the response path without its sockets. Bytes as a backend sends them are
// framed, strictly validated (head_validator), parsed by Beast into arena fields, rewritten
// into the head the client gets, and the body decoded. Properties: no crash, leak or UB; a
// refusal is a 502 with a reason; every head the proxy writes for a client contains no bare CR
// or LF and ends in one empty line.
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/forwarded_head.hpp"
#include "io/message_arena.hpp"
#include "ringproxy/head_validator.hpp"

namespace http = boost::beast::http;
using namespace ringproxy;

namespace {

// Feeds the body bytes after the head through the parser in small pieces, as the session's
// relay does, into a bounded buffer. Any parser error is a refusal, never a crash.
template <class Parser>
void drain_body(Parser& parser, std::string_view rest) {
  char sink[512];
  while (!parser.is_done()) {
    auto& body = parser.get().body();
    body.data = sink;
    body.size = sizeof sink;
    boost::system::error_code ec;
    const std::size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    rest.remove_prefix(used);
    if (ec == http::error::need_buffer) continue;
    if (ec == http::error::need_more && rest.empty()) {
      parser.put_eof(ec);
      return;
    }
    if (ec || (used == 0 && body.size == sizeof sink)) return;
  }
}

}  // namespace

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
  http::response_parser<http::buffer_body, ArenaAllocator<char>> parser(
      std::piecewise_construct, std::make_tuple(), std::make_tuple(ArenaAllocator<char>(arena)));
  parser.header_limit(64 * 1024);
  parser.body_limit(1024 * 1024);
  boost::system::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(in.data(), end), ec);
  if (ec || !parser.is_header_done()) return 0;  // Beast refuses it too: the client gets 502

  std::string head;
  const bool chunked = !parser.is_done() && !parser.content_length();
  write_client_response_head(
      parser.get(),
      ClientResponseHead{chunked, "close", "\"default\";q=10;w=1", "\"default\";r=9;t=1"}, head);
  // Every line of it ends in CRLF, and it ends in exactly one empty line.
  if (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) std::abort();
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) std::abort();
    if (head[i] == '\r' && (i + 1 == head.size() || head[i + 1] != '\n')) std::abort();
  }
  if (head.find("\r\n\r\n") != head.size() - 4) std::abort();

  drain_body(parser, in.substr(used));
  return 0;
}
