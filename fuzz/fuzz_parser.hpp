// What the request and response fuzz targets share: the parser they drive and how a body is
// fed through it.
#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "http/trailer_section.hpp"
#include "net/message_arena.hpp"

namespace ringproxy::fuzz {

namespace http = boost::beast::http;

// Beast's parser over arena fields with the sessions' limits (isRequest: request or response).
template <bool isRequest>
struct ArenaParser : http::parser<isRequest, http::buffer_body, ArenaAllocator<char>> {
  explicit ArenaParser(MessageArena& arena)
      : http::parser<isRequest, http::buffer_body, ArenaAllocator<char>>(
            std::piecewise_construct, std::make_tuple(),
            std::make_tuple(ArenaAllocator<char>(arena))) {
    this->header_limit(64 * 1024);
    this->body_limit(1024 * 1024);
  }
};

// The body bytes after the head through the parser in small pieces, into a bounded buffer.
template <class Parser>
void drain_body_only(Parser& parser, std::string_view rest) {
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

// Feeds the body bytes after the head through the parser in small pieces, as the session's
// relay does, into a bounded buffer, then takes a chunked body's trailer section out of the
// message as the relay does (the head's fields left as they were). Any parser error is a
// refusal, never a crash.
template <class Parser>
void drain_body(Parser& parser, std::string_view rest) {
  HeadFields head;
  head.note(parser.get());
  drain_body_only(parser, rest);
  if (!parser.is_done() || !parser.chunked()) return;
  std::string end;
  take_trailer_section(parser.get(), head, 64 * 1024, true, end);
  std::size_t left = 0;
  for (auto it = parser.get().begin(); it != parser.get().end(); ++it) ++left;
  if (left != head.size() || !end.starts_with("0\r\n") || !end.ends_with("\r\n")) __builtin_trap();
}

}  // namespace ringproxy::fuzz
