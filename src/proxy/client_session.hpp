// One client connection: reads requests, applies the request phases, relays to a backend.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "net/message_arena.hpp"
#include "runtime/snapshot.hpp"

#include "net/worker.hpp"
#include "net/worker_socket.hpp"

namespace ringproxy {

struct UpstreamConnection;

// How one request ended, as far as the client connection is concerned.
enum class RequestEnd {
  keep_alive,  // response complete, request read whole: read the next request
  close,       // response complete, but the connection must close (gracefully)
  abort,       // response cut off or client gone: close at once
};

// Lives on its worker's thread; kept alive by the coroutine that runs it (shared_from_this).
class ClientSession final : public DownstreamTask,
                            public std::enable_shared_from_this<ClientSession> {
 public:
  // head_deadline: when the first request head must be in (default: client_header_timeout
  // from now). resumed: the connection comes back from the worker's park (already set up).
  ClientSession(Worker& worker, WorkerSocket socket,
                std::optional<std::chrono::steady_clock::time_point> head_deadline = {},
                bool resumed = false);
  ~ClientSession();

  // Starts the connection's coroutine on the worker's executor.
  void start();
  // Drain: an idle connection closes now; a busy one closes after its current response.
  void drain() override;
  // Called by the worker's deadline tick: past its deadline, the session's pending socket
  // operations are cancelled and timed_out() is set.
  void expire_if_due(std::chrono::steady_clock::time_point now) override;

 private:
  using RequestParser =
      boost::beast::http::request_parser<boost::beast::http::buffer_body, ArenaAllocator<char>>;
  using ResponseParser =
      boost::beast::http::response_parser<boost::beast::http::buffer_body, ArenaAllocator<char>>;

  boost::asio::awaitable<void> run();
  boost::asio::awaitable<RequestEnd> handle_request();
  // What the proxy does with a parsed request: answer it itself (status, with extra header
  // lines), or forward it to upstream.
  struct RequestPlan {
    int status = 0;
    std::string_view extra_headers;
    std::string owned_headers;  // backs extra_headers when they are made for this request
    const UpstreamRuntime* upstream = nullptr;
  };
  // Reads the parsed head, routes it and takes from its rate limit: no I/O, no coroutine
  // frame of its own (handle_request then awaits the one answer or forward).
  void plan_request(const Snapshot& snap, RequestPlan& plan);
  boost::asio::awaitable<void> answer_head_error(boost::system::error_code ec);
  // Answers a refused head with status, counts it, and closes (lingering).
  boost::asio::awaitable<void> answer_refusal(int status);
  // Who the client is: the peer, or what trusted proxies say (server.trusted_proxies).
  std::string_view client_address_of(const Snapshot& snap);
  // The bucket key of the connection's own address under limiter (cached per hash seed).
  std::uint64_t address_key(const RateLimiter& limiter);
  // Starts loading this client's default-rule bucket into the CPU cache, so that the take()
  // after the head is parsed does not wait for main memory. Only when the key is the socket
  // address (no trusted proxies, no header key): otherwise it is not known yet.
  void prefetch_rate_limit();

  // The upstream phases (upstream_exchange.cpp).
  boost::asio::awaitable<RequestEnd> forward(const Snapshot& snap, const UpstreamRuntime& up);
  // Writes the request head for the backend into upstream_head_ (see forwarded_head.hpp).
  void prepare_upstream_head();
  // The key the backend picker walks from: the request's hash key (or a sequence number).
  std::uint64_t request_key_hash(const Snapshot& snap, const UpstreamRuntime& up);

  // Canned answers (error statuses); keep_alive is honoured only when the request was read
  // whole.
  boost::asio::awaitable<RequestEnd> respond_status(int status, bool keep_alive,
                                                    std::string_view extra_headers = {});
  boost::asio::awaitable<void> linger_close();
  boost::asio::awaitable<bool> write_client(std::string_view bytes);

  // How an idle wait for the client's next bytes ended.
  enum class IdleWait {
    readable,  // the socket became readable (or may have: read it to see)
    quiet,     // kParkAfter passed first, before `deadline`: park it unless bytes are there
    ended,     // closed, cancelled, drained away or past the deadline: end the session
  };
  // How a wait for the client's next bytes (up to kParkAfter, at most until `deadline`)
  // that completed with ec ended.
  IdleWait idle_wait_end(boost::system::error_code ec,
                         std::chrono::steady_clock::time_point deadline) const;
  // Hands the socket to the worker's park until `deadline` (the session then ends).
  void park(std::chrono::steady_clock::time_point deadline, bool is_new);
  // A connection with nothing to say for this long leaves its session for the park.
  static constexpr std::chrono::milliseconds kParkAfter{50};

  // Deadlines: setting one is a store; the worker's tick (Worker::kDeadlineTick) cancels
  // whatever socket operation is pending once it has passed. No timer per session.
  void arm(std::chrono::steady_clock::duration d);
  bool timed_out() const { return timed_out_; }

  Worker& worker_;
  WorkerSocket client_;
  // The client's bytes; its usual 4 KiB comes from the worker's block pool and goes back
  // while the connection idles between requests.
  boost::beast::basic_flat_buffer<BlockAllocator<char>> client_buffer_;
  MessageArena request_arena_;   // the current request's fields
  MessageArena response_arena_;  // the current response's fields
  std::optional<RequestParser> request_;
  std::chrono::steady_clock::time_point deadline_;
  bool timed_out_ = false;
  bool closed_ = false;
  bool idle_ = false;  // waiting for the first byte of a request
  bool draining_ = false;
  bool resumed_ = false;
  bool parked_ = false;  // the socket went to the worker's park, which now counts it
  std::optional<std::chrono::steady_clock::time_point> head_deadline_;
  std::string client_ip_;
  UpstreamConnection* upstream_ = nullptr;  // the connection the deadline must also cancel

  // Per-request facts gathered by the request phases.
  bool expect_continue_ = false;
  bool client_keep_alive_ = false;
  unsigned client_version_ = 11;
  std::string host_;

  // Per-request facts for the access log (views stay valid until the next request).
  struct RequestFacts {
    std::chrono::steady_clock::time_point started;
    int status = 0;
    std::string_view upstream;
    std::uint32_t upstream_id = 0;  // for metrics; 0 = reached no upstream
    std::string_view backend;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    unsigned attempts = 0;
    bool aborted = false;
    bool rate_limited = false;
  } facts_;
  // The RateLimit fields an allowed request's response carries (empty: no limit applies).
  std::string forwarded_for_;  // joined X-Forwarded-For lines, when there are several
  // The bucket key of client_ip_ for limiters seeded with address_key_seed_ (hashed once per
  // connection and seed), prefetched while the next request head is awaited.
  std::optional<std::uint64_t> address_key_seed_;
  std::uint64_t address_key_ = 0;
  std::string_view rate_limit_policy_;  // into the request's snapshot
  std::string rate_limit_value_;
  std::string target_;
  std::string origin_target_;    // an absolute-form target in origin-form
  std::string_view path_;        // the target in origin-form (into the request or origin_target_)
  std::string local_authority_;  // "ip:port" this connection reached
  std::string request_id_;       // the X-Request-Id this proxy added, if it added one
  std::string upstream_head_;    // the request head sent to the backend
  std::string response_head_;    // the response head sent to the client
};

// The handlers a worker starts client connections with (sessions of this class), and refuses
// those over max_connections with (503).
ConnectionHandlers downstream_handlers();

}  // namespace ringproxy
