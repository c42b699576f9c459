// libFuzzer target: the request path without its sockets. Bytes as a client sends them are
// framed (find_head_end), checked while incomplete and then strictly (head_validator), parsed
// by Beast into arena fields, rewritten into the head the backend gets, and the body decoded.
// Properties: no crash, leak or UB; a refusal has a 4xx/5xx status and a reason; and every head
// the proxy writes for a backend passes the same strict validation.
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
  const HeadVerdict partial = check_partial_request_head(in.substr(0, end));
  if (!partial && (partial.status < 400 || partial.reason.empty())) std::abort();
  if (end == std::string_view::npos) return 0;
  const HeadVerdict verdict = validate_request_head(in.substr(0, end));
  if (!verdict) {
    if (verdict.status < 400 || verdict.status > 505 || verdict.reason.empty()) std::abort();
    return 0;
  }

  ArenaBlockPool blocks;
  MessageArena arena(blocks);
  http::request_parser<http::buffer_body, ArenaAllocator<char>> parser(
      std::piecewise_construct, std::make_tuple(), std::make_tuple(ArenaAllocator<char>(arena)));
  parser.header_limit(64 * 1024);
  parser.body_limit(1024 * 1024);
  boost::system::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(in.data(), end), ec);
  if (ec || !parser.is_header_done()) return 0;  // Beast refuses it too: the session answers 400

  const auto& req = parser.get();
  if (req.method() == http::verb::connect) return 0;  // answered 405 by the proxy, never sent on
  std::string_view host;
  if (auto it = req.find(http::field::host); it != req.end()) host = it->value();
  std::string head;
  std::string_view target = req.target();
  if (!target.empty() && target.front() != '/' && target != "*") target = "/";
  write_upstream_request_head(
      req,
      UpstreamRequestHead{target, "192.0.2.1", host.empty() ? "127.0.0.1:8080" : host, host,
                          "0123456789abcdef0123456789abcdef", parser.chunked()},
      head);
  // The head sent on is as valid as the one received. It may exceed the field-line count,
  // since the proxy adds up to six fields (Host, X-Forwarded-*, Via, X-Request-Id) to a head
  // that was at the limit; and a coding it forwards without knowing (501) stays unknown.
  const HeadVerdict forwarded = validate_request_head(head);
  if (!forwarded && forwarded.status != 501 && forwarded.status != 414 && forwarded.status != 431) {
    std::abort();
  }

  drain_body(parser, in.substr(used));
  return 0;
}
