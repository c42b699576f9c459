// The upstream phases of a request: pick a backend, connect or reuse, relay both ways.
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/range/iterator_range.hpp>
#include <cstring>

#include "io/backend_endpoint.hpp"
#include "io/client_session.hpp"
#include "io/http_status.hpp"
#include "io/log.hpp"
#include "io/relay_buffer.hpp"
#include "io/server.hpp"
#include "io/upstream_pool.hpp"
#include "io/worker.hpp"
#include "ringproxy/bounded_load.hpp"
#include "ringproxy/client_address.hpp"
#include "ringproxy/hash_key.hpp"
#include "ringproxy/http_fields.hpp"

namespace ringproxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kUpstreamHeaderLimit = 64 * 1024;

// Why an attempt at one backend failed, classified for retries and the client's status.
enum class Failure {
  none,
  connect_refused,     // retryable on another backend
  connect_timeout,     // retryable on another backend
  stale_before_reply,  // reset/EOF before any response byte: retryable for idempotent
  response_timeout,    // 504
  bad_response,        // 502
};

// Drops hop-by-hop fields and the fields Connection names (RFC 9110 §7.6.1).
template <class Fields>
void strip_hop_by_hop(Fields& fields) {
  std::vector<std::string> named;
  for (auto it = fields.find(http::field::connection);
       it != fields.end() && it->name() == http::field::connection; ++it) {
    for_each_token(it->value(), [&](std::string_view t) { named.emplace_back(t); });
  }
  for (auto it = fields.begin(); it != fields.end();) {
    if (is_hop_by_hop(it->name_string())) {
      it = fields.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& n : named) fields.erase(n);
}

// One request's standing with a backend's breaker and concurrency cap. The breaker permit is
// settled exactly once (success, failure, or given back unused); the concurrency slot is held
// until the lease goes away, i.e. until the response has been relayed whole.
class BackendLease {
 public:
  BackendLease() = default;
  BackendLease(const BackendLease&) = delete;
  BackendLease& operator=(const BackendLease&) = delete;
  ~BackendLease() { reset(); }

  // Takes a concurrency slot and a breaker permit; false (holding nothing) when refused.
  bool acquire(BackendState& b, bool breaker_on, std::chrono::steady_clock::time_point now) {
    reset();
    if (!breaker_on) return true;
    if (!b.concurrency.try_enter()) return false;
    BreakerPermit permit = b.breaker.try_acquire(now);
    if (!permit) {
      b.concurrency.leave();
      return false;
    }
    backend_ = &b;
    permit_ = permit;
    unsettled_ = true;
    if (permit.trial())
      log::info("breaker for " + b.key + " is half-open: sending a trial request");
    return true;
  }
  void success() {
    if (backend_ && unsettled_) {
      backend_->breaker.on_success(permit_);
      if (permit_.trial() &&
          backend_->breaker.state(std::chrono::steady_clock::now()) == BreakerState::closed) {
        log::info("breaker for " + backend_->key + " closed: the trial succeeded");
      }
    }
    unsettled_ = false;
  }
  void failure() {
    if (backend_ && unsettled_) {
      const auto now = std::chrono::steady_clock::now();
      const std::uint32_t trips = backend_->breaker.trips();
      backend_->breaker.on_failure(permit_, now);
      if (backend_->breaker.trips() != trips) {
        log::warn("breaker for " + backend_->key + " opened for " +
                  std::to_string(backend_->breaker.retry_after_seconds(now)) + "s");
      }
    }
    unsettled_ = false;
  }
  // Gives back an unsettled permit and the concurrency slot.
  void reset() {
    if (!backend_) return;
    if (unsettled_) backend_->breaker.release(permit_);
    backend_->concurrency.leave();
    backend_ = nullptr;
    unsettled_ = false;
  }

 private:
  BackendState* backend_ = nullptr;
  BreakerPermit permit_;
  bool unsettled_ = false;
};

// The backends one request has tried: on the stack up to 256 backends (no allocation on the
// request path), a heap bitmap beyond.
class TriedBackends {
 public:
  explicit TriedBackends(std::size_t n) {
    if (n > kInline * 64) heap_.assign((n + 63) / 64, 0);
  }
  bool contains(std::size_t i) const { return words()[i / 64] & (std::uint64_t{1} << (i % 64)); }
  void insert(std::size_t i) { words()[i / 64] |= std::uint64_t{1} << (i % 64); }

 private:
  const std::uint64_t* words() const { return heap_.empty() ? inline_.data() : heap_.data(); }
  std::uint64_t* words() { return heap_.empty() ? inline_.data() : heap_.data(); }
  static constexpr std::size_t kInline = 4;
  std::array<std::uint64_t, kInline> inline_{};
  std::vector<std::uint64_t> heap_;
};

// Adds this proxy to Via (RFC 9110 §7.6.3), after what earlier hops wrote, as one line.
template <class Fields>
void append_via(Fields& fields) {
  std::string via;
  for (const auto& f : boost::make_iterator_range(fields.equal_range(http::field::via))) {
    via.append(f.value()).append(", ");
  }
  via.append("1.1 ringproxy");
  fields.set(http::field::via, via);
}

}  // namespace

std::uint64_t ClientSession::request_key_hash(const Snapshot& snap, const UpstreamRuntime& up) {
  if (up.round_robin) return worker_.next_sequence();
  const auto& req = request_->get();
  auto header = [&req](std::string_view name) -> std::string_view {
    auto it = req.find(name);
    return it == req.end() ? std::string_view{} : std::string_view(it->value());
  };
  return hash_request_key(up.hash_key, KeySource{client_address_of(snap), req.target(), header});
}

void ClientSession::rewrite_request_head() {
  auto& req = request_->get();
  const bool chunked = request_->chunked();
  strip_hop_by_hop(req);
  if (chunked) req.chunked(true);  // re-frame the body we relay
  req.erase(http::field::expect);  // we answer 100-continue ourselves
  req.version(11);

  // X-Forwarded-For: the received list (all its lines, in order) plus this client.
  std::string forwarded;
  for (const auto& f : boost::make_iterator_range(req.equal_range("X-Forwarded-For"))) {
    if (!forwarded.empty()) forwarded.append(", ");
    forwarded.append(f.value());
  }
  req.set("X-Forwarded-For", append_forwarded_for(forwarded, client_ip_));
  req.set("X-Forwarded-Proto", "http");
  if (!host_.empty()) req.set("X-Forwarded-Host", host_);

  append_via(req);

  if (req.find("x-request-id") == req.end()) req.set("X-Request-Id", worker_.request_ids().next());

  // absolute-form targets go upstream in origin-form.
  const std::string_view target = req.target();
  if (!target.empty() && target.front() != '/' && target != "*") {
    auto scheme = target.find("://");
    if (scheme != std::string_view::npos) {
      auto slash = target.find_first_of("/?", scheme + 3);
      std::string origin_form =
          slash == std::string_view::npos ? "/" : std::string(target.substr(slash));
      if (origin_form.front() == '?') origin_form.insert(0, "/");
      req.target(origin_form);
    }
  }
}

asio::awaitable<RequestEnd> ClientSession::forward(const Snapshot& snap,
                                                   const UpstreamRuntime& up) {
  const UpstreamConfig& ucfg = *up.config;
  const ServerConfig& scfg = snap.config().server;
  auto& req = request_->get();
  const bool idempotent = is_idempotent_method(req.method_string());
  const bool head_request = req.method() == http::verb::head;
  const std::uint64_t key = request_key_hash(snap, up);
  rewrite_request_head();
  facts_.upstream = ucfg.name;
  facts_.upstream_id = up.metrics_id;

  RelayBuffer relay(worker_.relay_buffers());
  std::optional<http::request_serializer<http::buffer_body>> request_writer;

  TriedBackends tried(up.backends.size());
  unsigned attempts_left = ucfg.retries + 1;
  const auto now = std::chrono::steady_clock::now();
  const bool breaker_on = ucfg.circuit_breaker.has_value();
  const bool health_on = ucfg.health_check.has_value();
  up.retry_budget->on_request(now);
  BackendLease lease;
  Failure last = Failure::none;
  bool body_consumed = false;  // client body bytes were read: the request cannot be replayed
  bool continue_sent = false;

  while (attempts_left > 0 && !body_consumed) {
    // Bounded loads: the upstream's in-flight total, read once per pick.
    std::int64_t total_in_flight = 0;
    if (ucfg.bounded_load > 0) {
      for (const auto& b : up.backends)
        total_in_flight += b->in_flight.load(std::memory_order_relaxed);
    }
    // The hash walk: the key's home backend, else the next distinct one that may take it.
    const auto pick = up.picker->pick(
        key,
        [&](std::size_t i) {
          if (tried.contains(i)) return false;
          const BackendState& b = *up.backends[i];
          if (health_on && !b.healthy.load(std::memory_order_relaxed)) return false;
          if (breaker_on && (!b.concurrency.available() || !b.breaker.available(now))) {
            return false;
          }
          return ucfg.bounded_load <= 0 ||
                 within_bounded_load(up.backends[i]->in_flight.load(std::memory_order_relaxed),
                                     total_in_flight, up.backends.size(), ucfg.bounded_load);
        },
        up.backends.size());
    if (!pick) break;
    tried.insert(*pick);
    BackendState& backend = *up.backends[*pick];
    // Lost a race for the last trial or concurrency slot: walk on, as the pick would have.
    if (!lease.acquire(backend, breaker_on, now)) continue;
    // Every attempt after the first is a retry. Re-sending a request a backend already had
    // spends the upstream's retry budget (that is what multiplies load in an outage); trying
    // the next backend after a refused connection costs the backends nothing and is free.
    if (attempts_left <= ucfg.retries && last == Failure::stale_before_reply &&
        !up.retry_budget->try_retry(now)) {
      lease.reset();
      break;
    }
    --attempts_left;
    facts_.backend = backend.key;
    ++facts_.attempts;

    // A pooled connection, or a new one; a stale pooled one is replaced once, for free.
    bool fresh_retry_used = false;
    for (;;) {
      std::unique_ptr<UpstreamConnection> conn = worker_.pool().acquire(backend.slot);
      const bool reused = conn != nullptr;
      if (!conn) {
        conn = std::make_unique<UpstreamConnection>(client_.get_executor());
        upstream_ = conn.get();
        arm(ucfg.connect_timeout);
        auto [cec] = co_await conn->socket.async_connect(endpoint_of(backend), use_nothrow);
        upstream_ = nullptr;
        if (cec) {
          last = timed_out() ? Failure::connect_timeout : Failure::connect_refused;
          backend.failures.fetch_add(1, std::memory_order_relaxed);
          lease.failure();
          lease.reset();
          log::debug("connect to " + backend.key + " failed: " + cec.message());
          break;  // next backend
        }
        boost::system::error_code ignored;
        conn->socket.set_option(tcp::no_delay(true), ignored);
      }
      request_writer.emplace(req);
      ++conn->uses;
      backend.in_flight.fetch_add(1, std::memory_order_relaxed);
      backend.requests.fetch_add(1, std::memory_order_relaxed);
      struct InFlight {
        BackendState& b;
        ~InFlight() { b.in_flight.fetch_sub(1, std::memory_order_relaxed); }
      } in_flight{backend};
      upstream_ = conn.get();
      struct ClearUpstream {
        UpstreamConnection*& p;
        ~ClearUpstream() { p = nullptr; }
      } clear_upstream{upstream_};

      // --- send the request head ---
      arm(ucfg.response_timeout);
      auto [wec, wn] =
          co_await http::async_write_header(conn->socket, *request_writer, use_nothrow);
      if (wec) {
        if (reused && !fresh_retry_used) {
          fresh_retry_used = true;
          continue;
        }
        last = timed_out() ? Failure::response_timeout : Failure::stale_before_reply;
        backend.failures.fetch_add(1, std::memory_order_relaxed);
        lease.failure();
        lease.reset();
        break;
      }

      // --- stream the request body, if any ---
      const bool had_body = !request_->is_done();
      if (had_body) {
        if (expect_continue_ && !continue_sent) {
          continue_sent = true;
          if (!co_await write_client(kContinueResponse)) co_return RequestEnd::abort;
        }
        body_consumed = true;
        auto& body = req.body();
        do {
          body.data = relay.data();
          body.size = relay.size();
          arm(scfg.idle_timeout);
          auto [rec, rn] =
              co_await http::async_read(client_, client_buffer_, *request_, use_nothrow);
          if (rec == http::error::need_buffer) rec = {};
          if (rec == http::error::body_limit) {
            // Too large while streaming (chunked): abort upstream, 413 if nothing answered.
            co_return co_await respond_status(413, false);
          }
          if (rec) co_return RequestEnd::abort;  // client gone or timed out mid-body
          body.size = relay.size() - body.size;
          body.data = relay.data();
          facts_.bytes_in += body.size;
          body.more = !request_->is_done();
          arm(ucfg.response_timeout);
          auto [bwec, bwn] = co_await http::async_write(conn->socket, *request_writer, use_nothrow);
          if (bwec == http::error::need_buffer) bwec = {};
          if (bwec) {
            backend.failures.fetch_add(1, std::memory_order_relaxed);
            lease.failure();
            co_return co_await respond_status(timed_out() ? 504 : 502, client_keep_alive_);
          }
        } while (!request_->is_done());
        if (!request_writer->is_done()) {
          body.data = nullptr;
          body.size = 0;
          body.more = false;
          auto [fwec, fwn] = co_await http::async_write(conn->socket, *request_writer, use_nothrow);
          if (fwec == http::error::need_buffer) fwec = {};
          if (fwec) {
            backend.failures.fetch_add(1, std::memory_order_relaxed);
            lease.failure();
            co_return co_await respond_status(timed_out() ? 504 : 502, client_keep_alive_);
          }
        }
      }

      // --- read the response head (skipping interim 1xx) ---
      std::optional<http::response_parser<http::buffer_body>> response_parser;
      bool got_head = false;
      for (;;) {
        auto& response = response_parser.emplace();
        response.header_limit(kUpstreamHeaderLimit);
        response.body_limit(std::numeric_limits<std::uint64_t>::max());
        if (head_request) response.skip(true);
        arm(ucfg.response_timeout);
        const bool had_bytes = conn->buffer.size() > 0;
        auto [hec, hn] =
            co_await http::async_read_header(conn->socket, conn->buffer, response, use_nothrow);
        if (hec) {
          if (timed_out()) {
            last = Failure::response_timeout;
          } else if (!had_bytes && hn == 0 &&
                     (hec == http::error::end_of_stream || hec == asio::error::eof ||
                      hec == asio::error::connection_reset ||
                      hec == http::error::partial_message)) {
            last = Failure::stale_before_reply;
          } else {
            last = Failure::bad_response;
          }
          break;
        }
        const int status = response.get().result_int();
        if (status >= 100 && status < 200 && status != 101) {
          continue;  // interim response: we already answered 100-continue ourselves
        }
        got_head = true;
        break;
      }
      if (!got_head) {
        // The request reached the backend (it may have acted on it): only idempotent
        // requests go again, on a fresh connection or to the next backend.
        if (last == Failure::stale_before_reply && reused && !fresh_retry_used && idempotent &&
            !body_consumed) {
          fresh_retry_used = true;
          continue;  // the pooled connection had gone stale: try a fresh one
        }
        backend.failures.fetch_add(1, std::memory_order_relaxed);
        lease.failure();
        lease.reset();
        if (last == Failure::stale_before_reply && idempotent && !body_consumed) break;
        co_return co_await respond_status(last == Failure::response_timeout ? 504 : 502,
                                          client_keep_alive_);
      }

      // --- response filter: rewrite the head for the client ---
      auto& response = *response_parser;
      auto& res = response.get();
      // A 5xx is relayed as sent, but counts against the backend's breaker.
      if (res.result_int() >= 500) {
        backend.failures.fetch_add(1, std::memory_order_relaxed);
        lease.failure();
      } else {
        lease.success();
      }
      const bool upstream_keep_alive = res.keep_alive();
      const bool has_body = !response.is_done();
      const bool known_length = static_cast<bool>(response.content_length());
      strip_hop_by_hop(res);
      bool keep_client = client_keep_alive_ && request_->is_done() && !draining_;
      if (has_body && !known_length) {
        if (client_version_ >= 11) {
          res.chunked(true);
        } else {
          keep_client = false;  // close-delimited for an HTTP/1.0 client
        }
      }
      res.version(11);
      if (client_version_ == 10) {
        res.set(http::field::connection, keep_client ? "keep-alive" : "close");
      } else if (!keep_client) {
        res.set(http::field::connection, "close");
      }
      append_via(res);
      if (!rate_limit_policy_.empty()) {
        res.set("RateLimit-Policy", rate_limit_policy_);
        res.set("RateLimit", rate_limit_value_);
      }

      // --- relay the response head and body to the client ---
      facts_.status = res.result_int();
      http::response_serializer<http::buffer_body> response_writer(res);
      arm(scfg.idle_timeout);
      auto [rhec, rhn] = co_await http::async_write_header(client_, response_writer, use_nothrow);
      if (rhec) co_return RequestEnd::abort;
      auto& rbody = res.body();
      while (!response.is_done()) {
        rbody.data = relay.data();
        rbody.size = relay.size();
        arm(ucfg.response_timeout);
        auto [rec, rn] =
            co_await http::async_read(conn->socket, conn->buffer, response, use_nothrow);
        if (rec == http::error::need_buffer) rec = {};
        if (rec) {
          // Truncated by the backend: never pass it off as complete.
          backend.failures.fetch_add(1, std::memory_order_relaxed);
          log::debug("response from " + backend.key + " cut off: " + rec.message());
          co_return RequestEnd::abort;
        }
        rbody.size = relay.size() - rbody.size;
        rbody.data = relay.data();
        facts_.bytes_out += rbody.size;
        rbody.more = !response.is_done();
        arm(scfg.idle_timeout);
        auto [cwec, cwn] = co_await http::async_write(client_, response_writer, use_nothrow);
        if (cwec == http::error::need_buffer) cwec = {};
        if (cwec) co_return RequestEnd::abort;
      }
      if (!response_writer.is_done()) {
        rbody.data = nullptr;
        rbody.size = 0;
        rbody.more = false;
        arm(scfg.idle_timeout);
        auto [fcwec, fcwn] = co_await http::async_write(client_, response_writer, use_nothrow);
        if (fcwec == http::error::need_buffer) fcwec = {};
        if (fcwec) co_return RequestEnd::abort;
      }

      // --- back to the pool, if the connection is clean ---
      if (upstream_keep_alive && response.is_done() && conn->buffer.size() == 0 &&
          (!had_body || request_writer->is_done())) {
        upstream_ = nullptr;
        worker_.pool().release(backend.slot, std::move(conn), ucfg.max_idle_per_backend);
      }
      co_return keep_client ? RequestEnd::keep_alive : RequestEnd::close;
    }
  }

  // No backend answered.
  switch (last) {
    case Failure::none: {
      // Nothing could take it: answer at once, saying when the earliest breaker half-opens.
      std::int64_t retry_after = 0;
      if (breaker_on) {
        for (const auto& b : up.backends) {
          if (b->breaker.state(now) != BreakerState::open) continue;
          const std::int64_t s = b->breaker.retry_after_seconds(now);
          if (retry_after == 0 || s < retry_after) retry_after = s;
        }
      }
      const std::string header =
          "Retry-After: " + std::to_string(std::max<std::int64_t>(1, retry_after)) + "\r\n";
      co_return co_await respond_status(503, client_keep_alive_, header);
    }
    case Failure::connect_timeout:
    case Failure::response_timeout:
      co_return co_await respond_status(504, client_keep_alive_);
    default:
      co_return co_await respond_status(502, client_keep_alive_);
  }
}

}  // namespace ringproxy
