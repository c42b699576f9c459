// The process: listeners, workers, the current snapshot, signals and graceful drain.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "admin/console_history.hpp"
#include "admin/process_control.hpp"
#include "log/access_log.hpp"
#include "net/connection_count.hpp"
#include "net/tls_context.hpp"
#include "net/tls_metrics.hpp"
#include "runtime/backend_state.hpp"
#include "runtime/snapshot.hpp"
#include "runtime/snapshot_store.hpp"

namespace ringproxy {

class Worker;
class AdminServer;
class HealthCheckers;

// Owns the workers. snapshot()/generation() are thread-safe (mutex + atomic); the rest is
// called from the main thread only.
class Server final : public ProcessControl {
 public:
  // tls: the initial generation's TLS contexts (build_tls_contexts).
  Server(std::string config_path, std::shared_ptr<const Snapshot> initial,
         std::shared_ptr<BackendRegistry> registry, std::shared_ptr<const TlsContexts> tls);
  ~Server();

  // Binds, starts the workers and blocks until SIGTERM/SIGINT and the drain end. Returns the
  // process exit code.
  int run();

  // Reads the config file again and publishes a new snapshot, or changes nothing and
  // returns the errors. Called on the main thread (SIGHUP) or the admin worker; one at a time.
  // A transaction (server_reload.cpp): prepare_reload() makes everything the new config needs
  // and installs nothing, commit_reload() installs it and cannot fail.
  ReloadResult reload() override;

  bool draining() const override { return draining_.load(std::memory_order_acquire); }
  std::shared_ptr<const Snapshot> snapshot() const override { return snapshots_.current(); }
  // The control loop (main thread): reloads and health checks run there, off the workers.
  boost::asio::any_io_executor control_executor() override { return control_.get_executor(); }
  std::uint64_t generation() const { return snapshots_.generation(); }
  std::size_t active_connections() const override { return connections_.active(); }
  const std::vector<std::unique_ptr<Worker>>& workers() const override { return workers_; }
  BackendTotals backend_totals(std::uint32_t slot) const override;
  const BackendRegistry& registry() const override { return *registry_; }
  std::uint64_t reloads(bool success) const override {
    return (success ? reloads_ok_ : reloads_failed_).load(std::memory_order_relaxed);
  }
  const ConsoleHistory& console_history() const override { return console_; }

 private:
  struct PreparedReload;  // what a reload made and has not installed yet (server_reload.cpp)
  using Acceptors = std::vector<boost::asio::ip::tcp::acceptor>;

  bool bind_listeners();
  // Every listen address of cfg (cleartext and TLS), with its TLS counters (null: cleartext).
  static std::vector<std::pair<HostPort, TlsListenerCounters*>> listeners_of(const Config& cfg);
  // One bound, listening acceptor per worker on address (empty, with *error, on failure). Not
  // accepting yet, and not announced: announce_listener() says where it listens.
  Acceptors bind_address(const HostPort& address, std::string* error);
  static void announce_listener(const HostPort& address, const Acceptors& acceptors,
                                bool tls = false);
  void drain_and_stop();
  // How long past the drain's deadline the tunnels that close at it are waited for.
  static constexpr std::chrono::milliseconds kTunnelCloseGrace{250};
  // Samples the console's history every ConsoleHistory::kPeriod on the control loop.
  void start_console_sampler();

  // The reload steps, under reload_mutex_. prepare_reload() returns nullopt, with *errors,
  // having dropped whatever it made (sockets and files closed).
  std::optional<PreparedReload> prepare_reload(std::vector<ConfigError>* errors);
  bool bind_added_listeners(const Config& current, PreparedReload& prepared,
                            std::vector<ConfigError>* errors);
  bool bind_moved_admin(const Config& current, PreparedReload& prepared,
                        std::vector<ConfigError>* errors);
  bool open_access_log(const Config& current, PreparedReload& prepared,
                       std::vector<ConfigError>* errors);
  // Installs a prepared reload; returns the new generation.
  std::uint64_t commit_reload(PreparedReload&& prepared);
  void swap_listeners(PreparedReload& prepared);
  void swap_admin(std::unique_ptr<AdminServer> next);

  std::mutex reload_mutex_;
  std::string config_path_;
  std::shared_ptr<BackendRegistry> registry_;
  SnapshotStore snapshots_;
  TlsStore tls_;
  ConnectionCount connections_;
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
  ConsoleHistory console_;
  std::atomic<bool> draining_{false};  // set once, by SIGTERM/SIGINT on the control loop
  AccessLogSink access_log_sink_;
  boost::asio::io_context control_{1};  // signals and health checks, on the main thread
  std::unique_ptr<boost::asio::steady_timer> console_timer_;  // on control_: declared after it
  std::unique_ptr<HealthCheckers> health_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<AdminServer> admin_;
  // Admin servers a reload replaced: closed, kept until shutdown (their loops may still run).
  std::vector<std::unique_ptr<AdminServer>> retired_admins_;
};

}  // namespace ringproxy
