// Parsing a message head that is already whole in its read buffer, without a read operation:
// the validator has found the head's end, so Beast's parser is fed from the buffer in place
// and nothing goes through the socket, the scheduler or a composed operation.
#pragma once

#include <boost/beast/http/error.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>

namespace ringproxy {

// Feeds parser from buffer (consuming what it takes) until the head is parsed, and stops
// there, as http::read_header would. The head must be whole in buffer: when the parser still
// wants more, that is http::error::partial_message. Parser errors (header_limit, body_limit,
// bad framing) are returned as they come.
template <class Parser, class DynamicBuffer>
boost::system::error_code parse_buffered_head(Parser& parser, DynamicBuffer& buffer) {
  namespace http = boost::beast::http;
  parser.eager(false);
  boost::system::error_code ec;
  while (!parser.is_header_done()) {
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::need_more || (!ec && used == 0)) return http::error::partial_message;
    if (ec) return ec;
  }
  return ec;
}

}  // namespace ringproxy
