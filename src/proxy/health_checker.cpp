#include "proxy/health_checker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cstring>
#include <memory>
#include <random>

#include "log/log.hpp"
#include "net/backend_endpoint.hpp"
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
  asio::steady_timer timer;
  bool stopped = false;

  Checker(asio::io_context& ctx, std::shared_ptr<BackendState> b, HealthCheckConfig c)
      : backend(std::move(b)), config(std::move(c)), timer(ctx) {}

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
    const std::string request = "GET " + config.path +
                                " HTTP/1.1\r\nHost: " + backend->address.to_string() +
                                "\r\nUser-Agent: ringproxy-health\r\nConnection: close\r\n\r\n";
    auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(request), use_nothrow);
    if (wec) co_return finish(false, "write: " + wec.message());
    boost::beast::flat_buffer buffer(64 * 1024);
    http::response_parser<http::empty_body> parser;
    parser.skip(true);  // the status is all we need
    auto [rec, rn] = co_await http::async_read_header(socket, buffer, parser, use_nothrow);
    if (rec) co_return finish(false, "read: " + rec.message());
    const int status = parser.get().result_int();
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
          it->second->config.expected_status == up.config->health_check->expected_status) {
        next.emplace(backend->identity, it->second);  // unchanged: keeps running and its state
        continue;
      }
      auto checker = std::make_shared<Checker>(context_, backend, *up.config->health_check);
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
