#include "app/server.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <thread>

#include "admin/admin_server.hpp"
#include "app/systemd_notify.hpp"
#include "config/config_loader.hpp"
#include "log/log.hpp"
#include "net/worker.hpp"
#include "proxy/downstream_connection.hpp"
#include "proxy/health_checker.hpp"

namespace ringproxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

Server::Server(std::string config_path, std::shared_ptr<const Snapshot> initial,
               std::shared_ptr<BackendRegistry> registry, std::shared_ptr<const TlsContexts> tls)
    : config_path_(std::move(config_path)),
      registry_(std::move(registry)),
      snapshots_(initial),
      tls_(std::move(tls)),
      connections_(initial->config().server.max_connections) {
  initial->apply_backend_settings();
}

Server::~Server() = default;

BackendTotals Server::backend_totals(std::uint32_t slot) const {
  BackendTotals t;
  for (const auto& w : workers_) {
    if (const auto* c = w->metrics().backend_counts(slot)) {
      t.requests += c->requests.load(std::memory_order_relaxed);
      t.failures += c->failures.load(std::memory_order_relaxed);
      t.in_flight += c->in_flight.load(std::memory_order_relaxed);
      t.connects += c->connects.load(std::memory_order_relaxed);
      t.h2_connections += c->h2_connections.load(std::memory_order_relaxed);
      t.h2_streams += c->h2_streams.load(std::memory_order_relaxed);
      t.h2_ping_timeouts += c->h2_ping_timeouts.load(std::memory_order_relaxed);
    }
  }
  return t;
}

Server::Acceptors Server::bind_address(const HostPort& address, std::string* error) {
  Acceptors out;
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address.host, ec);
  if (ec) {
    *error = "cannot listen on " + address.to_string() + ": not an IP address";
    return {};
  }
  tcp::endpoint endpoint(ip, address.port);
  // One acceptor per worker on the same port (SO_REUSEPORT): the kernel spreads
  // connections, and no worker waits on a shared accept lock.
  for (auto& worker : workers_) {
    tcp::acceptor acceptor(worker->context());
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.set_option(reuse_port(true), ec);
    if (!ec && endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      *error = "cannot listen on " + address.to_string() + ": " + ec.message();
      return {};
    }
    endpoint = acceptor.local_endpoint(ec);  // port 0: the others join the chosen port
    out.push_back(std::move(acceptor));
  }
  return out;
}

void Server::announce_listener(const HostPort& address, const Acceptors& acceptors, bool tls) {
  boost::system::error_code ec;
  const auto port = acceptors.empty() ? address.port : acceptors.front().local_endpoint(ec).port();
  log::info("listening on " + HostPort{address.host, port}.to_string() + (tls ? " (TLS)" : ""));
}

std::vector<std::pair<HostPort, TlsListenerCounters*>> Server::listeners_of(const Config& cfg) {
  std::vector<std::pair<HostPort, TlsListenerCounters*>> out;
  for (const HostPort& a : cfg.server.listen) out.emplace_back(a, nullptr);
  if (cfg.tls) {
    for (const HostPort& a : cfg.tls->listen) {
      out.emplace_back(a, &TlsMetrics::process().listener(a.to_string()));
    }
  }
  return out;
}

bool Server::bind_listeners() {
  for (const auto& [address, tls] : listeners_of(snapshot()->config())) {
    std::string error;
    auto acceptors = bind_address(address, &error);
    if (acceptors.empty()) {
      log::error(error);
      return false;
    }
    announce_listener(address, acceptors, tls != nullptr);
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      workers_[i]->add_acceptor(address, std::move(acceptors[i]), tls);
    }
  }
  return true;
}

int Server::run() {
  std::signal(SIGPIPE, SIG_IGN);
  // Signals are caught from before the first "listening" line: a SIGTERM sent as soon as the
  // proxy says it listens must drain it, not kill it. Asio holds signals that arrive before
  // the first async_wait.
  asio::signal_set signals(control_, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR1);
  const std::shared_ptr<const Snapshot> initial = snapshot();
  const Config& cfg = initial->config();
  unsigned n = cfg.server.workers;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  std::string error;
  if (!access_log_sink_.open(cfg.log.access_log, &error)) {
    log::error(error);
    return 1;
  }
  const WorkerShared shared{snapshots_, connections_, access_log_sink_, downstream_handlers(),
                            &tls_};
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(shared, i));
  if (!bind_listeners()) return 1;
  if (cfg.admin.listen) {
    admin_ = std::make_unique<AdminServer>(*this, *workers_.front());
    std::string error;
    if (!admin_->listen(*cfg.admin.listen, &error)) {
      log::error(error);
      return 1;
    }
  }
  for (auto& w : workers_) w->start();
  log::info("started " + std::to_string(n) + " worker(s), generation " +
            std::to_string(generation()));
  SystemdNotifier::process().ready(generation());

  health_ = std::make_unique<HealthCheckers>(control_);
  health_->sync(*snapshot());
  start_console_sampler();
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGUSR1) {
          access_log_sink_.reopen();
          log::info("received SIGUSR1: access log reopened");
          signals.async_wait(on_signal);
          return;
        }
        if (sig == SIGHUP) {
          reload();
          signals.async_wait(on_signal);
          return;
        }
        log::info(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                  ": closing listeners and draining");
        SystemdNotifier::process().stopping();
        draining_.store(true, std::memory_order_release);
        control_.stop();
      };
  signals.async_wait(on_signal);
  control_.run();

  drain_and_stop();
  return 0;
}

void Server::start_console_sampler() {
  console_timer_ = std::make_unique<asio::steady_timer>(control_);
  console_.sample(*this, std::chrono::steady_clock::now());
  // The timer is the server's and lives until the control loop has stopped: raw this is safe.
  struct Tick {
    Server* server;
    void operator()(const boost::system::error_code& ec) const {
      if (ec) return;
      server->console_.sample(*server, std::chrono::steady_clock::now());
      server->console_timer_->expires_at(server->console_timer_->expiry() +
                                         ConsoleHistory::kPeriod);
      server->console_timer_->async_wait(*this);
    }
  };
  console_timer_->expires_after(ConsoleHistory::kPeriod);
  console_timer_->async_wait(Tick{this});
}

void Server::drain_and_stop() {
  const auto timeout = snapshot()->config().server.drain_timeout;
  if (admin_) admin_->close();
  if (console_timer_) console_timer_->cancel();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& w : workers_) w->begin_drain(deadline);
  auto busy = [&] {
    std::size_t n = 0;
    for (auto& w : workers_) n += w->active_sessions();
    return n;
  };
  auto tunnels = [&] {
    std::int64_t n = 0;
    for (auto& w : workers_) n += w->metrics().tunnels();
    return n;
  };
  // Tunnels close themselves at the deadline (each logs its line): a moment is left for it.
  const auto tunnel_grace = deadline + kTunnelCloseGrace;
  // The control loop stopped at the signal; it is polled while the drain lasts, so that a
  // reload posted to it just before the signal is answered (503) rather than left waiting.
  control_.restart();
  for (auto now = std::chrono::steady_clock::now();
       busy() > 0 && (now < deadline || (tunnels() > 0 && now < tunnel_grace));
       now = std::chrono::steady_clock::now()) {
    control_.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::size_t left = busy();
  if (left > 0) {
    log::warn("drain timeout: closing " + std::to_string(left) + " connection(s)");
  } else {
    log::info("drain complete");
  }
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
  if (health_) health_->stop_all();
  admin_.reset();  // its acceptor belongs to worker 0's io_context: goes first
  retired_admins_.clear();
  workers_.clear();
}

}  // namespace ringproxy
