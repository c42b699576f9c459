#include "proxy/health_checker.hpp"

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <array>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "http/h2_client_session.hpp"
#include "log/log.hpp"
#include "net/backend_endpoint.hpp"
#include "net/tls_context.hpp"
#include "policy/health_hysteresis.hpp"

namespace ringproxy {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
}  // namespace

// One backend's probe loop and what it needs; shared by the loop and the owner.
struct HealthCheckers::Checker {
  std::shared_ptr<BackendState> backend;
  HealthCheckConfig config;
  std::optional<UpstreamTlsConfig> tls;             // the upstream's tls: checks go over TLS too
  std::unique_ptr<asio::ssl::context> tls_context;  // made at the first check
  UpstreamProtocol protocol;                        // h2/h2c: checks speak HTTP/2 too
  asio::steady_timer timer;
  bool stopped = false;

  Checker(asio::io_context& ctx, std::shared_ptr<BackendState> b, HealthCheckConfig c,
          std::optional<UpstreamTlsConfig> t, UpstreamProtocol p)
      : backend(std::move(b)), config(std::move(c)), tls(std::move(t)), protocol(p), timer(ctx) {}

  // The GET over stream as one HTTP/2 stream (h2, h2c upstreams): its status, or 0 with *why.
  template <class Stream>
  asio::awaitable<int> ask_h2(Stream& stream, std::string* why) {
    const auto request = std::make_shared<H2Stream>();
    H2ClientSession session;
    const std::string authority = backend->address.to_string();
    const auto nv = [](std::string_view name, std::string_view value) {
      return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                        reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                        value.size(), NGHTTP2_NV_FLAG_NONE};
    };
    const std::vector<nghttp2_nv> nva{nv(":method", "GET"), nv(":scheme", tls ? "https" : "http"),
                                      nv(":authority", authority), nv(":path", config.path),
                                      nv("user-agent", "ringproxy-health")};
    session.submit(request, nva, false);
    std::array<std::uint8_t, 16384> buffer;
    for (;;) {
      for (auto out = session.output(); !out.empty(); out = session.output()) {
        auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(out), use_nothrow);
        if (wec) {
          *why = "write: " + wec.message();
          co_return 0;
        }
        session.sent(out.size());
      }
      if (request->head) co_return request->status;
      if (request->closed) {
        *why = "HTTP/2 stream closed before a response";
        co_return 0;
      }
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(buffer), use_nothrow);
      if (rec) {
        *why = "read: " + rec.message();
        co_return 0;
      }
      if (!session.receive(buffer.data(), n)) {
        *why = "HTTP/2 protocol error";
        co_return 0;
      }
    }
  }

  // The GET over stream: the response's status, or 0 with *why.
  template <class Stream>
  asio::awaitable<int> ask(Stream& stream, std::string* why) {
    if (protocol != UpstreamProtocol::http1) co_return co_await ask_h2(stream, why);
    const std::string request = "GET " + config.path +
                                " HTTP/1.1\r\nHost: " + backend->address.to_string() +
                                "\r\nUser-Agent: ringproxy-health\r\nConnection: close\r\n\r\n";
    auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(request), use_nothrow);
    if (wec) {
      *why = "write: " + wec.message();
      co_return 0;
    }
    boost::beast::flat_buffer buffer(64 * 1024);
    http::response_parser<http::empty_body> parser;
    parser.skip(true);  // the status is all we need
    auto [rec, rn] = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
    if (rec) {
      *why = "read: " + rec.message();
      co_return 0;
    }
    co_return parser.get().result_int();
  }

  // The GET over TLS on a connected socket (the upstream's CA, SNI and name checked).
  asio::awaitable<int> ask_tls(tcp::socket& socket, std::string* why) {
    if (!tls_context) tls_context = make_upstream_tls_context(*tls, why);
    if (!tls_context) co_return 0;
    asio::ssl::stream<tcp::socket&> stream(socket, *tls_context);
    const std::string& name = upstream_tls_name(*tls, backend->address);
    boost::system::error_code not_ip;
    asio::ip::make_address(name, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
    static constexpr unsigned char kH2[] = {2, 'h', '2'};
    if (protocol == UpstreamProtocol::h2) SSL_set_alpn_protos(stream.native_handle(), kH2, 3);
    if (tls->verify) stream.set_verify_callback(asio::ssl::host_name_verification(name));
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, use_nothrow);
    if (hec) {
      *why = "TLS handshake: " + hec.message();
      co_return 0;
    }
    co_return co_await ask(stream, why);
  }

  void stop() {
    stopped = true;
    timer.cancel();
  }

  // The socket of one probe and whether its deadline fired; shared with the deadline's
  // handler, which may already be queued (cancel() cannot stop it) when the probe returns.
  struct Attempt {
    explicit Attempt(const asio::any_io_executor& ex) : socket(ex) {}
    tcp::socket socket;
    bool timed_out = false;
  };

  // One check: GET config.path; passes when the status is in expected_status. Sets *reason.
  asio::awaitable<bool> probe(std::string* reason) {
    auto ex = co_await asio::this_coro::executor;
    const auto attempt = std::make_shared<Attempt>(ex);
    tcp::socket& socket = attempt->socket;
    asio::steady_timer deadline(ex);
    deadline.expires_after(config.timeout);
    deadline.async_wait([attempt](boost::system::error_code ec) {
      if (ec) return;
      attempt->timed_out = true;
      attempt->socket.close(ec);
    });
    const tcp::endpoint ep = endpoint_of(*backend);
    auto finish = [&](bool passed, std::string why) {
      deadline.cancel();
      *reason = attempt->timed_out
                    ? "timed out after " + std::to_string(config.timeout.count()) + "ms"
                    : std::move(why);
      return passed;
    };
    auto [cec] = co_await socket.async_connect(ep, use_nothrow);
    if (cec) co_return finish(false, "connect: " + cec.message());
    std::string why;
    const int status = tls ? co_await ask_tls(socket, &why) : co_await ask(socket, &why);
    if (status == 0) co_return finish(false, why);
    boost::system::error_code ignored;
    socket.close(ignored);
    co_return finish(config.expected_status.contains(status), "status " + std::to_string(status));
  }
};

namespace {

asio::awaitable<void> check_loop(std::shared_ptr<HealthCheckers::Checker> c);

}  // namespace

HealthCheckers::~HealthCheckers() {
  stop_all();
}

void HealthCheckers::sync(const Snapshot& snapshot) {
  std::unordered_map<std::string, std::shared_ptr<Checker>> next;
  for (const auto& up : snapshot.upstreams()) {
    if (!up.config->health_check) continue;
    for (const auto& backend : up.backends()) {
      // One checker per backend of an upstream: an address in two upstreams has two, each
      // with its upstream's settings and its own verdict.
      auto it = checkers_.find(backend->identity);
      if (it != checkers_.end() && it->second->backend == backend &&
          it->second->config.path == up.config->health_check->path &&
          it->second->config.interval == up.config->health_check->interval &&
          it->second->config.timeout == up.config->health_check->timeout &&
          it->second->config.healthy_threshold == up.config->health_check->healthy_threshold &&
          it->second->config.unhealthy_threshold == up.config->health_check->unhealthy_threshold &&
          it->second->config.expected_status == up.config->health_check->expected_status &&
          it->second->tls == up.config->tls && it->second->protocol == up.config->protocol) {
        next.emplace(backend->identity, it->second);  // unchanged: keeps running and its state
        continue;
      }
      auto checker = std::make_shared<Checker>(context_, backend, *up.config->health_check,
                                               up.config->tls, up.config->protocol);
      next.emplace(backend->identity, checker);
      asio::co_spawn(context_, check_loop(checker), asio::detached);
    }
  }
  for (auto& [key, checker] : checkers_) {
    auto it = next.find(key);
    if (it != next.end() && it->second == checker) continue;
    checker->stop();
    // Unchecked from now on: a backend nobody checks is taken as healthy.
    if (it == next.end()) checker->backend->healthy.store(true, std::memory_order_relaxed);
  }
  checkers_ = std::move(next);
}

void HealthCheckers::stop_all() {
  for (auto& [key, checker] : checkers_) checker->stop();
  checkers_.clear();
}

namespace {

asio::awaitable<void> check_loop(std::shared_ptr<HealthCheckers::Checker> c) {
  HealthHysteresis hysteresis(c->config.healthy_threshold, c->config.unhealthy_threshold);
  // A restarted checker (settings changed) starts from the state its backend is in.
  if (!c->backend->healthy.load(std::memory_order_relaxed)) {
    for (unsigned i = 0; i < c->config.unhealthy_threshold; ++i) hysteresis.record(false);
  }
  std::mt19937_64 random(std::random_device{}());
  while (!c->stopped) {
    std::string reason;
    const bool passed = co_await c->probe(&reason);
    if (c->stopped) break;
    switch (hysteresis.record(passed)) {
      case HealthHysteresis::Transition::became_unhealthy:
        c->backend->healthy.store(false, std::memory_order_relaxed);
        log::warn("backend " + c->backend->key + " is down (upstream \"" + c->backend->upstream +
                  "\"): health check " + c->config.path + " failed " +
                  std::to_string(c->config.unhealthy_threshold) + " time(s), last: " + reason);
        break;
      case HealthHysteresis::Transition::became_healthy:
        c->backend->healthy.store(true, std::memory_order_relaxed);
        log::info("backend " + c->backend->key + " is up (upstream \"" + c->backend->upstream +
                  "\"): health check " + c->config.path + " passed " +
                  std::to_string(c->config.healthy_threshold) + " time(s)");
        break;
      case HealthHysteresis::Transition::none:
        break;
    }
    c->timer.expires_after(jittered_interval(c->config.interval, random()));
    co_await c->timer.async_wait(use_nothrow);
  }
}

}  // namespace

}  // namespace ringproxy
