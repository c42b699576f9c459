// An HTTP/2 request's head as fields for the pipeline (see h2_request.hpp).
#include "http/h2_request.hpp"

#include <boost/asio/buffer.hpp>
#include <cstring>
#include <string>

namespace ringproxy {

namespace http = boost::beast::http;

namespace {

// Feeds parser the head text of the framing alone (on the stack unless a Content-Length's
// digits are many).
boost::system::error_code parse_framing(ClientRequestParser& parser, const H2RequestHead& head,
                                        bool body) {
  constexpr std::string_view kLine = "GET / HTTP/1.1\r\n";
  constexpr std::string_view kLength = "content-length: ";
  constexpr std::string_view kChunked = "transfer-encoding: chunked\r\n";
  const std::string_view length = head.content_length();
  const std::size_t size = kLine.size() + 2 +
                           (head.has_content_length() ? kLength.size() + length.size() + 2
                            : body                    ? kChunked.size()
                                                      : 0);
  char stack[128];
  std::string heap;
  char* const text = size <= sizeof(stack) ? stack : (heap.resize(size), heap.data());
  char* p = text;
  const auto put = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  put(kLine);
  if (head.has_content_length()) {
    put(kLength);
    put(length);
    put("\r\n");
  } else if (body) {
    put(kChunked);
  }
  put("\r\n");
  parser.eager(false);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(text, size), ec);
  if (!ec && !parser.is_header_done()) ec = http::error::partial_message;
  return ec;
}

}  // namespace

boost::system::error_code start_h2_request(ClientRequestParser& parser, const H2RequestHead& head,
                                           bool body) {
  if (const auto ec = parse_framing(parser, head, body)) return ec;
  auto& req = parser.get();
  // The framing's own field goes: the stream's fields carry Content-Length, and chunked is
  // this hop's framing, which the head sent upstream writes from the parser's state.
  if (head.has_content_length()) {
    req.erase(http::field::content_length);
  } else if (body) {
    req.erase(http::field::transfer_encoding);
  }
  req.method_string(head.method());
  req.target(head.target());
  req.version(11);
  if (!head.host().empty()) req.insert(http::field::host, "host", head.host());
  std::string_view lines = head.field_lines();
  while (!lines.empty()) {
    const std::size_t colon = lines.find(':');
    const std::size_t eol = lines.find("\r\n", colon);
    req.insert(lines.substr(0, colon), lines.substr(colon + 2, eol - colon - 2));
    lines.remove_prefix(eol + 2);
  }
  if (!head.cookie().empty()) req.insert(http::field::cookie, "cookie", head.cookie());
  return {};
}

}  // namespace ringproxy
