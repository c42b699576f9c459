// An HTTP/2 request's head handed to the HTTP/1.1 pipeline as fields, not as text: the parser
// gets only the body's framing, the message gets the stream's fields (docs/http2.md).
#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/system/error_code.hpp>

#include "http/h2_messages.hpp"
#include "net/message_arena.hpp"

namespace ringproxy {

// The parser a client connection reads its requests with.
using ClientRequestParser =
    boost::beast::http::request_parser<boost::beast::http::buffer_body, ArenaAllocator<char>>;

// Starts parser (fresh, its limits set) on the request of head (validate_h2_request passed it):
// its framing alone is parsed (a Content-Length, or chunked when a body without one follows),
// so that the body after it is read as before; then the message gets the method, the target,
// HTTP/1.1, Host and the fields, in their order, the cookie crumbs joined last. The parser's
// errors (body_limit for a Content-Length over it) are returned.
boost::system::error_code start_h2_request(ClientRequestParser& parser, const H2RequestHead& head,
                                           bool body);

}  // namespace ringproxy
