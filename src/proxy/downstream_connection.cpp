// One client connection's read loop (see downstream_connection.hpp).
#include "proxy/downstream_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <tuple>

#include "http/buffered_head.hpp"
#include "http/head_reader.hpp"
#include "log/log.hpp"
#include "proxy/global_admission.hpp"
#include "proxy/h2_connection.hpp"
#include "proxy/request_log.hpp"
#include "proxy/tls_accept.hpp"
#include "proxy/tunnel.hpp"
#include "proxy/upstream_exchange.hpp"

namespace ringproxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadSize = 4096;  // a client read: the block pool's size
}  // namespace

template <class Stream>
DownstreamConnection<Stream>::DownstreamConnection(Worker& worker, Stream stream,
                                                   std::optional<Clock::time_point> head_deadline,
                                                   bool resumed)
    : worker_(worker),
      stream_(std::move(stream)),
      buffer_(BlockAllocator<char>(worker.arena_blocks())),
      request_arena_(worker.arena_blocks()),
      response_arena_(worker.arena_blocks()),
      deadline_(Clock::time_point::max()),
      resumed_(resumed),
      head_deadline_(head_deadline) {
  worker_.session_started(this);
  if constexpr (Stream::kMultiplexed) {
    // One exchange, one request: its head is written without regrowing the string. (Most
    // responses go to the session as fields, without response_head_.)
    upstream_head_.reserve(kHeadRoom);
  }
}

template <class Stream>
DownstreamConnection<Stream>::DownstreamConnection(Worker& worker, Stream stream,
                                                   const ClientIdentity& client)
    : DownstreamConnection(worker, std::move(stream)) {
  client_ = client;
}

template <class Stream>
DownstreamConnection<Stream>::~DownstreamConnection() {
  worker_.session_ended(this);
  // An exchange of a multiplexed connection: that connection counts itself.
  if (!parked_ && !tunneled_ && !handed_to_h2_ && !Stream::kMultiplexed) {
    worker_.connections().closed();
  }
}

template <class Stream>
void DownstreamConnection<Stream>::start() {
  // A request taken as fields (an HTTP/2 stream's) is served without the read loop's frame.
  if (taken_) {
    start_taken();
    return;
  }
  asio::co_spawn(
      stream_.get_executor(), [self = this->shared_from_this()] { return self->run(); },
      asio::detached);
}

template <class Stream>
void DownstreamConnection<Stream>::drain() {
  draining_ = true;
  if (idle_) {
    boost::system::error_code ignored;
    stream_.cancel(ignored);
  }
}

template <class Stream>
void DownstreamConnection<Stream>::arm(Clock::duration d) {
  // From steady_clock, which the worker's tick checks against: from the coarse clock (a tick
  // or more behind) a timeout could end before d.
  deadline_ = Clock::now() + d;
  timed_out_ = false;
}

template <class Stream>
void DownstreamConnection<Stream>::expire_if_due(Clock::time_point now) {
  if (closed_ || now < deadline_) return;
  timed_out_ = true;
  deadline_ = Clock::time_point::max();
  boost::system::error_code ignored;
  stream_.cancel(ignored);  // the pending operation completes with operation_aborted
  if (upstream_) upstream_->stream.cancel(ignored);
}

template <class Stream>
typename DownstreamConnection<Stream>::IdleWait DownstreamConnection<Stream>::idle_wait_end(
    boost::system::error_code ec, Clock::time_point deadline) const {
  if (!ec) return IdleWait::readable;
  // A busy loop may run the deadline tick before the socket's readiness: the caller's read
  // finds any bytes already here rather than parking them and waking at once.
  if (timed_out_ && !draining_ && coarse_now() < deadline) return IdleWait::quiet;
  return IdleWait::ended;
}

template <class Stream>
void DownstreamConnection<Stream>::park(Clock::time_point deadline, bool is_new) {
  if constexpr (!Stream::kMultiplexed) {  // an HTTP/2 stream waits in its session
    buffer_.shrink_to_fit();
    stream_.park_in(worker_.park(), deadline, is_new);
    parked_ = true;
  }
}

template <class Stream>
void DownstreamConnection<Stream>::start_connection() {
  const auto& server_cfg = worker_.snapshot()->config().server;
  buffer_.max_size(server_cfg.max_header_bytes + 64 * 1024);
  if (!head_deadline_) head_deadline_ = Clock::now() + server_cfg.client_header_timeout;
  deadline_ = *head_deadline_;
  learn_client();
}

template <class Stream>
void DownstreamConnection<Stream>::learn_client() {
  if constexpr (!Stream::kMultiplexed) {
    boost::system::error_code ec;
    // A TLS connection's handshake set it already.
    if (!resumed_ && !Stream::kTls) stream_.socket().set_option(tcp::no_delay(true), ec);
    client_ = identify_client(stream_.socket());
    if constexpr (Stream::kTls) describe_tls(stream_.ssl(), client_);
  }
}

template <class Stream>
asio::awaitable<void> DownstreamConnection<Stream>::run() {
  start_connection();
  bool first = true;
  while (!draining_) {
    // A copy: a reload may replace the snapshot while this coroutine waits.
    const ServerConfig::Limits limits = worker_.snapshot()->config().server.limits();
    bool read_short = false;  // the head came in one direct read that came back short
    if (buffer_.size() == 0) {
      // Between requests (idle_timeout, or client_header_timeout for a new connection) and
      // inline, with no coroutine frame: wait until readable, read; quiet for kParkAfter,
      // the socket goes to the park, bare, and comes back in a new connection object.
      prefetch_rate_limit();
      idle_ = true;
      boost::system::error_code ec;
      std::size_t n = 0;
      if (first) {
        std::tie(ec, n) = co_await read_first();
      } else {
        const auto deadline = Clock::now() + limits.idle_timeout;
        for (;;) {
          buffer_.shrink_to_fit();
          arm(until_park(deadline));
          auto [wec] = co_await stream_.async_wait_readable(use_nothrow);
          const IdleWait wait = idle_wait_end(wec, deadline);
          if (wait != IdleWait::ended) n = stream_.read_now(buffer_.prepare(kReadSize), ec);
          if (ec || n > 0) break;
          if (wait != IdleWait::readable) {
            // Ended, or quiet with nothing here: the socket goes to the park, bare.
            if (wait == IdleWait::quiet) park(deadline, false);
            ec = asio::error::operation_aborted;
            break;
          }
        }
      }
      idle_ = false;
      if (ec) {
        // Closed by the client, idle timeout or drain: nothing to answer. A new connection
        // that has said nothing yet waits in the park for the rest of its head's time.
        if (first && timed_out_ && !draining_ && coarse_now() < *head_deadline_) {
          park(*head_deadline_, true);
        }
        break;
      }
      read_short = first ? first_read_short_ : n < kReadSize;
      buffer_.commit(n);
      if (first && took_h2c()) break;
    }
    // The rest of the head: client_header_timeout from its first byte, or from the accept.
    arm(first ? *head_deadline_ - coarse_now() : limits.client_header_timeout);
    first = false;
    HeadVerdict verdict;
    HeadProgress progress;
    while ((progress = check_request_head(buffer_, limits.max_header_bytes, empty_lines_,
                                          verdict)) == HeadProgress::partial) {
      read_short = false;
      auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadSize), use_nothrow);
      if (ec) break;
      buffer_.commit(n);
    }
    if (progress != HeadProgress::whole) {
      co_await refuse_head(progress, verdict);
      break;
    }
    if (const auto ec = start_request(limits)) {
      co_await answer_head_error(ec);
      break;
    }
    // A request with no body, whole in one short read: its next wait needs no system call.
    if (read_short && request_->is_done() && buffer_.size() == 0) stream_.note_drained();
    const RequestEnd end = co_await serve();
    const bool read_whole = request_->is_done();
    finish_request();
    if (end == RequestEnd::close) co_await linger_close(read_whole);
    if (end != RequestEnd::keep_alive) break;
  }
  closed_ = true;
  boost::system::error_code ignored;
  if (!parked_) stream_.close(ignored);
}

template <class Stream>
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>>
DownstreamConnection<Stream>::read_first() {
  // A new connection's bytes usually came with it: read at once, through the reactor if not,
  // for kParkAfter. Once per connection: a coroutine frame of its own costs little here.
  arm(until_park(*head_deadline_));
  const auto space = buffer_.prepare(kReadSize);
  boost::system::error_code ec;
  std::size_t n = stream_.read_now(space, ec);
  first_read_short_ = n > 0 && n < kReadSize;
  if (!ec && n == 0) std::tie(ec, n) = co_await stream_.async_read_some(space, use_nothrow);
  co_return std::make_tuple(ec, n);
}

template <class Stream>
asio::awaitable<void> DownstreamConnection<Stream>::refuse_head(HeadProgress progress,
                                                                const HeadVerdict& verdict) {
  if (progress == HeadProgress::partial) {
    // Part of a head came, then its time ran out: 408. Gone mid-head: nobody to answer. Only
    // empty lines (skipped, nothing left in the buffer): no request began, closed unanswered.
    if (timed_out_ && buffer_.size() > 0) co_await answer_refusal(408);
    co_return;
  }
  log::debug("refused a request head from " + client_.ip + ": " + std::string(verdict.reason));
  co_await answer_refusal(verdict.status);
}

template <class Stream>
typename DownstreamConnection<Stream>::RequestParser& DownstreamConnection<Stream>::fresh_request(
    const ServerConfig::Limits& limits) {
  request_.reset();
  request_arena_.reset();
  request_.emplace(std::piecewise_construct, std::make_tuple(),
                   std::make_tuple(ArenaAllocator<char>(request_arena_)));
  request_->header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  request_->body_limit(limits.max_body_bytes);
  return *request_;
}

template <class Stream>
boost::system::error_code DownstreamConnection<Stream>::start_request(
    const ServerConfig::Limits& limits) {
  // The whole head is in the buffer: parsed in place, with no read operation.
  return parse_buffered_head(fresh_request(limits), buffer_);
}

template <class Stream>
void DownstreamConnection<Stream>::finish_request() {
  empty_lines_ = 0;
  request_.reset();
  request_arena_.reset();
  response_arena_.reset();
}

template <class Stream>
asio::awaitable<RequestEnd> DownstreamConnection<Stream>::serve() {
  // The context's memory is the request's arena: nothing to clear, all of it given back with
  // the request (finish_request).
  RequestContext ctx(request_arena_);
  // Hold this request's snapshot for its whole life (the context points into it too): a
  // reload must not change it midway.
  const Worker::SnapshotLease snap(worker_);
  const auto& req = request_->get();
  RequestPlan plan =
      plan_request(req, !request_->is_done(), draining_, *snap, client_, ctx, worker_.index());
  // A global limit's fetch and, for a client with nothing leased yet, its wait.
  if (plan.global.limit && !settle_global_now(worker_, plan, ctx)) {
    co_await wait_for_global_lease(worker_, plan, ctx);
  }
  const RequestEnd end =
      plan.upstream ? co_await UpstreamExchange<Stream>(*this, ctx, *snap, *plan.upstream).run()
                    : co_await respond_status(ctx, plan.status, ctx.keep_alive, plan.headers());
  if (end == RequestEnd::tunnel) {
    note_tunnel(ctx);  // its line is written when it closes
    start_tunnel();
    co_return end;
  }
  ctx.aborted = ctx.aborted || end == RequestEnd::abort;
  log_request(worker_, ctx, req.method_string(), req, client_.ip, client_.tls_version,
              client_.tls_cipher);
  co_return end;
}

template <class Stream>
void DownstreamConnection<Stream>::note_tunnel(const RequestContext& ctx) {
  TunnelStart& t = *tunnel_;
  const auto& req = request_->get();
  t.started = ctx.started;
  t.client = client_.ip;
  t.target = ctx.target;
  t.upstream = ctx.upstream;
  const auto id = req.find("x-request-id");
  if (id != req.end()) {
    t.request_id = id->value();
  } else {
    t.request_id = ctx.request_id;
  }
  t.attempts = ctx.attempts;
  t.tls_version = client_.tls_version;
  t.tls_cipher = client_.tls_cipher;
  worker_.metrics().count_response(ctx.upstream_id, 101, Clock::now() - ctx.started);
}

template <class Stream>
bool DownstreamConnection<Stream>::starts_h2c() const {
  if constexpr (std::is_same_v<Stream, TcpStream>) {
    static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const std::string_view got(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    if (got.empty() || got[0] != 'P') return false;  // the common case: one compare
    return kPreface.starts_with(got.substr(0, kPreface.size())) &&
           worker_.snapshot()->config().server.h2c;
  } else {
    return false;
  }
}

template <class Stream>
bool DownstreamConnection<Stream>::took_h2c() {
  if constexpr (std::is_same_v<Stream, TcpStream>) {
    if (!starts_h2c()) return false;
    const std::string_view early(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    handed_to_h2_ = true;
    start_h2_connection(worker_, std::move(stream_), client_, early);
    buffer_.consume(buffer_.size());
    parked_ = true;  // the stream is gone: nothing of it to close here
    return true;
  } else {
    return false;
  }
}

template <class Stream>
void DownstreamConnection<Stream>::start_tunnel() {
  // On a PipeStream: an HTTP/2 stream's extended CONNECT (RFC 8441) made an HTTP/1.1 upgrade.
  const std::string_view early(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  auto tunnel =
      std::make_shared<Tunnel<Stream>>(worker_, std::move(stream_), std::move(*tunnel_), early);
  tunnel_.reset();
  buffer_.consume(buffer_.size());
  tunneled_ = true;
  parked_ = Stream::kMultiplexed;  // the pipe went to the tunnel: nothing of it to close here
  tunnel->start();
}

template <class Stream>
void DownstreamConnection<Stream>::prefetch_rate_limit() {
  const Snapshot& snap = *worker_.snapshot();
  const RateLimitRuntime& limit = snap.default_rate_limit();
  if (!limit.limiter || !limit.header.empty() || !snap.config().server.trusted_proxies.empty()) {
    return;
  }
  limit.limiter->prefetch(client_.address_key_for(*limit.limiter));
}

template class DownstreamConnection<TcpStream>;
template class DownstreamConnection<TlsStream>;
template class DownstreamConnection<PipeStream>;

}  // namespace ringproxy
