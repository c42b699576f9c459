// One request's upstream phases: the response's head, filter and relay (see
// upstream_exchange.hpp).
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <tuple>

#include "http/body_relay.hpp"
#include "http/buffered_head.hpp"
#include "http/forwarded_head.hpp"
#include "http/head_reader.hpp"
#include "http/stream_io.hpp"
#include "log/log.hpp"
#include "proxy/upstream_exchange.hpp"

namespace ringproxy {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kUpstreamHeaderLimit = 64 * 1024;
constexpr std::size_t kUpstreamReadSize = 64 * 1024;  // at most this much per body read
constexpr std::size_t kHeadReadSize = 16 * 1024;
}  // namespace

template <class Stream>
asio::awaitable<bool> UpstreamExchange<Stream>::read_response_head(UpstreamConnection& c) {
  const bool head_request = conn_.request_->get().method() == http::verb::head;
  for (;;) {
    response_.reset();
    conn_.response_arena_.reset();
    auto& response =
        response_.emplace(std::piecewise_construct, std::make_tuple(),
                          std::make_tuple(ArenaAllocator<char>(conn_.response_arena_)));
    response.header_limit(kUpstreamHeaderLimit);
    response.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (head_request) response.skip(true);
    conn_.arm(ucfg_.response_timeout);
    const bool had_bytes = c.buffer.size() > 0;
    std::size_t received = 0;
    drained_read_ = false;
    boost::system::error_code ec;
    HeadVerdict verdict;
    HeadProgress progress;
    // The whole head in the buffer, held to RFC 9112 strictly, before Beast parses it.
    while ((progress = check_head<false>(buffered_text(c.buffer), kUpstreamHeaderLimit, verdict)) ==
           HeadProgress::partial) {
      const auto space = c.buffer.prepare(kHeadReadSize);
      bool direct = true;
      std::size_t n = try_read_now(c.stream, space, ec);
      if (!ec && n == 0) {
        std::tie(ec, n, direct) = co_await async_read_when_ready(c.stream, space, use_nothrow);
      }
      drained_read_ = direct && n > 0 && n < space.size();
      if (ec) break;
      c.buffer.commit(n);
      received += n;
    }
    if (!ec && progress == HeadProgress::whole) ec = parse_buffered_head(response, c.buffer);
    if (ec || progress != HeadProgress::whole) {
      classify_head_failure(ec, verdict, had_bytes, received);
      co_return false;
    }
    const int status = response.get().result_int();
    if (status == 101) {  // Upgrade is never forwarded: a switch nobody asked for
      last_ = Failure::bad_response;
      co_return false;
    }
    if (status >= 200 || status < 100) co_return true;
    // Interim responses go on to HTTP/1.1 clients (103 Early Hints, ...), except 100
    // Continue: the proxy answered Expect itself.
    if (status != 100 && ctx_.version >= 11) {
      write_client_response_head(response.get(), ClientResponseHead{}, conn_.response_head_);
      if (!co_await conn_.write_client(conn_.response_head_)) {
        client_gone_ = true;
        co_return false;
      }
    }
  }
}

template <class Stream>
void UpstreamExchange<Stream>::classify_head_failure(boost::system::error_code ec,
                                                     const HeadVerdict& verdict, bool had_bytes,
                                                     std::size_t received) {
  if (conn_.timed_out()) {
    last_ = Failure::response_timeout;
  } else if (ec && !had_bytes && received == 0 &&
             (ec == asio::error::eof || ec == asio::error::connection_reset)) {
    last_ = Failure::stale_before_reply;
  } else {
    last_ = Failure::bad_response;
    log::debug("bad response head from " + backend_->key + ": " +
               (verdict ? ec.message() : std::string(verdict.reason)));
  }
}

template <class Stream>
bool UpstreamExchange<Stream>::filter_response(UpstreamConnection& c) {
  auto& response = *response_;
  auto& res = response.get();
  // A 5xx is relayed as sent, but counts against the backend's breaker.
  BackendLease& lease = selection_.lease();
  const auto now = std::chrono::steady_clock::now();
  if (res.result_int() >= 500) {
    fail_attempt();
  } else if (lease.success(now)) {
    log::info("breaker for " + backend_->key + " closed: the trial succeeded");
  }
  const bool known_length = static_cast<bool>(response.content_length());
  bool keep = ctx_.keep_alive && conn_.request_->is_done() && !conn_.draining_;
  chunked_response_ = !response.is_done() && !known_length && ctx_.version >= 11;
  if (!response.is_done() && !known_length && ctx_.version < 11) {
    keep = false;  // close-delimited for an HTTP/1.0 client
  }
  std::string_view connection;
  if (ctx_.version == 10) {
    connection = keep ? "keep-alive" : "close";
  } else if (!keep) {
    connection = "close";
  }
  write_client_response_head(res,
                             ClientResponseHead{chunked_response_, connection,
                                                ctx_.rate_limit_policy, ctx_.rate_limit_value},
                             conn_.response_head_);
  ctx_.status = res.result_int();
  // The whole response came with the head's last read, which came back short: the
  // connection is drained, and waiting for its next response needs no system call.
  if (drained_read_ &&
      (response.is_done() || (known_length && c.buffer.size() == *response.content_length()))) {
    c.stream.note_drained();
  }
  return keep;
}

template <class Stream>
asio::awaitable<RequestEnd> UpstreamExchange<Stream>::relay_response(
    std::unique_ptr<UpstreamConnection> c) {
  auto& response = *response_;
  const bool upstream_keep_alive = response.get().keep_alive();
  if (!response.is_done() && response.content_length()) {
    // Content-Length: the head goes out with the bytes that came with it in one write, at
    // once when the kernel takes it all (no coroutine frame); the rest through the reactor.
    const std::uint64_t length = *response.content_length();
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(c->buffer.size(), length));
    ctx_.bytes_out += n;
    conn_.arm(snap_.config().server.idle_timeout);
    const std::string& head = conn_.response_head_;
    const std::array<asio::const_buffer, 2> pieces{asio::buffer(head.data(), head.size()),
                                                   asio::buffer(c->buffer.data().data(), n)};
    boost::system::error_code ec;
    const std::size_t done = conn_.stream_.write_now(pieces, ec);
    if (!ec && done < head.size() + n) ec = co_await conn_.stream_.write_rest(pieces, done);
    if (ec) co_return RequestEnd::abort;
    c->buffer.consume(n);
    if (n < length && !co_await relay_sized_rest(*c, length - n)) co_return RequestEnd::abort;
  } else if (auto end = co_await relay_parsed(*c)) {
    co_return *end;  // cut off on either side: the connection is not reused
  }
  // Back to the pool, if the connection is clean.
  if (upstream_keep_alive && c->buffer.size() == 0) {
    conn_.upstream_ = nullptr;
    conn_.worker_.pool().release(backend_->slot, std::move(c), ucfg_.max_idle_per_backend);
  }
  co_return keep_client_ ? RequestEnd::keep_alive : RequestEnd::close;
}

template <class Stream>
asio::awaitable<bool> UpstreamExchange<Stream>::relay_sized_rest(UpstreamConnection& c,
                                                                 std::uint64_t remaining) {
  for (;;) {
    conn_.arm(ucfg_.response_timeout);
    // One byte of room past the rest: a read that brings the rest and comes back short leaves
    // the connection known drained (and a byte beyond the body keeps it out of the pool).
    const auto space = c.buffer.prepare(
        static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kUpstreamReadSize - 1)) + 1);
    boost::system::error_code ec;
    bool direct = true;
    std::size_t n = try_read_now(c.stream, space, ec);
    if (!ec && n == 0) {
      std::tie(ec, n, direct) = co_await async_read_when_ready(c.stream, space, use_nothrow);
    }
    if (direct && n >= remaining && n < space.size()) c.stream.note_drained();
    if (ec) {
      // Truncated by the backend: never pass it off as complete.
      WorkerMetrics::count_failure(counts_);
      log::debug("response from " + backend_->key + " cut off: " + ec.message());
      co_return false;
    }
    c.buffer.commit(n);
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, remaining));
    remaining -= take;
    ctx_.bytes_out += take;
    conn_.arm(snap_.config().server.idle_timeout);
    const auto piece = asio::buffer(c.buffer.data().data(), take);
    const std::size_t done = conn_.stream_.write_now(piece, ec);
    if (!ec && done < take) ec = co_await conn_.stream_.write_rest(piece, done);
    if (ec) co_return false;
    c.buffer.consume(take);
    if (remaining == 0) co_return true;
  }
}

template <class Stream>
asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<Stream>::relay_parsed(
    UpstreamConnection& c) {
  auto& response = *response_;
  const auto arm = [this](std::chrono::steady_clock::duration d) { conn_.arm(d); };
  const RelayDeadlines deadlines{ucfg_.response_timeout, snap_.config().server.idle_timeout, arm};
  const RelayOutcome out =
      co_await relay_body(c.stream, c.buffer, response, conn_.stream_, relay(),
                          conn_.response_head_, chunked_response_, deadlines, ctx_.bytes_out);
  if (out.read_error) {
    // Truncated by the backend: never pass it off as complete.
    WorkerMetrics::count_failure(counts_);
    log::debug("response from " + backend_->key + " cut off: " + out.read_error.message());
    if (!out.wrote) co_return co_await conn_.respond_status(ctx_, 502, false);
    co_return RequestEnd::abort;
  }
  if (out.write_failed) co_return RequestEnd::abort;
  co_return std::nullopt;
}

template <class Stream>
asio::awaitable<RequestEnd> UpstreamExchange<Stream>::answer_no_backend() {
  switch (last_) {
    case Failure::none: {
      // Nothing could take it: answer at once, saying when the earliest breaker half-opens.
      const std::string header =
          "Retry-After: " + std::to_string(up_.selector->retry_after_seconds(selection_.now())) +
          "\r\n";
      co_return co_await conn_.respond_status(ctx_, 503, ctx_.keep_alive, header);
    }
    case Failure::connect_timeout:
    case Failure::response_timeout:
      co_return co_await conn_.respond_status(ctx_, 504, ctx_.keep_alive);
    default:
      co_return co_await conn_.respond_status(ctx_, 502, ctx_.keep_alive);
  }
}

template asio::awaitable<bool> UpstreamExchange<TcpStream>::read_response_head(UpstreamConnection&);
template void UpstreamExchange<TcpStream>::classify_head_failure(boost::system::error_code,
                                                                 const HeadVerdict&, bool,
                                                                 std::size_t);
template bool UpstreamExchange<TcpStream>::filter_response(UpstreamConnection&);
template asio::awaitable<RequestEnd> UpstreamExchange<TcpStream>::relay_response(
    std::unique_ptr<UpstreamConnection>);
template asio::awaitable<bool> UpstreamExchange<TcpStream>::relay_sized_rest(UpstreamConnection&,
                                                                             std::uint64_t);
template asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<TcpStream>::relay_parsed(
    UpstreamConnection&);
template asio::awaitable<RequestEnd> UpstreamExchange<TcpStream>::answer_no_backend();

}  // namespace ringproxy
