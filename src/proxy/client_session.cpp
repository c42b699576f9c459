#include "proxy/client_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <tuple>

#include "http/buffered_head.hpp"
#include "http/http_status.hpp"
#include "log/log.hpp"
#include "net/socket_now.hpp"
#include "net/upstream_pool.hpp"
#include "net/worker.hpp"
#include "policy/client_address.hpp"
#include "policy/head_validator.hpp"
#include "policy/http_fields.hpp"
#include "policy/rate_limit_headers.hpp"

namespace ringproxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// A request-target longer than this gets 414 (nginx's default large header buffer is 8k).
constexpr RequestHeadLimits kRequestHeadLimits{8192, kMaxFieldLines};

// Answers a connection over max_connections with 503 and closes it.
asio::awaitable<void> refuse(WorkerSocket socket) {
  static const std::string response = make_status_response(503, false, "Retry-After: 1\r\n");
  asio::steady_timer timer(socket.get_executor());
  timer.expires_after(std::chrono::seconds(1));
  timer.async_wait([&socket](boost::system::error_code ec) {
    if (!ec) socket.cancel(ec);
  });
  co_await asio::async_write(socket, asio::buffer(response), use_nothrow);
  boost::system::error_code ec;
  socket.shutdown(WorkerSocket::shutdown_send, ec);
  char sink[1024];
  while (!ec) {
    auto [rec, n] = co_await socket.async_read_some(asio::buffer(sink), use_nothrow);
    ec = rec;
  }
  timer.cancel();
  socket.close(ec);
}

}  // namespace

ConnectionHandlers downstream_handlers() {
  ConnectionHandlers h;
  h.start = [](Worker& worker, WorkerSocket socket, std::optional<Clock::time_point> deadline,
               bool resumed) {
    std::make_shared<ClientSession>(worker, std::move(socket), deadline, resumed)->start();
  };
  h.refuse = [](Worker& worker, WorkerSocket socket) {
    asio::co_spawn(worker.context(), refuse(std::move(socket)), asio::detached);
  };
  return h;
}

ClientSession::ClientSession(Worker& worker, WorkerSocket socket,
                             std::optional<Clock::time_point> head_deadline, bool resumed)
    : worker_(worker),
      client_(std::move(socket)),
      client_buffer_(BlockAllocator<char>(worker.arena_blocks())),
      request_arena_(worker.arena_blocks()),
      response_arena_(worker.arena_blocks()),
      deadline_(Clock::time_point::max()),
      resumed_(resumed),
      head_deadline_(head_deadline) {
  worker_.session_started(this);
}

ClientSession::~ClientSession() {
  worker_.session_ended(this);
  if (!parked_) worker_.connections().closed();
}

void ClientSession::start() {
  asio::co_spawn(
      client_.get_executor(), [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void ClientSession::drain() {
  draining_ = true;
  if (idle_) {
    boost::system::error_code ignored;
    client_.cancel(ignored);
  }
}

void ClientSession::arm(Clock::duration d) {
  deadline_ = Clock::now() + d;
  timed_out_ = false;
}

void ClientSession::expire_if_due(Clock::time_point now) {
  if (closed_ || now < deadline_) return;
  timed_out_ = true;
  deadline_ = Clock::time_point::max();
  boost::system::error_code ignored;
  client_.cancel(ignored);  // the pending operation completes with operation_aborted
  if (upstream_) upstream_->socket.cancel(ignored);
}

asio::awaitable<bool> ClientSession::write_client(std::string_view bytes) {
  arm(worker_.snapshot()->config().server.idle_timeout);
  const auto buffer = asio::buffer(bytes.data(), bytes.size());
  boost::system::error_code ec;
  const std::size_t done = write_now(client_, buffer, ec);
  if (!ec && done < bytes.size()) ec = co_await write_rest(client_, buffer, done);
  co_return !ec;
}

ClientSession::IdleWait ClientSession::idle_wait_end(boost::system::error_code ec,
                                                     Clock::time_point deadline) const {
  if (!ec) return IdleWait::readable;
  // A busy loop may run the deadline tick before the socket's readiness: the caller's read
  // finds any bytes already here rather than parking them and waking at once.
  if (timed_out_ && !draining_ && Clock::now() < deadline) return IdleWait::quiet;
  return IdleWait::ended;
}

void ClientSession::park(Clock::time_point deadline, bool is_new) {
  if (is_new) {
    worker_.park().park_new(std::move(client_), deadline);
  } else {
    worker_.park().park_idle(std::move(client_), deadline);
  }
  parked_ = true;
}

asio::awaitable<void> ClientSession::run() {
  boost::system::error_code ec;
  if (!resumed_) client_.set_option(tcp::no_delay(true), ec);
  auto remote = client_.remote_endpoint(ec);
  if (!ec) client_ip_ = remote.address().to_string();
  // The authority the client reached: the Host sent on for requests without one (HTTP/1.0).
  auto local = client_.local_endpoint(ec);
  if (!ec) {
    local_authority_ = local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                               : local.address().to_string();
    local_authority_ += ":" + std::to_string(local.port());
  }
  {
    const auto& server_cfg = worker_.snapshot()->config().server;
    client_buffer_.max_size(server_cfg.max_header_bytes + 64 * 1024);
    if (!head_deadline_) head_deadline_ = Clock::now() + server_cfg.client_header_timeout;
    deadline_ = *head_deadline_;
  }

  bool first = true;
  while (!draining_) {
    bool head_read_short = false;  // the head came in one direct read that came back short
    // A copy: a reload may replace the snapshot while this coroutine waits.
    const ServerConfig::Limits limits = worker_.snapshot()->config().server.limits();
    if (client_buffer_.size() == 0) {
      // Between requests: idle_timeout runs until the first byte (client_header_timeout for
      // a new connection). A connection quiet for kParkAfter goes to the worker's park, as a
      // bare socket, and comes back in a new session when it has something to say.
      prefetch_rate_limit();
      idle_ = true;
      boost::system::error_code rec;
      std::size_t n = 0;
      if (!first) {
        // Idle between requests: hold no read buffer, only wait until the socket is readable
        // (a drained socket's wait costs no system call: read_readiness.hpp), then read. A
        // readiness event for bytes already read finds nothing: wait again, to the same end.
        const auto idle_deadline = Clock::now() + limits.idle_timeout;
        for (;;) {
          client_buffer_.shrink_to_fit();
          // Up to kParkAfter (and at most to the deadline), inline: no coroutine frame.
          arm(std::min<Clock::duration>(kParkAfter, idle_deadline - Clock::now()));
          auto [wec] = co_await async_wait_readable(client_, use_nothrow);
          const IdleWait wait = idle_wait_end(wec, idle_deadline);
          if (wait != IdleWait::ended) n = read_now(client_, client_buffer_.prepare(4096), rec);
          if (rec || n > 0) break;
          if (wait != IdleWait::readable) {
            // Ended, or quiet with nothing here: the socket goes to the park, bare.
            client_buffer_.shrink_to_fit();
            if (wait == IdleWait::quiet) park(idle_deadline, false);
            rec = asio::error::operation_aborted;
            break;
          }
        }
        head_read_short = n > 0 && n < 4096;
      } else {
        // A new connection: its bytes usually came with it, so read at once, through the
        // reactor if not, for kParkAfter.
        arm(std::min<Clock::duration>(kParkAfter, *head_deadline_ - Clock::now()));
        const auto space = client_buffer_.prepare(4096);
        n = read_now(client_, space, rec);
        head_read_short = n > 0 && n < 4096;
        if (!rec && n == 0) std::tie(rec, n) = co_await client_.async_read_some(space, use_nothrow);
      }
      idle_ = false;
      if (rec) {
        // Closed by the client, idle timeout or drain: nothing to answer. A new connection
        // that has said nothing yet waits in the park for the rest of its head's time.
        if (first && timed_out_ && !draining_ && Clock::now() < *head_deadline_) {
          client_buffer_.shrink_to_fit();
          park(*head_deadline_, true);
        }
        break;
      }
      client_buffer_.commit(n);
    }
    // The rest of the head: client_header_timeout from its first byte, or from the accept.
    arm(first ? *head_deadline_ - Clock::now() : limits.client_header_timeout);
    first = false;

    // The whole head in the buffer, held to RFC 9112 strictly before Beast parses it; a start
    // that can never become valid is refused without waiting for the rest.
    HeadVerdict verdict;
    bool gone = false;
    for (;;) {
      const auto data = client_buffer_.cdata();
      const std::string_view buffered(static_cast<const char*>(data.data()), data.size());
      const std::size_t head_end = find_head_end(buffered);
      if (head_end != std::string_view::npos) {
        verdict = head_end > limits.max_header_bytes
                      ? HeadVerdict{431, true, "request head too large"}
                      : validate_request_head(buffered.substr(0, head_end), kRequestHeadLimits);
        break;
      }
      verdict = check_partial_request_head(buffered, kRequestHeadLimits);
      if (!verdict) break;
      if (buffered.size() >= limits.max_header_bytes) {
        verdict = HeadVerdict{431, true, "request head too large"};
        break;
      }
      head_read_short = false;
      auto [rec, n] = co_await client_.async_read_some(client_buffer_.prepare(4096), use_nothrow);
      if (rec) {
        // Part of a head came, then its time ran out: 408. Gone mid-head: nobody to answer.
        if (timed_out_) {
          verdict = HeadVerdict{408, true, "request head timed out"};
        } else {
          gone = true;
        }
        break;
      }
      client_buffer_.commit(n);
    }
    if (gone) break;
    if (!verdict) {
      log::debug("refused a request head from " + client_ip_ + ": " + std::string(verdict.reason));
      co_await answer_refusal(verdict.status);
      break;
    }

    request_.reset();
    request_arena_.reset();
    request_.emplace(std::piecewise_construct, std::make_tuple(),
                     std::make_tuple(ArenaAllocator<char>(request_arena_)));
    request_->header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    request_->body_limit(limits.max_body_bytes);
    // The whole head is in the buffer: parsed in place, with no read operation.
    if (const auto hec = parse_buffered_head(*request_, client_buffer_)) {
      co_await answer_head_error(hec);
      break;
    }
    // A request with no body, whole in one short read: the client has nothing more to send
    // until it has the response, so its next wait needs no system call.
    if (head_read_short && request_->is_done() && client_buffer_.size() == 0) {
      note_drained(client_);
    }
    const RequestEnd end = co_await handle_request();
    // Nothing of the request is needed any more: its memory goes back while the client idles.
    request_.reset();
    request_arena_.reset();
    response_arena_.reset();
    if (end == RequestEnd::abort) break;
    if (end == RequestEnd::close) {
      co_await linger_close();
      break;
    }
  }
  closed_ = true;
  client_.close(ec);
}

asio::awaitable<void> ClientSession::answer_head_error(boost::system::error_code ec) {
  int status = 0;
  if (timed_out_) {
    status = 408;  // some of a head arrived (the buffer was not empty), then time ran out
  } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    status = 431;
  } else if (ec == http::error::body_limit) {
    status = 413;
  } else if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
             ec == asio::error::eof || ec == asio::error::connection_reset ||
             ec == asio::error::operation_aborted) {
    status = 0;  // the client went away mid-head: nobody to answer
  } else {
    status = 400;
  }
  if (status == 0) co_return;
  co_await answer_refusal(status);
}

asio::awaitable<void> ClientSession::answer_refusal(int status) {
  const auto started = Clock::now();
  facts_ = RequestFacts{};
  co_await respond_status(status, false);
  worker_.metrics().count_response(0, status, std::chrono::nanoseconds(0));
  // Logged like any request, with no method or target: the head was refused unparsed.
  worker_.access_log().append(AccessRecord{client_ip_,
                                           {},
                                           {},
                                           status,
                                           {},
                                           {},
                                           0,
                                           facts_.bytes_out,
                                           Clock::now() - started,
                                           {},
                                           0,
                                           false,
                                           false});
  co_await linger_close();
}

std::uint64_t ClientSession::address_key(const RateLimiter& limiter) {
  if (address_key_seed_ != limiter.seed()) {
    // Addresses live in their own key space, so a header value naming someone's address
    // cannot spend that client's tokens.
    address_key_ = limiter.key_hash(client_ip_) ^ 0x9e3779b97f4a7c15ULL;
    address_key_seed_ = limiter.seed();
  }
  return address_key_;
}

void ClientSession::prefetch_rate_limit() {
  const Snapshot& snap = *worker_.snapshot();
  const RateLimitRuntime& limit = snap.default_rate_limit();
  if (!limit.limiter || !limit.header.empty() || !snap.config().server.trusted_proxies.empty()) {
    return;
  }
  limit.limiter->prefetch(address_key(*limit.limiter));
}

std::string_view ClientSession::client_address_of(const Snapshot& snap) {
  const auto& trusted = snap.config().server.trusted_proxies;
  if (trusted.empty()) return client_ip_;
  // Several X-Forwarded-For lines are one list (RFC 9110 §5.3): join them before walking it.
  const auto& req = request_->get();
  auto range = req.equal_range("X-Forwarded-For");
  if (range.first == range.second) return client_ip_;
  std::string_view list = range.first->value();
  if (std::next(range.first) != range.second) {
    forwarded_for_.clear();
    for (auto it = range.first; it != range.second; ++it) {
      if (!forwarded_for_.empty()) forwarded_for_.append(", ");
      forwarded_for_.append(it->value());
    }
    list = forwarded_for_;
  }
  return client_address(client_ip_, list, trusted);
}

asio::awaitable<RequestEnd> ClientSession::respond_status(int status, bool keep_alive,
                                                          std::string_view extra_headers) {
  const bool whole = request_ && request_->is_done();
  keep_alive = keep_alive && whole && !draining_;
  facts_.status = status;
  const std::string response = make_status_response(status, keep_alive, extra_headers);
  facts_.bytes_out += response.size() - (response.find("\r\n\r\n") + 4);  // the body
  if (!co_await write_client(response)) co_return RequestEnd::abort;
  co_return keep_alive ? RequestEnd::keep_alive : RequestEnd::close;
}

asio::awaitable<void> ClientSession::linger_close() {
  // Half-close, then read and drop what the client still sends for a moment, so that a
  // reset does not destroy the response we just wrote (nginx's lingering close).
  boost::system::error_code ec;
  client_.shutdown(WorkerSocket::shutdown_send, ec);
  if (ec) co_return;
  arm(std::chrono::seconds(2));
  char sink[4096];
  for (std::size_t total = 0; total < 1024 * 1024;) {
    auto [rec, n] = co_await client_.async_read_some(asio::buffer(sink), use_nothrow);
    if (rec) break;
    total += n;
  }
}

asio::awaitable<RequestEnd> ClientSession::handle_request() {
  facts_ = RequestFacts{};
  facts_.started = Clock::now();
  request_id_.clear();
  // Hold this request's snapshot for its whole life (the access record points into it too):
  // a reload must not change it midway.
  const Worker::SnapshotLease snap(worker_);
  RequestPlan plan;
  plan_request(*snap, plan);
  const RequestEnd end =
      plan.upstream ? co_await forward(*snap, *plan.upstream)
                    : co_await respond_status(plan.status, client_keep_alive_, plan.extra_headers);
  facts_.aborted = facts_.aborted || end == RequestEnd::abort;
  const auto duration = Clock::now() - facts_.started;
  if (facts_.status != 0)
    worker_.metrics().count_response(facts_.upstream_id, facts_.status, duration);
  if (facts_.rate_limited) worker_.metrics().count_rate_limited();
  AccessLogBuffer& access_log = worker_.access_log();
  const auto& req = request_->get();
  std::string_view request_id;
  if (auto it = req.find("x-request-id"); it != req.end()) {
    request_id = it->value();
  } else {
    request_id = request_id_;  // the one this proxy added, if it forwarded the request
  }
  access_log.append(AccessRecord{client_ip_, req.method_string(), target_, facts_.status,
                                 facts_.upstream, facts_.backend, facts_.bytes_in, facts_.bytes_out,
                                 duration, request_id, facts_.attempts, facts_.aborted,
                                 facts_.rate_limited});
  co_return end;
}

void ClientSession::plan_request(const Snapshot& snap, RequestPlan& plan) {
  auto& req = request_->get();
  target_.assign(req.target());  // before rewriting (absolute-form becomes origin-form)
  client_version_ = req.version();
  client_keep_alive_ = req.keep_alive() && !draining_;

  // The head passed validate_request_head (run()): HTTP/1.0 or 1.1, at most one Host (one in
  // 1.1), Expect only 100-continue. What is left here is to read them.
  host_.clear();
  if (auto it = req.find(http::field::host); it != req.end()) host_.assign(it->value());
  // An absolute-form target names the host itself, and wins over Host (RFC 9112 §3.2.2); it
  // is routed and forwarded in origin-form.
  path_ = req.target();
  if (!path_.empty() && path_.front() != '/' && path_ != "*") {
    if (const auto scheme = path_.find("://"); scheme != std::string_view::npos) {
      const std::string_view rest = path_.substr(scheme + 3);
      const auto slash = rest.find_first_of("/?");
      host_.assign(rest.substr(0, slash));
      origin_target_.clear();
      if (slash == std::string_view::npos || rest[slash] == '?') origin_target_.push_back('/');
      if (slash != std::string_view::npos) origin_target_.append(rest.substr(slash));
      path_ = origin_target_;
    }
  }
  expect_continue_ =
      req.find(http::field::expect) != req.end() && !request_->is_done();  // 100-continue

  // Max-Forwards: 0 on OPTIONS or TRACE: this proxy is the final recipient (RFC 9110 §7.6.2).
  // It allows every method but TRACE, which it never echoes (cross-site tracing), and CONNECT:
  // a reverse proxy opens no tunnels.
  static constexpr std::string_view kAllow =
      "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n";
  if (req.method() == http::verb::connect) {
    plan.status = 405;
    plan.extra_headers = kAllow;
    return;
  }
  if (req.method() == http::verb::options || req.method() == http::verb::trace) {
    if (auto it = req.find(http::field::max_forwards); it != req.end() && it->value() == "0") {
      plan.status = req.method() == http::verb::options ? 200 : 405;
      plan.extra_headers = kAllow;
      return;
    }
  }

  // Route.
  const auto route = snap.router().match(host_, path_);
  if (!route) {
    plan.status = 404;
    return;
  }

  // Rate limit: the route's rule (or the default), keyed by client address or a header.
  rate_limit_policy_ = {};
  rate_limit_value_.clear();
  if (const RateLimitRuntime& limit = snap.rate_limit_for(*route); limit.limiter) {
    std::uint64_t key = 0;
    if (!limit.header.empty()) {
      if (auto it = req.find(limit.header); it != req.end() && !it->value().empty()) {
        key = limit.limiter->key_hash(it->value());
      }
    }
    if (key == 0) {
      const std::string_view address = client_address_of(snap);
      key = address.data() == client_ip_.data()
                ? address_key(*limit.limiter)
                : limit.limiter->key_hash(address) ^ 0x9e3779b97f4a7c15ULL;
    }
    const TakeResult taken = limit.limiter->take(key, Clock::now());
    if (!taken.allowed) {
      facts_.rate_limited = true;
      RateLimitHeaders fields = rate_limit_headers(limit.name, limit.limiter->bucket_rule(), taken);
      plan.owned_headers = "Retry-After: " + fields.retry_after +
                           "\r\nRateLimit-Policy: " + fields.policy +
                           "\r\nRateLimit: " + fields.limit + "\r\n";
      plan.status = 429;
      plan.extra_headers = plan.owned_headers;
      return;
    }
    // The policy is the rule's, made once per snapshot (which outlives this request).
    rate_limit_policy_ = limit.policy;
    format_rate_limit(rate_limit_value_, limit.name, taken.remaining, taken.reset_seconds());
  }

  plan.upstream = &snap.upstreams()[snap.router().upstream_of(*route)];
}

}  // namespace ringproxy
