// One request's upstream phases: selection and attempts (see upstream_exchange.hpp).
#include "proxy/upstream_exchange.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <tuple>
#include <utility>

#include "http/forwarded_head.hpp"
#include "http/http_status.hpp"
#include "log/log.hpp"
#include "net/backend_endpoint.hpp"
#include "net/backend_tls.hpp"
#include "net/coarse_clock.hpp"
#include "policy/hash_key.hpp"
#include "policy/http_fields.hpp"

namespace ringproxy {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// The key the walk starts from: the request's hash key.
std::uint64_t request_key(const ParsedRequest& req, const Snapshot& snap, const UpstreamRuntime& up,
                          const ClientIdentity& client, RequestContext& ctx) {
  auto header = [&req, &ctx](std::string_view name) -> std::string_view {
    return combined_field_value(req, name, ctx.combined_field);
  };
  return hash_request_key(up.hash_key,
                          KeySource{client_address_of(req, snap, client, ctx), ctx.path, header});
}

}  // namespace

template <class Stream>
UpstreamExchange<Stream>::UpstreamExchange(DownstreamConnection<Stream>& conn, RequestContext& ctx,
                                           const Snapshot& snap, const UpstreamRuntime& up)
    : conn_(conn),
      ctx_(ctx),
      snap_(snap),
      up_(up),
      ucfg_(*up.config),
      selection_(*up.selector, request_key(conn.request_->get(), snap, up, conn.client_, ctx),
                 conn.worker_.next_sequence(), coarse_now(), conn.worker_.index()) {}

template <class Stream>
void UpstreamExchange<Stream>::begin() {
  const auto& req = conn_.request_->get();
  idempotent_ = is_idempotent_method(req.method_string());
  if (req.find("x-request-id") == req.end()) {
    ctx_.request_id.assign(conn_.worker_.request_ids().next());
  }
  const ClientIdentity& client = conn_.client_;
  write_upstream_request_head(
      req,
      UpstreamRequestHead{ctx_.path, client.ip,
                          ctx_.host.empty() ? std::string_view(client.local_authority) : ctx_.host,
                          ctx_.host, ctx_.request_id, conn_.request_->chunked(), client.tls,
                          client.client_cert_subject, ctx_.upgrade},
      conn_.upstream_head_);
  ctx_.upstream = ucfg_.name;
  ctx_.upstream_id = up_.metrics_id;
}

template <class Stream>
void UpstreamExchange<Stream>::start_attempt(BackendState& backend) {
  backend_ = &backend;
  if (selection_.lease().trial()) {
    log::info("breaker for " + log_name(backend) + " is half-open: sending a trial request");
  }
  // This worker's counters for the backend: no cache line shared with other workers.
  counts_ = conn_.worker_.metrics().backend(backend.slot);
  ctx_.backend = backend.key;
  ++ctx_.attempts;
}

template <class Stream>
UpstreamExchange<Stream>::InFlight::InFlight(UpstreamExchange& x, UpstreamConnection& c)
    : exchange(x) {
  ++c.uses;
  WorkerMetrics::count_request(x.counts_);
  WorkerMetrics::add_in_flight(x.counts_, 1);
  x.conn_.upstream_ = &c;
}

template <class Stream>
UpstreamExchange<Stream>::InFlight::~InFlight() {
  WorkerMetrics::add_in_flight(exchange.counts_, -1);
  exchange.conn_.upstream_ = nullptr;
}

template <class Stream>
void UpstreamExchange<Stream>::fail_attempt() {
  WorkerMetrics::count_failure(counts_);
  BackendLease& lease = selection_.lease();
  const auto now = coarse_now();
  if (lease.failure(now)) {
    log::warn("breaker for " + log_name(*backend_) + " opened for " +
              std::to_string(backend_->breaker.retry_after_seconds(now)) + "s");
  }
}

template <class Stream>
asio::awaitable<RequestEnd> UpstreamExchange<Stream>::run() {
  if (conn_.request_->chunked() && !conn_.request_->is_done()) {
    note_request_head();
    // A bad or oversized first chunk is refused before the head reaches any backend.
    if (auto end = co_await check_first_chunk()) co_return *end;
  }
  // To an HTTP/2 backend a chunked body streams from its first byte: it may be a stream of
  // messages the backend answers as they come (gRPC), and a slow one pins no connection.
  if (!conn_.request_->is_done() && ctx_.request_buffer_bytes > 0 &&
      (ucfg_.protocol == UpstreamProtocol::http1 || !conn_.request_->chunked())) {
    if (auto end = co_await buffer_body()) co_return *end;
  }
  begin();
  if (ucfg_.protocol != UpstreamProtocol::http1) co_return co_await run_h2();
  // The steady path (a pooled connection, a response whose body came with its head) makes
  // no coroutine frame beyond this one: every step is tried at once, and only what has to
  // wait goes through the reactor or a helper coroutine.
  while (!body_consumed_) {
    BackendState* const backend = selection_.next(last_ == Failure::stale_before_reply);
    if (!backend) break;
    start_attempt(*backend);
    // A pooled connection, or a new one; a stale pooled one is replaced once, for free.
    for (bool fresh_retry_used = false;;) {
      // An upgrade goes on a fresh connection: it never comes back to the pool.
      auto c = ctx_.upgrade.empty() ? conn_.worker_.pool().acquire(backend->slot, !idempotent_)
                                    : nullptr;
      if (c && c->stream.is_tls() != ucfg_.tls.has_value()) c.reset();  // a reload changed tls
      const bool reused = c != nullptr;
      if (!c) c = co_await connect(*backend);
      if (!c) break;  // the next backend
      const InFlight in_flight(*this, *c);
      conn_.arm(ucfg_.response_timeout);
      const std::string& head = conn_.upstream_head_;
      const auto head_buffer = asio::buffer(head.data(), head.size());
      boost::system::error_code ec;
      const std::size_t sent = c->stream.write_now(head_buffer, ec);
      if (!ec && sent < head.size()) ec = co_await c->stream.write_rest(head_buffer, sent);
      if (!ec && buffered_.data && !co_await send_buffered_body(*c)) ec = asio::error::broken_pipe;
      if (ec) {
        if (reused && !fresh_retry_used) {
          fresh_retry_used = true;
          continue;
        }
        last_ = conn_.timed_out() ? Failure::response_timeout : Failure::stale_before_reply;
        fail_attempt();
        break;
      }
      if (!conn_.request_->is_done()) {
        if (auto end = co_await send_body(*c)) co_return *end;
      }
      // The response head, skipping interim ones; waits inline (no coroutine frame).
      HeadStep step =
          early_step_ ? *std::exchange(early_step_, std::nullopt) : start_response_head(*c);
      while (step == HeadStep::wait || step == HeadStep::interim) {
        if (step == HeadStep::interim) {
          if (!co_await conn_.write_client(conn_.response_head_)) co_return RequestEnd::abort;
          step = start_response_head(*c);
          continue;
        }
        std::tie(ec) = co_await c->stream.async_wait_readable(use_nothrow);
        step = step_response_head(*c, ec);
      }
      if (step == HeadStep::failed) {
        const AfterFailure next = after_head_failure(reused && !fresh_retry_used);
        fresh_retry_used = true;
        if (next == AfterFailure::fresh_connection) continue;
        if (next == AfterFailure::next_backend) break;
        co_return co_await conn_.respond_status(
            ctx_, last_ == Failure::response_timeout ? 504 : 502, ctx_.keep_alive);
      }
      keep_client_ = filter_response(*c);
      if (ctx_.status == 101) co_return co_await begin_tunnel(std::move(c));
      if (const auto end = relay_response_now(c)) co_return *end;
      co_return co_await relay_response(std::move(c));
    }
  }
  co_return co_await answer_no_backend();
}

template <class Stream>
typename UpstreamExchange<Stream>::AfterFailure UpstreamExchange<Stream>::after_head_failure(
    bool fresh_retry_left) {
  // The request reached the backend (it may have acted on it): only idempotent requests go
  // again, on a fresh connection or to the next backend.
  const bool replayable = last_ == Failure::stale_before_reply && idempotent_ && !body_consumed_;
  if (replayable && fresh_retry_left) return AfterFailure::fresh_connection;
  fail_attempt();
  return replayable ? AfterFailure::next_backend : AfterFailure::answer;
}

template <class Stream>
asio::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamExchange<Stream>::connect(
    BackendState& backend) {
  auto c = std::make_unique<UpstreamConnection>(conn_.stream_.get_executor(),
                                                conn_.worker_.upstream_buffers());
  conn_.upstream_ = c.get();
  conn_.arm(ucfg_.connect_timeout);
  const auto endpoint = endpoint_of(backend);
  auto [ec] = co_await c->stream.socket().async_connect(endpoint, use_nothrow);
  conn_.upstream_ = nullptr;
  if (!ec) watch_reads_only(c->stream.socket(), endpoint.protocol(), ec);
  if (ec) {
    last_ = conn_.timed_out() ? Failure::connect_timeout : Failure::connect_refused;
    fail_attempt();
    selection_.lease().reset();
    log::debug("connect to " + backend.key + " failed: " + ec.message());
    co_return nullptr;
  }
  WorkerMetrics::count_connect(counts_);
  boost::system::error_code ignored;
  c->stream.socket().set_option(tcp::no_delay(true), ignored);
  if (ucfg_.tls && !co_await connect_tls(*c, backend)) co_return nullptr;
  co_return c;
}

template <class Stream>
asio::awaitable<bool> UpstreamExchange<Stream>::connect_tls(UpstreamConnection& c,
                                                            BackendState& backend) {
  const std::shared_ptr<const TlsContexts> contexts = conn_.worker_.tls();
  const UpstreamTlsContext* tls = contexts ? contexts->upstream(ucfg_.name) : nullptr;
  std::string failure = "no TLS context for the upstream";
  if (tls != nullptr) {
    conn_.upstream_ = &c;  // the connect deadline covers the handshake
    failure = co_await start_backend_tls(c.stream, *tls, backend.address,
                                         ucfg_.protocol == UpstreamProtocol::h2);
    conn_.upstream_ = nullptr;
  }
  if (failure.empty()) co_return true;
  last_ = conn_.timed_out() ? Failure::connect_timeout : Failure::connect_refused;
  fail_attempt();
  selection_.lease().reset();
  log::warn("TLS to backend " + backend.key + " of upstream " + ucfg_.name + ": " + failure);
  co_return false;
}

template <class Stream>
RelayBuffer& UpstreamExchange<Stream>::relay() {
  if (!relay_) relay_.emplace(conn_.worker_.relay_buffers());
  return *relay_;
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

template <class Stream>
bool UpstreamExchange<Stream>::hand_head_as_fields(const ClientResponseHead& parts) {
  if constexpr (Stream::kMultiplexed) {
    auto& response = *response_;
    const auto length = response.content_length();
    // A chunked or close-delimited body's head waits for its first bytes (and may still give
    // way to a 502); a tunnel's head is read by the session as text.
    if ((!response.is_done() && !length) || !ctx_.upgrade.empty()) return false;
    // HTTP/2 has no connection fields and frames the body itself.
    const ClientResponseHead h2{false, {}, parts.rate_limit_policy, parts.rate_limit, {}};
    // The worker's, reused (warm, and no allocation per stream): the session copies what it
    // takes before this returns.
    thread_local std::string bytes;
    thread_local std::vector<FieldView> fields;
    write_client_response_fields(response.get(), h2, bytes, fields);
    return conn_.stream_.hand_response_head(response.get().result_int(), fields,
                                            response.is_done() ? 0 : *length);
  } else {
    return false;
  }
}

template class UpstreamExchange<TcpStream>;
template class UpstreamExchange<TlsStream>;
template class UpstreamExchange<PipeStream>;

}  // namespace ringproxy
