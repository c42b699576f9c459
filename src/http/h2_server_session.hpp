// The server side of one HTTP/2 connection, over libnghttp2 (framing, HPACK, flow control,
// stream states): bytes in, events out; responses in, bytes out. No I/O of its own.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/http_fields.hpp"

namespace ringproxy {

// A header field to send: name (lower case) and value, neither copied by nghttp2 until the
// submit call returns (nghttp2 copies them).
using H2Field = FieldView;

// What the session reports to its owner, from inside nghttp2's callbacks: the owner must not
// call back into the session's receive or send from them. Worker thread only.
class H2ServerEvents {
 public:
  // A frame header arrived (before its payload): type, payload length, flags, stream. False:
  // the connection is flooding (the session ends with ENHANCE_YOUR_CALM).
  virtual bool on_frame_start(std::uint8_t type, std::size_t length, std::uint8_t flags,
                              std::int32_t stream_id) = 0;
  // A request's header block begins on a new stream (trailers: a second block on a stream).
  virtual void on_request_begin(std::int32_t stream_id) = 0;
  // One decoded field of the current block (pseudo-headers included, as nghttp2 checked them).
  virtual void on_field(std::int32_t stream_id, std::string_view name, std::string_view value) = 0;
  // The block is complete: a request head, or its trailers (end_stream then set).
  virtual void on_request_head(std::int32_t stream_id, bool end_stream, bool trailers) = 0;
  virtual void on_request_data(std::int32_t stream_id, const std::uint8_t* data, std::size_t n) = 0;
  // END_STREAM on a DATA frame (the request body is whole).
  virtual void on_request_end(std::int32_t stream_id) = 0;
  // The stream is closed (error_code 0: both sides ended; else reset, by either side).
  virtual void on_stream_close(std::int32_t stream_id, std::uint32_t error_code) = 0;
  // The response body's next bytes into buf, at most length (*eof: it ended there); kDeferred
  // when none are here yet, kFailed when the response broke off (the stream is reset).
  static constexpr long kDeferred = -1;
  static constexpr long kFailed = -2;
  virtual long read_response(std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                             bool* eof) = 0;

 protected:
  ~H2ServerEvents() = default;
};

// The limits one session enforces. Plain data.
struct H2SessionLimits {
  std::uint32_t max_concurrent_streams = 100;
  std::uint32_t max_header_list = 16384;
  std::uint32_t initial_window = 65535;  // per stream: the request bytes buffered at most
  std::uint32_t header_table = 4096;     // HPACK, both ways
  std::size_t max_continuations = 17;
  bool enable_connect_protocol = false;
};

// One nghttp2 server session and the bytes it allocates (counted through its allocator).
// Not thread-safe: one connection's, on its worker.
class H2ServerSession {
 public:
  H2ServerSession(H2ServerEvents& events, const H2SessionLimits& limits);
  ~H2ServerSession();
  H2ServerSession(const H2ServerSession&) = delete;
  H2ServerSession& operator=(const H2ServerSession&) = delete;

  // Feeds received bytes; false when the connection must end (after what send() gives).
  // flooded: an event callback refused (GOAWAY ENHANCE_YOUR_CALM queued).
  bool receive(const char* data, std::size_t n);
  // Appends the frames ready to go to out, until about max bytes; the bytes appended.
  std::size_t send(std::string& out, std::size_t max);
  // Whether the connection still has something to read or write (false: close it).
  bool alive() const;

  // A response head (interim when status < 200); body: a body (or trailers) follows.
  bool submit_head(std::int32_t stream_id, int status, const std::vector<H2Field>& fields,
                   bool body);
  // Trailers after the body: call from read_response() as it reports the end of the body
  // (the DATA then goes without END_STREAM, which the trailers carry).
  bool submit_trailers(std::int32_t stream_id, const std::vector<H2Field>& fields);
  void resume(std::int32_t stream_id);
  void reset(std::int32_t stream_id, std::uint32_t error_code);
  // The application took n bytes of the stream's DATA: its window opens again.
  void consume(std::int32_t stream_id, std::size_t n);
  // GOAWAY: graceful (NO_ERROR, streams in flight finish) or terminate with error_code.
  void goaway(std::uint32_t error_code, bool graceful);
  bool going_away() const { return going_away_; }
  std::size_t memory() const { return memory_; }
  std::uint32_t goaway_code() const { return goaway_code_; }

  // nghttp2's allocator hooks count here (public for the C callbacks).
  std::size_t memory_ = 0;
  H2ServerEvents& events_;
  bool flooded_ = false;
  std::int32_t trailers_for_ = 0;  // the stream whose trailers were just submitted

 private:
  nghttp2_session* session_ = nullptr;
  nghttp2_mem mem_{};
  std::vector<nghttp2_nv> nv_;  // a submitted head's fields, reused
  bool going_away_ = false;
  std::uint32_t goaway_code_ = 0;
};

}  // namespace ringproxy
