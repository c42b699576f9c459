// One request's upstream phases: select, attempt (with retries), response filter, relay.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <memory>
#include <optional>

#include "http/trailer_relay.hpp"
#include "net/relay_buffer.hpp"
#include "net/upstream_pool.hpp"
#include "net/worker_metrics.hpp"
#include "policy/head_validator.hpp"
#include "proxy/downstream_connection.hpp"
#include "proxy/request_context.hpp"
#include "runtime/snapshot.hpp"
#include "runtime/upstream_selector.hpp"

namespace ringproxy {

// A request body read before the backend was picked, in the exchange's relay buffer or its
// own memory; its bytes count against server.request_buffer_total (a process-wide atomic)
// until it goes. A local of one request on its connection's worker thread.
struct BufferedRequestBody {
  BufferedRequestBody() = default;
  BufferedRequestBody(const BufferedRequestBody&) = delete;
  BufferedRequestBody& operator=(const BufferedRequestBody&) = delete;
  ~BufferedRequestBody();
  // Takes bytes from the process's total; false when they do not fit in total.
  bool claim(std::uint64_t bytes, std::uint64_t total);

  char* data = nullptr;         // nullptr: nothing buffered
  std::size_t size = 0;         // bytes read into data
  std::unique_ptr<char[]> own;  // data, when larger than a relay buffer
  std::uint64_t claimed = 0;    // bytes taken from the process's total
};

// Takes one routed request to its upstream: the Selection walks the backends (admission,
// leases, retry budget: runtime's), each attempt connects or reuses a pooled connection,
// sends the head and body, reads the response head, then the response filter rewrites the
// head and the body is relayed to the client. Decides nothing policy can: it classifies
// failures and orchestrates. A local of one request on its connection's worker thread.
template <class Stream>
class UpstreamExchange {
 public:
  UpstreamExchange(DownstreamConnection<Stream>& conn, RequestContext& ctx, const Snapshot& snap,
                   const UpstreamRuntime& up);
  UpstreamExchange(const UpstreamExchange&) = delete;
  UpstreamExchange& operator=(const UpstreamExchange&) = delete;

  boost::asio::awaitable<RequestEnd> run();

 private:
  using ResponseParser =
      boost::beast::http::response_parser<boost::beast::http::buffer_body, ArenaAllocator<char>>;
  // Why an attempt at one backend failed, classified for retries and the client's status.
  enum class Failure {
    none,
    connect_refused,     // retryable on another backend
    connect_timeout,     // retryable on another backend
    stale_before_reply,  // reset/EOF before any response byte: retryable for idempotent
    response_timeout,    // 504
    bad_response,        // 502
  };

  // The request's hash key, its head for the backend, the upstream in its context.
  void begin();
  // One attempt's start at backend: its counters, the context's facts.
  void start_attempt(BackendState& backend);
  // A new connection to the backend, or nullptr (last_ says why, the failure is counted).
  boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> connect(BackendState& backend);
  // TLS on a new connection to backend (upstream tls = {...}); false when it failed (counted
  // and logged with the reason, as a connect failure: the next backend is tried, else 502).
  boost::asio::awaitable<bool> connect_tls(UpstreamConnection& c, BackendState& backend);
  // Reads the request body whole (or, chunked, up to ctx_.request_buffer_bytes) before a
  // backend is picked, when it fits the route's limit and the process's total: a slow
  // uploader then pins no backend connection. An answer when the request ends here.
  boost::asio::awaitable<std::optional<RequestEnd>> buffer_body();
  // Sends what buffer_body read after the head (chunk-framed for a chunked request); false
  // when the write failed.
  boost::asio::awaitable<bool> send_buffered_body(UpstreamConnection& c);
  // Notes a chunked request's head fields (before its body is read), for its trailers.
  void note_request_head();
  // Takes the trailer section of a chunked request read whole out of its message, into
  // request_trailers_.end; false when it is over the head limit.
  bool take_request_trailers();
  // The answer to a request body that could not be read (too large, bad framing, too slow,
  // client gone).
  boost::asio::awaitable<RequestEnd> answer_body_error(boost::system::error_code ec);
  // The first chunk-size line of a chunked body, read when it is not here yet and checked
  // before anything goes upstream: an answer (400, 413, 408) when it is refused.
  boost::asio::awaitable<std::optional<RequestEnd>> check_first_chunk();
  // The request body, relayed; an answer when the request ends here (client gone, body too
  // large or malformed, backend failed while it was sent). When the backend answers before
  // the body is through, the rest is not sent (RFC 9112 §9.5): nullopt, its response is read.
  boost::asio::awaitable<std::optional<RequestEnd>> send_body(UpstreamConnection& c);
  // Expect: 100-continue: true when the backend answered the head within kContinueGrace
  // (then the client gets that answer instead of 100), false when it is time to send 100.
  boost::asio::awaitable<bool> answered_before_continue(UpstreamConnection& c);
  // Reads what the backend has said, at once (no waiting): true when it said something (or
  // closed), which is then in c.buffer for the response head.
  bool read_answer_now(UpstreamConnection& c);
  // The backend spoke before the body was through: true when it was an interim response
  // (103 Early Hints...; in response_head_ for the client), after which the upload goes on;
  // false when it ends the upload (its head step kept in early_step_ for run()).
  bool interim_before_body(UpstreamConnection& c);

  // Where reading a response head stands.
  enum class HeadStep {
    wait,     // wait until the stream is readable, then step again
    interim,  // an interim head for the client is in response_head_: send it, start again
    whole,    // a final response head is parsed (response_)
    failed,   // none will come: last_ says why
  };
  // Starts reading the next response head from c: fresh parser, deadline, then a step.
  HeadStep start_response_head(UpstreamConnection& c);
  // Checks what is buffered and reads what the stream holds now (no waiting); waited is the
  // outcome of the wait before it, if any.
  HeadStep step_response_head(UpstreamConnection& c, boost::system::error_code waited = {});
  // A parsed head: final, interim (for the client or skipped) or refused.
  HeadStep took_response_head(UpstreamConnection& c);
  void classify_head_failure(boost::system::error_code ec, const HeadVerdict& verdict);
  // What to do when no response head came.
  enum class AfterFailure { fresh_connection, next_backend, answer };
  AfterFailure after_head_failure(bool fresh_retry_left);

  // The response filter: settles the breaker, decides the client's framing and connection,
  // and writes the client's head. True when the client connection may be kept.
  bool filter_response(UpstreamConnection& c);
  // For an HTTP/2 stream: hands the client's head to its session as fields, when it goes out
  // at once with its body's start (a Content-Length or no body); false: write it as text.
  bool hand_head_as_fields(const ClientResponseHead& parts);
  // Relays the response to the client at once when it can (its body came whole with its
  // head, or it has none, and the kernel takes it all): the end, c back to the pool when
  // clean. nullopt: relay_response goes on from where it stopped.
  std::optional<RequestEnd> relay_response_now(std::unique_ptr<UpstreamConnection>& c);
  // Relays the rest of the response (head and body) to the client; the connection goes back
  // to the pool when it is clean.
  boost::asio::awaitable<RequestEnd> relay_response(std::unique_ptr<UpstreamConnection> c);
  // A 101 to an upgrade request: the head and what came after it go to the client, then the
  // backend connection and the lease go to the client connection's tunnel_.
  boost::asio::awaitable<RequestEnd> begin_tunnel(std::unique_ptr<UpstreamConnection> c);
  // The end of a whole response: c back to the pool when it is clean.
  RequestEnd finish_response(std::unique_ptr<UpstreamConnection> c);
  // The rest of a Content-Length body; false when it was cut off (by the backend: then
  // ctx_.aborted is set) or the client is gone.
  boost::asio::awaitable<bool> relay_sized_rest(UpstreamConnection& c, std::uint64_t remaining);
  // A body through the parser (chunked, close-delimited, none); an answer when it was cut off.
  boost::asio::awaitable<std::optional<RequestEnd>> relay_parsed(UpstreamConnection& c);
  // Counts the attempt's failure and settles its breaker permit (saying when it opened).
  void fail_attempt();
  // No backend answered: 503 (none could take it), 504 or 502.
  boost::asio::awaitable<RequestEnd> answer_no_backend();
  RelayBuffer& relay();
  // HTTP/2 to the backend (upstream protocol "h2"/"h2c"): each attempt is one stream on the
  // worker's shared connections (H2Leg, upstream_h2*.cpp).
  class H2Leg;
  boost::asio::awaitable<RequestEnd> run_h2();

  // One attempt's hold on a connection: this worker's in-flight count for the backend (the
  // lease holds the shared one bounded loads need), and the connection a passed deadline
  // cancels too.
  struct InFlight {
    InFlight(UpstreamExchange& x, UpstreamConnection& c);
    ~InFlight();
    UpstreamExchange& exchange;
  };

  DownstreamConnection<Stream>& conn_;
  RequestContext& ctx_;
  const Snapshot& snap_;
  const UpstreamRuntime& up_;
  const UpstreamConfig& ucfg_;
  Selection selection_;
  BackendState* backend_ = nullptr;
  WorkerMetrics::BackendCounts* counts_ = nullptr;  // this worker's, for backend_
  std::optional<RelayBuffer> relay_;                // only for bodies that go through a parser
  std::optional<ResponseParser> response_;
  std::optional<HeadStep> early_step_;  // a response head begun while the body was sent
  Failure last_ = Failure::none;
  bool idempotent_ = false;
  bool body_consumed_ = false;  // client body bytes were read: the request cannot be replayed
  bool continue_sent_ = false;
  bool client_gone_ = false;
  bool drained_read_ = false;  // the head's last read was direct and came back short
  bool had_bytes_ = false;     // the connection's buffer held bytes when the head was begun
  std::size_t received_ = 0;   // bytes read for the head so far
  std::size_t written_ = 0;    // of the response head and first body bytes, by the steady path
  bool keep_client_ = false;
  bool chunked_response_ = false;
  BufferedRequestBody buffered_;
  TrailerRelay request_trailers_;  // a chunked request's head fields, then its trailer section
};

extern template class UpstreamExchange<TcpStream>;
extern template class UpstreamExchange<TlsStream>;
extern template class UpstreamExchange<PipeStream>;

}  // namespace ringproxy
