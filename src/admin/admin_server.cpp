#include "admin/admin_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>

#include "admin/console_page.hpp"
#include "admin/explain_json.hpp"
#include "admin/metrics_text.hpp"
#include "admin/process_control.hpp"
#include "admin/status_json.hpp"
#include "log/log.hpp"
#include "net/worker.hpp"

namespace ringproxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// The console page: everything it loads comes from this listener (the policy says so to the
// browser too), and it is never cached (a new binary may serve a new page).
void console(http::response<http::string_body>& res) {
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.set("Content-Security-Policy",
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
          "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'");
  res.set("X-Content-Type-Options", "nosniff");
  res.body() = console_page();
}

// GET /explain?upstream=NAME&key=K: JSON; upstream defaults to the first one.
void explain(const ProcessControl& server, std::string_view target,
             http::response<http::string_body>& res) {
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  const auto snap = server.snapshot();
  const std::optional<std::string> name = query_parameter(target, "upstream");
  const std::optional<std::string> key = query_parameter(target, "key");
  const UpstreamRuntime* up = nullptr;
  for (const auto& u : snap->upstreams()) {
    if (!name || name->empty() || u.config->name == *name) {
      up = &u;
      break;
    }
  }
  if (!key) {
    res.result(http::status::bad_request);
    res.body() = "{\"error\": \"key: missing or badly encoded query parameter\"}\n";
  } else if (up == nullptr) {
    res.result(http::status::not_found);
    res.body() = "{\"error\": \"no such upstream\"}\n";
  } else {
    res.body() = explain_json(*up, *key, std::chrono::steady_clock::now()) + "\n";
  }
}

// The answer to req; reload is the outcome of the reload a POST /reload asked for.
http::response<http::string_body> answer(ProcessControl& server,
                                         const http::request<http::string_body>& req,
                                         const std::optional<ReloadResult>& reload) {
  http::response<http::string_body> res{http::status::ok, 11};
  res.set(http::field::server, "ringproxy");
  res.set(http::field::content_type, "text/plain");
  const std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  if (path == "/" && get) {
    console(res);
  } else if (path == "/explain" && get) {
    explain(server, target, res);
  } else if (path == "/healthz" && get) {
    res.body() = "ok\n";
  } else if (path == "/status" && get) {
    res.set(http::field::content_type, "application/json");
    res.body() = status_json(server);
  } else if (path == "/metrics" && get) {
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = metrics_text(server);
  } else if (path == "/reload" && req.method() == http::verb::post && reload) {
    const ReloadResult& r = *reload;
    if (r.draining) {
      res.result(http::status::service_unavailable);
      res.set(http::field::retry_after, "1");
      res.body() = "draining: not reloaded\n";
    } else if (r.ok()) {
      res.body() = "reloaded: generation " + std::to_string(r.generation) + "\n";
    } else {
      res.result(http::status::bad_request);
      for (const auto& e : r.errors) res.body() += e.to_string() + "\n";
    }
  } else if (path == "/" || path == "/explain" || path == "/healthz" || path == "/status" ||
             path == "/metrics" || path == "/reload") {
    res.result(http::status::method_not_allowed);
    res.body() = "method not allowed\n";
  } else {
    res.result(http::status::not_found);
    res.body() = "not found\n";
  }
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

asio::awaitable<void> serve(ProcessControl& server, tcp::socket socket) {
  beast::flat_buffer buffer(64 * 1024);
  asio::steady_timer timer(socket.get_executor());
  for (;;) {
    // Admin connections get a fixed 30 s per request: they must not linger forever.
    timer.expires_after(std::chrono::seconds(30));
    timer.async_wait([&socket](boost::system::error_code ec) {
      if (!ec) socket.cancel(ec);
    });
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    auto [ec, n] = co_await http::async_read(socket, buffer, parser, use_nothrow);
    if (ec) break;
    std::optional<ReloadResult> reload;
    const auto& req = parser.get();
    const std::string_view target = req.target();
    if (req.method() == http::verb::post && target.substr(0, target.find('?')) == "/reload") {
      // Read, validate and build on the control loop, never on this worker's event loop.
      // During a drain the answer is at once (the control loop only polls then).
      if (server.draining()) {
        reload = ReloadResult::refused_while_draining();
      } else {
        reload = co_await asio::co_spawn(
            server.control_executor(),
            [&server]() -> asio::awaitable<ReloadResult> { co_return server.reload(); },
            asio::use_awaitable);
      }
    }
    auto res = answer(server, req, reload);
    auto [wec, wn] = co_await http::async_write(socket, res, use_nothrow);
    timer.cancel();
    if (wec || !res.keep_alive()) break;
  }
  timer.cancel();
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace

AdminServer::AdminServer(ProcessControl& server, Worker& worker)
    : server_(server), worker_(worker) {}

AdminServer::~AdminServer() = default;

bool AdminServer::bind(const HostPort& address, std::string* error) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address.host, ec);
  if (ec) {
    *error = "cannot listen (admin) on " + address.to_string() + ": not an IP address";
    return false;
  }
  tcp::endpoint endpoint(ip, address.port);
  acceptor_ = std::make_unique<tcp::acceptor>(worker_.context());
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = "cannot listen (admin) on " + address.to_string() + ": " + ec.message();
    acceptor_.reset();
    return false;
  }
  endpoint = acceptor_->local_endpoint(ec);
  announced_ = HostPort{address.host, endpoint.port()}.to_string();
  return true;
}

void AdminServer::start() {
  log::info("admin listening on " + announced_);
  asio::co_spawn(
      worker_.context(),
      [this]() -> asio::awaitable<void> {
        for (;;) {
          auto [aec, socket] = co_await acceptor_->async_accept(use_nothrow);
          if (aec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
          if (aec) continue;
          asio::co_spawn(worker_.context(), serve(server_, std::move(socket)), asio::detached);
        }
      },
      asio::detached);
}

bool AdminServer::listen(const HostPort& address, std::string* error) {
  if (!bind(address, error)) return false;
  start();
  return true;
}

void AdminServer::close() {
  asio::post(worker_.context(), [this] {
    boost::system::error_code ignored;
    if (acceptor_) acceptor_->close(ignored);
  });
}

}  // namespace ringproxy
