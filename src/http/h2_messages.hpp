// HTTP/2 messages in HTTP/1.1 form and back, so that each HTTP/2 stream can go through the
// HTTP/1.1 request pipeline (Apache mod_h2's way): a request's header block becomes an
// HTTP/1.1 head; the pipeline's HTTP/1.1 response becomes a header block and DATA.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "http/h2_server_session.hpp"
#include "policy/head_validator.hpp"

namespace ringproxy {

// A request's header block, collected field by field (nghttp2 has checked the pseudo-header
// and field rules of RFC 9113 §8), then written as an HTTP/1.1 request head. Not thread-safe.
class H2RequestHead {
 public:
  // Empties it for the next header block; its strings keep their room.
  void clear();
  // The room its strings hold (bounded by the size limit add is given).
  std::size_t memory() const;
  // Adds one field; past limit bytes (the head limits) the head is refused (too_large).
  void add(std::string_view name, std::string_view value, std::size_t limit);
  bool too_large() const { return too_large_; }
  // The HTTP/1.1 head for the pipeline; body: DATA may follow. *chunked: the body has no
  // content-length and goes chunk-framed. Built in the fields' own string, so once only.
  std::string take_text(bool body, bool* chunked);
  std::string_view method() const { return method_; }
  // content-type application/grpc (and +proto, ...): the proxy's own failures answer in gRPC.
  bool grpc() const { return grpc_; }
  bool extended_connect() const { return !protocol_.empty(); }
  // An extended CONNECT (RFC 8441) for the WebSocket protocol.
  bool websocket() const;
  // The HTTP/1.1 WebSocket upgrade for a websocket() request: a GET with Connection: upgrade,
  // Upgrade: websocket, key as Sec-WebSocket-Key and Sec-WebSocket-Version 13 (the client's
  // own key and version fields are not sent on; its subprotocols and extensions are).
  // Once only, as take_text.
  std::string take_websocket_text(std::string_view key);

  // The head as fields, for a request taken without its HTTP/1.1 text (start_h2_request):
  // the facts validate_h2_request checks, the target, the Host to send, the fields as
  // "name: value\r\n" lines (host and cookie excepted), the joined cookie, the Content-Length.
  H2RequestFacts facts() const;
  std::string_view target() const { return path_.empty() ? authority_ : path_; }
  std::string_view host() const { return authority_.empty() ? host_ : authority_; }
  std::string_view field_lines() const { return fields_; }
  std::string_view cookie() const { return cookie_; }
  std::string_view content_length() const { return content_length_value_; }
  bool has_content_length() const { return content_length_; }

 private:
  std::string method_, scheme_, authority_, path_, protocol_;
  std::string fields_;  // "name: value\r\n" lines, host and cookie excepted
  std::string host_;
  std::string cookie_;
  std::string content_length_value_;
  bool content_length_ = false;
  bool grpc_ = false;
  bool bad_expect_ = false;
  std::size_t host_fields_ = 0;
  std::size_t field_count_ = 0;  // in fields_
  std::size_t longest_part_ = 0;
  bool too_large_ = false;
  std::size_t size_ = 0;
};

// The gRPC status (and message) a request gets when the proxy itself fails it with an HTTP
// status: 14 UNAVAILABLE for no backend, breaker open, 502; 8 RESOURCE_EXHAUSTED for rate
// limits and size limits; 4 DEADLINE_EXCEEDED for timeouts; 12 UNIMPLEMENTED for no route.
struct GrpcStatus {
  int code;
  std::string_view message;
};
GrpcStatus grpc_status_for(int http_status);

}  // namespace ringproxy
