// The client side of one HTTP/2 connection to a backend, on libnghttp2: frames in, frames
// out, one H2Stream per request. No sockets: the connection (h2_client_connection.hpp) feeds
// it the bytes it reads and writes the bytes it makes.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringproxy {

// One request stream as the session sees it: the request body waiting to be framed, the
// response as it arrives. Shared by the exchange that made it and the session, which keeps it
// until nghttp2 is done with it (a cancelled stream until its RST_STREAM went). One worker
// thread.
struct H2Stream {
  using Fields = std::vector<std::pair<std::string, std::string>>;

  // --- the request body (when submitted with one) ---
  std::string upload;  // bytes not yet framed; upload_taken of them already were
  std::size_t upload_taken = 0;
  bool upload_end = false;  // no more bytes will come
  Fields upload_trailers;   // sent as a trailing HEADERS after the last byte (lower-case names)
  bool deferred = false;    // the session waits for bytes (resume() after adding some)

  // --- the response ---
  std::int32_t id = -1;
  int status = 0;
  Fields headers;     // the final head's fields (no pseudo-header)
  bool head = false;  // the final (non-1xx) head is complete
  Fields trailers;
  std::string body;  // DATA received and not yet relayed (consume() once relayed)
  std::size_t field_bytes = 0;
  bool ended = false;    // END_STREAM from the backend: the response is whole
  bool closed = false;   // the stream is over (ended, reset or the connection lost)
  bool refused = false;  // the backend did not process it (REFUSED_STREAM, GOAWAY): safe to retry
  std::uint32_t error = 0;  // RST_STREAM / GOAWAY error code when closed abnormally

  std::function<void()> on_response;  // head, data, end or close arrived
  std::function<void()> on_upload;    // the session took upload bytes (room for more), or closed
};

// An nghttp2 client session with flow control left to the caller (bytes count against the
// windows until consume()), so a slow client holds back its backend stream. One worker
// thread; not thread-safe.
class H2ClientSession {
 public:
  H2ClientSession();
  ~H2ClientSession();
  H2ClientSession(const H2ClientSession&) = delete;
  H2ClientSession& operator=(const H2ClientSession&) = delete;

  // Submits a request with the fields in nva (pseudo-headers first); with_body: the body
  // comes through stream.upload. False when the session refused it (the stream is untouched).
  bool submit(const std::shared_ptr<H2Stream>& stream, const std::vector<nghttp2_nv>& nva,
              bool with_body);
  // Bytes read from the backend; false on a connection error (the session is over).
  bool receive(const std::uint8_t* data, std::size_t n);
  // The bytes to write now (empty: none); stable until sent() is called with their count.
  std::string_view output();
  void sent(std::size_t n);

  // n body bytes of stream went on to the client: the backend may send as many more.
  void consume(H2Stream& stream, std::size_t n);
  // stream.upload got bytes (or its end) after the session waited for them.
  void resume(H2Stream& stream);
  // Ends stream early (RST_STREAM CANCEL when it is still open) and detaches it: its
  // callbacks are dropped, it is kept (not pointed to by the caller's code) until nghttp2
  // closes it.
  void cancel(H2Stream& stream);
  // The connection is lost: every attached stream is closed (refused when the backend's
  // GOAWAY said it never saw it).
  void fail_all();

  // Submits a PING (a keep-alive); its ACK, when it comes, counts in pings_acked().
  bool ping();
  std::uint64_t pings_acked() const { return pings_acked_; }

  bool alive() const;  // still reading or writing
  bool going_away() const { return going_away_; }
  std::uint32_t max_streams() const;  // the backend's MAX_CONCURRENT_STREAMS
  bool ids_left() const;              // room for another stream id
  std::size_t attached() const { return streams_.size(); }

  // Callbacks' access (h2_client_session.cpp).
  struct Access;

 private:
  void detach(H2Stream& stream);

  nghttp2_session* session_ = nullptr;
  std::string out_;
  std::size_t out_sent_ = 0;
  bool going_away_ = false;
  std::uint64_t pings_acked_ = 0;
  std::int32_t last_stream_id_ = INT32_MAX;           // from the backend's GOAWAY
  std::vector<std::shared_ptr<H2Stream>> streams_;    // attached streams
  std::vector<std::shared_ptr<H2Stream>> cancelled_;  // until nghttp2 closes them
};

}  // namespace ringproxy
