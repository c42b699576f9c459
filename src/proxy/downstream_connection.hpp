// One client connection: reads its requests and takes each through the request phases.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "http/h2_request.hpp"
#include "http/head_reader.hpp"
#include "net/coarse_clock.hpp"
#include "net/message_arena.hpp"
#include "net/pipe_stream.hpp"
#include "net/tcp_stream.hpp"
#include "net/tls_stream.hpp"
#include "net/upstream_pool.hpp"
#include "net/worker.hpp"
#include "proxy/request_context.hpp"
#include "proxy/request_plan.hpp"

namespace ringproxy {

// How one request ended, as far as the client connection is concerned.
enum class RequestEnd {
  keep_alive,  // response complete, request read whole: read the next request
  close,       // response complete, but the connection must close (gracefully)
  abort,       // response cut off or client gone: close at once
  tunnel,      // a 101: the connection becomes a tunnel (tunnel_ holds what it needs)
};

struct TunnelStart;

template <class Stream>
class UpstreamExchange;

// Owns the client's stream, its read buffer and its read loop; each request gets a fresh
// RequestContext and goes through the phases (request_plan.hpp, then UpstreamExchange, then
// the log). Generic over the stream (TcpStream; TLS slots in). Lives on its worker's thread,
// kept alive by the coroutine that runs it (shared_from_this).
template <class Stream>
class DownstreamConnection final
    : public DownstreamTask,
      public std::enable_shared_from_this<DownstreamConnection<Stream>> {
 public:
  // head_deadline: when the first request head must be in (default: client_header_timeout
  // from now). resumed: the connection comes back from the worker's park (already set up).
  DownstreamConnection(Worker& worker, Stream stream,
                       std::optional<std::chrono::steady_clock::time_point> head_deadline = {},
                       bool resumed = false);
  // One multiplexed exchange (an HTTP/2 stream over a PipeStream) of a client already known.
  DownstreamConnection(Worker& worker, Stream stream, const ClientIdentity& client);
  ~DownstreamConnection();

  // An HTTP/2 stream's request taken as fields, before start() (PipeStream only; body: DATA
  // follows): validated and parsed into the request here, so that run() serves it without
  // reading a head from the stream.
  void take_h2_request(const H2RequestHead& head, bool body);
  // Starts the connection's coroutine on the worker's executor.
  void start();
  void drain() override;
  void expire_if_due(std::chrono::steady_clock::time_point now) override;

 private:
  friend class UpstreamExchange<Stream>;
  using RequestParser = ClientRequestParser;
  using Clock = std::chrono::steady_clock;

  boost::asio::awaitable<void> run();
  // Learns who the client is and when its first head is due (once per connection).
  void start_connection();
  void learn_client();
  // A new connection's first bytes: (error, bytes read into buffer_'s prepared space).
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_first();
  // A fresh parser for the next request, in a fresh arena, with limits' bounds.
  RequestParser& fresh_request(const ServerConfig::Limits& limits);
  // A fresh parser over the whole head in the buffer; the parse error, if any.
  boost::system::error_code start_request(const ServerConfig::Limits& limits);
  // Gives the request's memory back while the client idles; the next request's head starts
  // with no empty lines counted.
  void finish_request();
  // The phases of one parsed request, then its log line.
  boost::asio::awaitable<RequestEnd> serve();
  // In place of run() for the request take_h2_request took: refused, or served; then the
  // stream is closed (close_taken). Served, serve() is the stream's coroutine and
  // served_taken its end; refuse_taken and linger_taken are the slower ends' coroutines.
  void start_taken();
  void served_taken(RequestEnd end);
  boost::asio::awaitable<void> refuse_taken();
  boost::asio::awaitable<void> linger_taken(bool read_whole);
  void close_taken();

  // A head that did not come whole (cut off or timed out: progress partial) or was refused.
  boost::asio::awaitable<void> refuse_head(HeadProgress progress, const HeadVerdict& verdict);
  boost::asio::awaitable<void> answer_head_error(boost::system::error_code ec);
  // Answers a refused head with status, counts and logs it, and closes (lingering).
  boost::asio::awaitable<void> answer_refusal(int status);
  // Starts loading this client's default-rule bucket into the CPU cache while the next head
  // is awaited (only when the key is the socket address).
  void prefetch_rate_limit();

  // After a 101: the tunnel's log facts from the request, and the 101 counted.
  void note_tunnel(const RequestContext& ctx);
  // Hands the client's stream (and any bytes it sent after the upgrade request) to a new
  // tunnel with tunnel_; this connection's loop then ends.
  void start_tunnel();
  // h2c with prior knowledge: the first bytes are the HTTP/2 preface and server.h2c is on.
  bool starts_h2c() const;
  // When starts_h2c(): hands the socket and the bytes read so far to a new HTTP/2 connection.
  bool took_h2c();

  // Canned answers (error statuses); keep_alive is honoured only when the request was read
  // whole.
  boost::asio::awaitable<RequestEnd> respond_status(RequestContext& ctx, int status,
                                                    bool keep_alive,
                                                    std::string_view extra_headers = {});
  // Closes gracefully: sends our close, then reads and drops what the client still sends for
  // a moment, unless the request was read whole (request_whole), nothing followed it and the
  // socket is drained (nginx's rule: then nothing the client sent can meet a reset).
  boost::asio::awaitable<void> linger_close(bool request_whole = false);
  boost::asio::awaitable<bool> write_client(std::string_view bytes);

  // How an idle wait for the client's next bytes ended.
  enum class IdleWait {
    readable,  // the socket became readable (or may have: read it to see)
    quiet,     // kParkAfter passed first, before `deadline`: park it unless bytes are there
    ended,     // closed, cancelled, drained away or past the deadline: end the connection
  };
  IdleWait idle_wait_end(boost::system::error_code ec, Clock::time_point deadline) const;
  // Hands the stream to the worker's park until `deadline` (this object then ends): the bare
  // socket, and a TLS connection's SSL.
  void park(Clock::time_point deadline, bool is_new);
  // How long an idle wait lasts before the socket goes to the park: kParkAfter, or what is
  // left until deadline.
  static Clock::duration until_park(Clock::time_point deadline) {
    const Clock::duration left = deadline - coarse_now();
    return Stream::kMultiplexed ? left : std::min<Clock::duration>(kParkAfter, left);
  }
  // A connection with nothing to say for this long leaves its coroutine for the park.
  static constexpr std::chrono::milliseconds kParkAfter{50};
  // The room an HTTP/2 exchange's upstream head starts with (most heads fit).
  static constexpr std::size_t kHeadRoom = 1024;

  // Deadlines: setting one is a store; the worker's tick (Worker::kDeadlineTick) cancels
  // whatever operation is pending once it has passed. No timer per connection.
  void arm(Clock::duration d);
  bool timed_out() const { return timed_out_; }

  Worker& worker_;
  Stream stream_;
  // The client's bytes; its usual 4 KiB comes from the worker's block pool and goes back
  // while the connection idles between requests.
  boost::beast::basic_flat_buffer<BlockAllocator<char>> buffer_;
  MessageArena request_arena_;   // the current request's fields and context
  MessageArena response_arena_;  // the current response's fields
  std::optional<RequestParser> request_;
  Clock::time_point deadline_;
  bool timed_out_ = false;
  bool closed_ = false;
  bool idle_ = false;  // waiting for the first byte of a request
  bool draining_ = false;
  bool resumed_ = false;
  bool parked_ = false;            // the socket went to the worker's park, which now counts it
  bool tunneled_ = false;          // the socket went to a tunnel, which now counts it
  bool handed_to_h2_ = false;      // the socket went to an HTTP/2 connection (h2c)
  bool first_read_short_ = false;  // read_first's direct read came back short
  bool taken_ = false;             // take_h2_request took the request
  int taken_refusal_ = 0;          // its refusal's status, if validation refused it
  boost::system::error_code taken_error_;  // its parse error, if any
  std::size_t empty_lines_ = 0;            // skipped before this request-line (RFC 9112 §2.2)
  std::optional<Clock::time_point> head_deadline_;
  ClientIdentity client_;
  UpstreamConnection* upstream_ = nullptr;  // the connection the deadline must also cancel
  // Output buffers, reused across requests: the heads sent to the backend and the client.
  std::string upstream_head_;
  std::string response_head_;
  std::unique_ptr<TunnelStart> tunnel_;  // a 101's backend connection and lease, until handed on
};

extern template class DownstreamConnection<TcpStream>;
extern template class DownstreamConnection<TlsStream>;
extern template class DownstreamConnection<PipeStream>;

// The handlers a worker starts client connections with (plain TCP, or TLS after its
// handshake), and refuses those over max_connections with (503).
ConnectionHandlers downstream_handlers();

}  // namespace ringproxy
