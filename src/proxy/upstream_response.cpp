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
#include "http/trailer_section.hpp"
#include "log/log.hpp"
#include "net/coarse_clock.hpp"
#include "policy/upgrade.hpp"
#include "proxy/tunnel.hpp"
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
typename UpstreamExchange<Stream>::HeadStep UpstreamExchange<Stream>::start_response_head(
    UpstreamConnection& c) {
  response_.reset();
  conn_.response_arena_.reset();
  auto& response = response_.emplace(std::piecewise_construct, std::make_tuple(),
                                     std::make_tuple(ArenaAllocator<char>(conn_.response_arena_)));
  response.header_limit(kUpstreamHeaderLimit);
  response.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (conn_.request_->get().method() == http::verb::head) response.skip(true);
  conn_.arm(ucfg_.response_timeout);
  had_bytes_ = c.buffer.size() > 0;
  received_ = 0;
  drained_read_ = false;
  return step_response_head(c);
}

template <class Stream>
typename UpstreamExchange<Stream>::HeadStep UpstreamExchange<Stream>::step_response_head(
    UpstreamConnection& c, boost::system::error_code waited) {
  HeadVerdict verdict;
  if (waited) {
    classify_head_failure(waited, verdict);
    return HeadStep::failed;
  }
  for (;;) {
    // The whole head in the buffer, held to RFC 9112 strictly, before Beast parses it.
    const HeadProgress progress =
        check_head<false>(buffered_text(c.buffer), kUpstreamHeaderLimit, verdict);
    if (progress == HeadProgress::whole) return took_response_head(c);
    if (progress == HeadProgress::refused) {
      classify_head_failure({}, verdict);
      return HeadStep::failed;
    }
    // A drained stream waits (no recv that finds nothing); else it is read directly, and a
    // readiness event for bytes already read finds nothing: wait again, to the same end.
    if (!c.stream.may_be_readable()) return HeadStep::wait;
    boost::system::error_code ec;
    const auto space = c.buffer.prepare(kHeadReadSize);
    const std::size_t n = c.stream.read_now(space, ec);
    drained_read_ = n > 0 && n < space.size();
    if (ec) {
      classify_head_failure(ec, verdict);
      return HeadStep::failed;
    }
    if (n == 0) return HeadStep::wait;
    c.buffer.commit(n);
    received_ += n;
  }
}

template <class Stream>
typename UpstreamExchange<Stream>::HeadStep UpstreamExchange<Stream>::took_response_head(
    UpstreamConnection& c) {
  auto& response = *response_;
  if (const auto ec = parse_buffered_head(response, c.buffer)) {
    classify_head_failure(ec, HeadVerdict{});
    return HeadStep::failed;
  }
  const int status = response.get().result_int();
  if (status == 101) {
    // Tunnelled only when the request asked for it, to the protocol it asked for.
    const auto upgrade = response.get().find(http::field::upgrade);
    if (ctx_.upgrade.empty() || upgrade == response.get().end() ||
        !upgrade_accepted(upgrade->value(), ctx_.upgrade)) {
      last_ = Failure::bad_response;
      log::debug("refused a 101 from " + backend_->key + " to a request that did not ask it");
      return HeadStep::failed;
    }
    return HeadStep::whole;
  }
  if (status >= 200 || status < 100) return HeadStep::whole;
  // Interim responses go on to HTTP/1.1 clients (103 Early Hints, ...), except 100
  // Continue: the proxy answered Expect itself.
  if (status == 100 || ctx_.version < 11) return start_response_head(c);
  write_client_response_head(response.get(), ClientResponseHead{}, conn_.response_head_);
  return HeadStep::interim;
}

template <class Stream>
void UpstreamExchange<Stream>::classify_head_failure(boost::system::error_code ec,
                                                     const HeadVerdict& verdict) {
  if (conn_.timed_out()) {
    last_ = Failure::response_timeout;
  } else if (ec && !had_bytes_ && received_ == 0 &&
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
  const auto now = coarse_now();
  if (res.result_int() >= 500) {
    fail_attempt();
  } else if (lease.success(now)) {
    log::info("breaker for " + log_name(*backend_) + " closed: the trial succeeded");
  }
  if (res.result_int() == 101) {
    write_client_response_head(
        res,
        ClientResponseHead{
            false, {}, ctx_.rate_limit_policy, ctx_.rate_limit_value, res[http::field::upgrade]},
        conn_.response_head_);
    ctx_.status = 101;
    return false;
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
  const ClientResponseHead parts{
      chunked_response_, connection, ctx_.rate_limit_policy, ctx_.rate_limit_value, {}};
  if (!hand_head_as_fields(parts)) write_client_response_head(res, parts, conn_.response_head_);
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
std::optional<RequestEnd> UpstreamExchange<Stream>::relay_response_now(
    std::unique_ptr<UpstreamConnection>& c) {
  auto& response = *response_;
  const auto length = response.content_length();
  const bool sized = !response.is_done() && length;
  if (!sized && !(response.is_done() && !chunked_response_)) return std::nullopt;
  // The head goes out with the bytes that came with it, in one write.
  const std::size_t n =
      sized ? static_cast<std::size_t>(std::min<std::uint64_t>(c->buffer.size(), *length)) : 0;
  ctx_.bytes_out += n;
  conn_.arm(snap_.config().server.idle_timeout);
  const std::string& head = conn_.response_head_;
  const std::array<asio::const_buffer, 2> pieces{asio::buffer(head.data(), head.size()),
                                                 asio::buffer(c->buffer.data().data(), n)};
  boost::system::error_code ec;
  written_ = conn_.stream_.write_now(pieces, ec);
  if (ec) return RequestEnd::abort;
  if (written_ < head.size() + n || (sized && n < *length)) return std::nullopt;
  c->buffer.consume(n);
  return finish_response(std::move(c));
}

template <class Stream>
asio::awaitable<RequestEnd> UpstreamExchange<Stream>::relay_response(
    std::unique_ptr<UpstreamConnection> c) {
  auto& response = *response_;
  const auto length = response.content_length();
  const bool sized = !response.is_done() && length;
  if (sized || response.is_done()) {
    // relay_response_now wrote written_ bytes of the head and of the body bytes that came with
    // it: the rest of those, then (Content-Length) the rest of the body straight from the
    // connection's buffer, no parsing.
    const std::size_t n =
        sized ? static_cast<std::size_t>(std::min<std::uint64_t>(c->buffer.size(), *length)) : 0;
    const std::string& head = conn_.response_head_;
    const std::array<asio::const_buffer, 2> pieces{asio::buffer(head.data(), head.size()),
                                                   asio::buffer(c->buffer.data().data(), n)};
    if (written_ < head.size() + n) {
      if (co_await conn_.stream_.write_rest(pieces, written_)) co_return RequestEnd::abort;
    }
    c->buffer.consume(n);
    if (sized && n < *length && !co_await relay_sized_rest(*c, *length - n)) {
      // Cut off by the backend (aborted): what came is flushed, then a lingering close, so
      // that no reset drops it. The client gone: closed at once.
      co_return ctx_.aborted ? RequestEnd::close : RequestEnd::abort;
    }
  } else if (auto end = co_await relay_parsed(*c)) {
    co_return *end;  // cut off on either side: the connection is not reused
  }
  co_return finish_response(std::move(c));
}

template <class Stream>
asio::awaitable<RequestEnd> UpstreamExchange<Stream>::begin_tunnel(
    std::unique_ptr<UpstreamConnection> c) {
  // The backend may speak first, right after its 101: those bytes go with the head.
  const std::string& head = conn_.response_head_;
  const std::size_t early = c->buffer.size();
  const std::array<asio::const_buffer, 2> pieces{asio::buffer(head.data(), head.size()),
                                                 asio::buffer(c->buffer.data().data(), early)};
  conn_.arm(snap_.config().server.idle_timeout);
  boost::system::error_code ec;
  const std::size_t n = conn_.stream_.write_now(pieces, ec);
  if (!ec && n < head.size() + early) ec = co_await conn_.stream_.write_rest(pieces, n);
  if (ec) co_return RequestEnd::abort;
  c->buffer.consume(early);
  std::shared_ptr<BackendState> state;
  for (const auto& b : up_.selector->backends()) {
    if (b.get() == backend_) state = b;
  }
  conn_.tunnel_ = std::make_unique<TunnelStart>(std::move(c), std::move(state),
                                                std::move(selection_.lease()), counts_);
  co_return RequestEnd::tunnel;
}

template <class Stream>
RequestEnd UpstreamExchange<Stream>::finish_response(std::unique_ptr<UpstreamConnection> c) {
  // Reused only when clean: kept alive, nothing more in its buffer, and the request sent
  // whole (an early answer left the rest of the body unsent).
  if (response_->get().keep_alive() && c->buffer.size() == 0 && conn_.request_->is_done()) {
    conn_.upstream_ = nullptr;
    conn_.worker_.pool().release(backend_->slot, std::move(c), ucfg_.max_idle_per_backend,
                                 snap_.config().server.max_connections);
  }
  return keep_client_ ? RequestEnd::keep_alive : RequestEnd::close;
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
    if (!c.stream.may_be_readable())
      std::tie(ec) = co_await c.stream.async_wait_readable(use_nothrow);
    std::size_t n = ec ? 0 : c.stream.read_now(space, ec);
    if (n >= remaining && n < space.size()) c.stream.note_drained();
    if (!ec && n == 0) std::tie(ec, n) = co_await c.stream.async_read_some(space, use_nothrow);
    if (ec) {
      // Truncated by the backend: never pass it off as complete.
      WorkerMetrics::count_failure(counts_);
      log::debug("response from " + backend_->key + " cut off: " + ec.message());
      ctx_.aborted = true;
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
  // A chunked response's trailer section goes to a client that takes it: an HTTP/2 stream
  // (its trailing HEADERS) or an HTTP/1.1 client that sent TE: trailers (RFC 9110 §6.5.1
  // lets a proxy drop it otherwise).
  TrailerRelay trailers;
  trailers.head.note(response.get());
  trailers.limit = kUpstreamHeaderLimit;
  trailers.pass = Stream::kMultiplexed || te_lists_trailers(conn_.request_->get());
  const RelayOutcome out = co_await relay_body(c.stream, c.buffer, response, conn_.stream_, relay(),
                                               conn_.response_head_, chunked_response_, deadlines,
                                               ctx_.bytes_out, trailers);
  if (out.read_error) {
    // Truncated by the backend: never pass it off as complete.
    WorkerMetrics::count_failure(counts_);
    log::debug("response from " + backend_->key + " cut off: " + out.read_error.message());
    if (!out.wrote) co_return co_await conn_.respond_status(ctx_, 502, false);
    // What came is flushed, then a lingering close (no reset to drop it); never complete.
    ctx_.aborted = true;
    co_return RequestEnd::close;
  }
  if (out.write_failed) co_return RequestEnd::abort;
  co_return std::nullopt;
}

template UpstreamExchange<TcpStream>::HeadStep UpstreamExchange<TcpStream>::start_response_head(
    UpstreamConnection&);
template UpstreamExchange<TcpStream>::HeadStep UpstreamExchange<TcpStream>::step_response_head(
    UpstreamConnection&, boost::system::error_code);
template UpstreamExchange<TcpStream>::HeadStep UpstreamExchange<TcpStream>::took_response_head(
    UpstreamConnection&);
template void UpstreamExchange<TcpStream>::classify_head_failure(boost::system::error_code,
                                                                 const HeadVerdict&);
template bool UpstreamExchange<TcpStream>::filter_response(UpstreamConnection&);
template std::optional<RequestEnd> UpstreamExchange<TcpStream>::relay_response_now(
    std::unique_ptr<UpstreamConnection>&);
template asio::awaitable<RequestEnd> UpstreamExchange<TcpStream>::relay_response(
    std::unique_ptr<UpstreamConnection>);
template asio::awaitable<RequestEnd> UpstreamExchange<TcpStream>::begin_tunnel(
    std::unique_ptr<UpstreamConnection>);
template RequestEnd UpstreamExchange<TcpStream>::finish_response(
    std::unique_ptr<UpstreamConnection>);
template asio::awaitable<bool> UpstreamExchange<TcpStream>::relay_sized_rest(UpstreamConnection&,
                                                                             std::uint64_t);
template asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<TcpStream>::relay_parsed(
    UpstreamConnection&);

template UpstreamExchange<TlsStream>::HeadStep UpstreamExchange<TlsStream>::start_response_head(
    UpstreamConnection&);
template UpstreamExchange<TlsStream>::HeadStep UpstreamExchange<TlsStream>::step_response_head(
    UpstreamConnection&, boost::system::error_code);
template UpstreamExchange<TlsStream>::HeadStep UpstreamExchange<TlsStream>::took_response_head(
    UpstreamConnection&);
template void UpstreamExchange<TlsStream>::classify_head_failure(boost::system::error_code,
                                                                 const HeadVerdict&);
template bool UpstreamExchange<TlsStream>::filter_response(UpstreamConnection&);
template std::optional<RequestEnd> UpstreamExchange<TlsStream>::relay_response_now(
    std::unique_ptr<UpstreamConnection>&);
template asio::awaitable<RequestEnd> UpstreamExchange<TlsStream>::relay_response(
    std::unique_ptr<UpstreamConnection>);
template asio::awaitable<RequestEnd> UpstreamExchange<TlsStream>::begin_tunnel(
    std::unique_ptr<UpstreamConnection>);
template RequestEnd UpstreamExchange<TlsStream>::finish_response(
    std::unique_ptr<UpstreamConnection>);
template asio::awaitable<bool> UpstreamExchange<TlsStream>::relay_sized_rest(UpstreamConnection&,
                                                                             std::uint64_t);
template asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<TlsStream>::relay_parsed(
    UpstreamConnection&);

template UpstreamExchange<PipeStream>::HeadStep UpstreamExchange<PipeStream>::start_response_head(
    UpstreamConnection&);
template UpstreamExchange<PipeStream>::HeadStep UpstreamExchange<PipeStream>::step_response_head(
    UpstreamConnection&, boost::system::error_code);
template UpstreamExchange<PipeStream>::HeadStep UpstreamExchange<PipeStream>::took_response_head(
    UpstreamConnection&);
template void UpstreamExchange<PipeStream>::classify_head_failure(boost::system::error_code,
                                                                  const HeadVerdict&);
template bool UpstreamExchange<PipeStream>::filter_response(UpstreamConnection&);
template std::optional<RequestEnd> UpstreamExchange<PipeStream>::relay_response_now(
    std::unique_ptr<UpstreamConnection>&);
template asio::awaitable<RequestEnd> UpstreamExchange<PipeStream>::relay_response(
    std::unique_ptr<UpstreamConnection>);
template asio::awaitable<RequestEnd> UpstreamExchange<PipeStream>::begin_tunnel(
    std::unique_ptr<UpstreamConnection>);
template RequestEnd UpstreamExchange<PipeStream>::finish_response(
    std::unique_ptr<UpstreamConnection>);
template asio::awaitable<bool> UpstreamExchange<PipeStream>::relay_sized_rest(UpstreamConnection&,
                                                                              std::uint64_t);
template asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<PipeStream>::relay_parsed(
    UpstreamConnection&);
}  // namespace ringproxy
