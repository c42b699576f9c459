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
#include <charconv>
#include <cstring>
#include <span>

#include "http/buffered_head.hpp"
#include "http/forwarded_head.hpp"
#include "http/http_status.hpp"
#include "log/log.hpp"
#include "net/backend_endpoint.hpp"
#include "net/relay_buffer.hpp"
#include "net/socket_now.hpp"
#include "net/upstream_pool.hpp"
#include "net/worker.hpp"
#include "policy/client_address.hpp"
#include "policy/hash_key.hpp"
#include "policy/head_validator.hpp"
#include "policy/http_fields.hpp"
#include "proxy/client_session.hpp"

namespace ringproxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kUpstreamHeaderLimit = 64 * 1024;
constexpr std::size_t kUpstreamReadSize = 64 * 1024;  // at most this much per body read

// Why an attempt at one backend failed, classified for retries and the client's status.
enum class Failure {
  none,
  connect_refused,     // retryable on another backend
  connect_timeout,     // retryable on another backend
  stale_before_reply,  // reset/EOF before any response byte: retryable for idempotent
  response_timeout,    // 504
  bad_response,        // 502
};

// Writes one piece of a relayed body, after head (when not empty), in one gather write: as is,
// or framed as a chunk when chunked (with the last chunk after it when last). Nothing to write
// is no write. False when the write failed.
asio::awaitable<bool> write_body_piece(WorkerSocket& socket, std::string_view head,
                                       const char* data, std::size_t n, bool chunked, bool last) {
  static constexpr std::string_view kCrlf = "\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  std::array<asio::const_buffer, 5> pieces;
  std::size_t count = 0;
  char size_line[2 * sizeof(std::size_t) + 2];
  if (!head.empty()) pieces[count++] = asio::buffer(head.data(), head.size());
  if (n > 0) {
    if (chunked) {
      auto [end, ec] = std::to_chars(size_line, size_line + sizeof(size_line) - 2, n, 16);
      *end++ = '\r';
      *end++ = '\n';
      pieces[count++] = asio::buffer(size_line, static_cast<std::size_t>(end - size_line));
    }
    pieces[count++] = asio::buffer(data, n);
    if (chunked) pieces[count++] = asio::buffer(kCrlf.data(), kCrlf.size());
  }
  if (chunked && last) pieces[count++] = asio::buffer(kLastChunk.data(), kLastChunk.size());
  if (count == 0) co_return true;
  const std::span<const asio::const_buffer> buffers(pieces.data(), count);
  boost::system::error_code ec;
  const std::size_t done = write_now(socket, buffers, ec);
  if (!ec && done < asio::buffer_size(buffers)) ec = co_await write_rest(socket, buffers, done);
  co_return !ec;
}

// Settles the lease's breaker permit as a failure, saying so when that opened the breaker.
void settle_failure(BackendLease& lease) {
  const auto now = std::chrono::steady_clock::now();
  BackendState* b = lease.backend();
  if (b && lease.failure(now)) {
    log::warn("breaker for " + b->key + " opened for " +
              std::to_string(b->breaker.retry_after_seconds(now)) + "s");
  }
}

// Settles the lease's breaker permit as a success, saying so when a trial closed the breaker.
void settle_success(BackendLease& lease) {
  BackendState* b = lease.backend();
  if (b && lease.success(std::chrono::steady_clock::now())) {
    log::info("breaker for " + b->key + " closed: the trial succeeded");
  }
}

}  // namespace

std::uint64_t ClientSession::request_key_hash(const Snapshot& snap, const UpstreamRuntime& up) {
  const auto& req = request_->get();
  auto header = [&req](std::string_view name) -> std::string_view {
    auto it = req.find(name);
    return it == req.end() ? std::string_view{} : std::string_view(it->value());
  };
  return hash_request_key(up.hash_key, KeySource{client_address_of(snap), path_, header});
}

void ClientSession::prepare_upstream_head() {
  const auto& req = request_->get();
  if (req.find("x-request-id") == req.end()) request_id_.assign(worker_.request_ids().next());
  write_upstream_request_head(
      req,
      UpstreamRequestHead{path_, client_ip_, host_.empty() ? local_authority_ : host_, host_,
                          request_id_, request_->chunked()},
      upstream_head_);
}

asio::awaitable<RequestEnd> ClientSession::forward(const Snapshot& snap,
                                                   const UpstreamRuntime& up) {
  const UpstreamConfig& ucfg = *up.config;
  const ServerConfig& scfg = snap.config().server;
  auto& req = request_->get();
  const bool idempotent = is_idempotent_method(req.method_string());
  const bool head_request = req.method() == http::verb::head;
  const std::uint64_t key = request_key_hash(snap, up);
  prepare_upstream_head();
  const bool chunked_request = request_->chunked();
  facts_.upstream = ucfg.name;
  facts_.upstream_id = up.metrics_id;

  // Taken only for bodies that go through the parser (chunked ones, and request bodies).
  std::optional<RelayBuffer> relay;

  const auto now = std::chrono::steady_clock::now();
  Selection selection(*up.selector, key, worker_.next_sequence(), now, worker_.index());
  BackendLease& lease = selection.lease();
  Failure last = Failure::none;
  bool body_consumed = false;  // client body bytes were read: the request cannot be replayed
  bool continue_sent = false;

  while (!body_consumed) {
    BackendState* const picked = selection.next(last == Failure::stale_before_reply);
    if (!picked) break;
    BackendState& backend = *picked;
    if (lease.trial())
      log::info("breaker for " + backend.key + " is half-open: sending a trial request");
    // This worker's counters for the backend: no cache line shared with other workers.
    WorkerMetrics::BackendCounts* const counts = worker_.metrics().backend(backend.slot);
    facts_.backend = backend.key;
    ++facts_.attempts;

    // A pooled connection, or a new one; a stale pooled one is replaced once, for free.
    bool fresh_retry_used = false;
    for (;;) {
      std::unique_ptr<UpstreamConnection> conn = worker_.pool().acquire(backend.slot, !idempotent);
      const bool reused = conn != nullptr;
      if (!conn) {
        conn = std::make_unique<UpstreamConnection>(client_.get_executor(),
                                                    worker_.upstream_buffers());
        upstream_ = conn.get();
        arm(ucfg.connect_timeout);
        const auto endpoint = endpoint_of(backend);
        auto [cec] = co_await conn->socket.async_connect(endpoint, use_nothrow);
        upstream_ = nullptr;
        if (!cec) watch_reads_only(conn->socket, endpoint.protocol(), cec);
        if (cec) {
          last = timed_out() ? Failure::connect_timeout : Failure::connect_refused;
          WorkerMetrics::count_failure(counts);
          settle_failure(lease);
          lease.reset();
          log::debug("connect to " + backend.key + " failed: " + cec.message());
          break;  // next backend
        }
        boost::system::error_code ignored;
        conn->socket.set_option(tcp::no_delay(true), ignored);
      }
      ++conn->uses;
      // In flight: per worker, and across workers only when bounded loads must compare it.
      WorkerMetrics::count_request(counts);
      WorkerMetrics::add_in_flight(counts, 1);
      struct InFlight {
        WorkerMetrics::BackendCounts* c;
        ~InFlight() { WorkerMetrics::add_in_flight(c, -1); }
      } in_flight{counts};
      upstream_ = conn.get();
      struct ClearUpstream {
        UpstreamConnection*& p;
        ~ClearUpstream() { p = nullptr; }
      } clear_upstream{upstream_};

      // --- send the request head ---
      arm(ucfg.response_timeout);
      const auto head_buffer = asio::buffer(upstream_head_.data(), upstream_head_.size());
      boost::system::error_code wec;
      const std::size_t head_done = write_now(conn->socket, head_buffer, wec);
      if (!wec && head_done < upstream_head_.size()) {
        wec = co_await write_rest(conn->socket, head_buffer, head_done);
      }
      if (wec) {
        if (reused && !fresh_retry_used) {
          fresh_retry_used = true;
          continue;
        }
        last = timed_out() ? Failure::response_timeout : Failure::stale_before_reply;
        WorkerMetrics::count_failure(counts);
        settle_failure(lease);
        lease.reset();
        break;
      }

      // --- stream the request body, if any ---
      const bool had_body = !request_->is_done();
      bool request_sent = !had_body;
      if (had_body) {
        if (expect_continue_ && !continue_sent) {
          continue_sent = true;
          if (!co_await write_client(kContinueResponse)) co_return RequestEnd::abort;
        }
        body_consumed = true;
        if (!relay) relay.emplace(worker_.relay_buffers());
        auto& body = req.body();
        while (!request_sent) {
          body.data = relay->data();
          body.size = relay->size();
          arm(scfg.idle_timeout);
          auto [rec, rn] =
              co_await http::async_read_some(client_, client_buffer_, *request_, use_nothrow);
          if (rec == http::error::need_buffer) rec = {};
          if (rec == http::error::body_limit) {
            // Too large while streaming (chunked): abort upstream, 413 if nothing answered.
            co_return co_await respond_status(413, false);
          }
          if (rec && rec.category() == http::make_error_code(http::error::bad_chunk).category() &&
              rec != http::error::end_of_stream && rec != http::error::partial_message) {
            // Broken framing in the body (a bad or overflowing chunk size, ...): the backend
            // got part of it and its connection is dropped; the client gets 400 and a close.
            co_return co_await respond_status(400, false);
          }
          // A client too slow with its body gets 408 (nothing has been answered yet), as
          // from nginx's client_body_timeout; one that is gone gets nothing.
          if (rec && timed_out()) co_return co_await respond_status(408, false);
          if (rec) co_return RequestEnd::abort;
          const std::size_t n = relay->size() - body.size;
          facts_.bytes_in += n;
          request_sent = request_->is_done();
          arm(ucfg.response_timeout);
          if (!co_await write_body_piece(conn->socket, {}, relay->data(), n, chunked_request,
                                         request_sent)) {
            WorkerMetrics::count_failure(counts);
            settle_failure(lease);
            co_return co_await respond_status(timed_out() ? 504 : 502, client_keep_alive_);
          }
        }
      }

      // --- read the response head (skipping interim 1xx) ---
      std::optional<ResponseParser> response_parser;
      bool got_head = false;
      bool drained_read = false;  // the head's last read was direct and came back short
      for (;;) {
        response_parser.reset();
        response_arena_.reset();
        auto& response =
            response_parser.emplace(std::piecewise_construct, std::make_tuple(),
                                    std::make_tuple(ArenaAllocator<char>(response_arena_)));
        response.header_limit(kUpstreamHeaderLimit);
        response.body_limit(std::numeric_limits<std::uint64_t>::max());
        if (head_request) response.skip(true);
        arm(ucfg.response_timeout);
        const bool had_bytes = conn->buffer.size() > 0;
        drained_read = false;
        // The whole head in the buffer, held to RFC 9112 strictly, before Beast parses it.
        boost::system::error_code hec;
        std::size_t received = 0;
        HeadVerdict verdict;
        for (;;) {
          const auto data = conn->buffer.cdata();
          const std::string_view buffered(static_cast<const char*>(data.data()), data.size());
          const std::size_t head_end = find_head_end(buffered);
          if (head_end != std::string_view::npos) {
            verdict = validate_response_head(buffered.substr(0, head_end));
            break;
          }
          verdict = check_partial_response_head(buffered);
          if (!verdict) break;
          if (buffered.size() >= kUpstreamHeaderLimit) {
            verdict = HeadVerdict{502, true, "response head too large"};
            break;
          }
          // Wait for a drained socket (no recv that finds nothing), then read it directly.
          const auto space = conn->buffer.prepare(16 * 1024);
          boost::system::error_code rec;
          std::size_t rn = 0;
          if (!may_be_readable(conn->socket))
            std::tie(rec) = co_await async_wait_readable(conn->socket, use_nothrow);
          if (!rec) rn = read_now(conn->socket, space, rec);
          drained_read = rn > 0 && rn < space.size();
          if (!rec && rn == 0)
            std::tie(rec, rn) = co_await conn->socket.async_read_some(space, use_nothrow);
          if (rec) {
            hec = rec;
            break;
          }
          conn->buffer.commit(rn);
          received += rn;
        }
        if (!hec && verdict) hec = parse_buffered_head(response, conn->buffer);
        if (hec || !verdict) {
          if (timed_out()) {
            last = Failure::response_timeout;
          } else if (hec && !had_bytes && received == 0 &&
                     (hec == asio::error::eof || hec == asio::error::connection_reset)) {
            last = Failure::stale_before_reply;
          } else {
            last = Failure::bad_response;
            log::debug("bad response head from " + backend.key + ": " +
                       (verdict ? hec.message() : std::string(verdict.reason)));
          }
          break;
        }
        const int status = response.get().result_int();
        if (status == 101) {  // Upgrade is never forwarded: a switch nobody asked for
          last = Failure::bad_response;
          break;
        }
        if (status >= 100 && status < 200) {
          // Interim responses go on to HTTP/1.1 clients (103 Early Hints, ...), except 100
          // Continue: the proxy answered Expect itself.
          if (status != 100 && client_version_ >= 11) {
            write_client_response_head(response.get(), ClientResponseHead{}, response_head_);
            if (!co_await write_client(response_head_)) co_return RequestEnd::abort;
          }
          continue;
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
        WorkerMetrics::count_failure(counts);
        settle_failure(lease);
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
        WorkerMetrics::count_failure(counts);
        settle_failure(lease);
      } else {
        settle_success(lease);
      }
      const bool upstream_keep_alive = res.keep_alive();
      const bool known_length = static_cast<bool>(response.content_length());
      bool keep_client = client_keep_alive_ && request_->is_done() && !draining_;
      const bool chunked_response = !response.is_done() && !known_length && client_version_ >= 11;
      if (!response.is_done() && !known_length && client_version_ < 11) {
        keep_client = false;  // close-delimited for an HTTP/1.0 client
      }
      std::string_view connection;
      if (client_version_ == 10) {
        connection = keep_client ? "keep-alive" : "close";
      } else if (!keep_client) {
        connection = "close";
      }
      write_client_response_head(
          res,
          ClientResponseHead{chunked_response, connection, rate_limit_policy_, rate_limit_value_},
          response_head_);
      facts_.status = res.result_int();

      // The whole response came with the head's last read, which came back short: the
      // connection is drained, and waiting for its next response needs no system call.
      if (drained_read && (response.is_done() ||
                           (known_length && conn->buffer.size() == *response.content_length()))) {
        note_drained(conn->socket);
      }

      // --- relay the response head and body to the client ---
      // The head goes out with the first body bytes (those that came with it) in one write.
      bool body_done = response.is_done();
      if (!body_done && known_length) {
        // Content-Length: relay the bytes straight from the connection's buffer, no parsing.
        std::uint64_t remaining = *response.content_length();
        std::string_view head = response_head_;
        for (;;) {
          const auto buffered = conn->buffer.data();
          const std::size_t n =
              static_cast<std::size_t>(std::min<std::uint64_t>(buffered.size(), remaining));
          remaining -= n;
          facts_.bytes_out += n;
          arm(scfg.idle_timeout);
          // The common case, inline: no coroutine of its own while the kernel takes it all.
          const std::array<asio::const_buffer, 2> pieces{asio::buffer(head.data(), head.size()),
                                                         asio::buffer(buffered.data(), n)};
          boost::system::error_code wec;
          const std::size_t done = write_now(client_, pieces, wec);
          if (!wec && done < head.size() + n) wec = co_await write_rest(client_, pieces, done);
          if (wec) co_return RequestEnd::abort;
          head = {};
          conn->buffer.consume(n);
          if (remaining == 0) break;
          arm(ucfg.response_timeout);
          // One byte of room past the rest: a read that brings the rest and comes back short
          // leaves the connection known drained (and a byte beyond the body keeps it out of
          // the pool).
          const auto space = conn->buffer.prepare(
              static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kUpstreamReadSize - 1)) +
              1);
          boost::system::error_code rec;
          std::size_t rn = 0;
          if (!may_be_readable(conn->socket))
            std::tie(rec) = co_await async_wait_readable(conn->socket, use_nothrow);
          if (!rec) rn = read_now(conn->socket, space, rec);
          if (rn >= remaining && rn < space.size()) note_drained(conn->socket);
          if (!rec && rn == 0)
            std::tie(rec, rn) = co_await conn->socket.async_read_some(space, use_nothrow);
          if (rec) {
            // Truncated by the backend: never pass it off as complete.
            WorkerMetrics::count_failure(counts);
            log::debug("response from " + backend.key + " cut off: " + rec.message());
            co_return RequestEnd::abort;
          }
          conn->buffer.commit(rn);
        }
        body_done = true;
      } else {
        auto& rbody = res.body();
        bool head_sent = false;
        do {
          std::size_t n = 0;
          if (!response.is_done()) {
            if (!relay) relay.emplace(worker_.relay_buffers());
            rbody.data = relay->data();
            rbody.size = relay->size();
            arm(ucfg.response_timeout);
            auto [rec, rn] =
                co_await http::async_read_some(conn->socket, conn->buffer, response, use_nothrow);
            if (rec == http::error::need_buffer) rec = {};
            if (rec) {
              // Truncated by the backend: never pass it off as complete.
              WorkerMetrics::count_failure(counts);
              log::debug("response from " + backend.key + " cut off: " + rec.message());
              if (!head_sent) co_return co_await respond_status(502, false);
              co_return RequestEnd::abort;
            }
            n = relay->size() - rbody.size;
            facts_.bytes_out += n;
          }
          arm(scfg.idle_timeout);
          const std::string_view head = head_sent ? std::string_view{} : response_head_;
          head_sent = true;
          if (!co_await write_body_piece(client_, head, relay ? relay->data() : nullptr, n,
                                         chunked_response, response.is_done())) {
            co_return RequestEnd::abort;
          }
        } while (!response.is_done());
        body_done = true;
      }

      // --- back to the pool, if the connection is clean ---
      if (upstream_keep_alive && body_done && conn->buffer.size() == 0 && request_sent) {
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
      const std::string header =
          "Retry-After: " + std::to_string(up.selector->retry_after_seconds(now)) + "\r\n";
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
