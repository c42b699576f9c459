// libFuzzer target: the request path without its sockets. Bytes as a client sends them are
// framed (find_head_end), checked while incomplete and then strictly (head_validator), parsed
// by Beast into arena fields, rewritten into the head the backend gets, and the body decoded.
// Properties: no crash, leak or UB; a refusal has a 4xx/5xx status and a reason; and every head
// the proxy writes for a backend passes the same strict validation.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_parser.hpp"
#include "http/forwarded_head.hpp"
#include "policy/head_validator.hpp"

namespace http = boost::beast::http;
using namespace ringproxy;

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
  fuzz::ArenaParser<true> parser(arena);
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
  write_upstream_request_head(req,
                              UpstreamRequestHead{target,
                                                  "192.0.2.1",
                                                  host.empty() ? "127.0.0.1:8080" : host,
                                                  host,
                                                  "0123456789abcdef0123456789abcdef",
                                                  parser.chunked(),
                                                  {}},
                              head);
  // The head sent on is as valid as the one received. It may exceed the field-line count,
  // since the proxy adds up to six fields (Host, X-Forwarded-*, Via, X-Request-Id) to a head
  // that was at the limit; and a coding it forwards without knowing (501) stays unknown.
  const HeadVerdict forwarded = validate_request_head(head);
  if (!forwarded && forwarded.status != 501 && forwarded.status != 414 && forwarded.status != 431) {
    std::abort();
  }

  fuzz::drain_body(parser, in.substr(used));
  return 0;
}
