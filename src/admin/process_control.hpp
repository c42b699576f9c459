// What the admin endpoints read of the running process and ask of it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "config/config_loader.hpp"
#include "runtime/backend_state.hpp"
#include "runtime/snapshot.hpp"

namespace ringproxy {

class ConsoleHistory;
class Worker;

// The outcome of a reload: the new generation, or the errors (old config kept), or refused
// because the process is draining (SIGTERM/SIGINT): nothing was read.
struct ReloadResult {
  std::uint64_t generation = 0;
  std::vector<ConfigError> errors;
  bool draining = false;
  bool ok() const { return !draining && errors.empty(); }

  static ReloadResult refused_while_draining() {
    ReloadResult r;
    r.draining = true;
    return r;
  }
};

// One backend's traffic, summed over the workers' own counters (for /metrics and /status).
struct BackendTotals {
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
  std::int64_t in_flight = 0;
  std::uint64_t connects = 0;       // connections opened to it
  std::int64_t h2_connections = 0;  // HTTP/2 connections to it open now
  std::uint64_t h2_streams = 0;
  std::uint64_t h2_ping_timeouts = 0;
};

// The process as the admin listener sees it; implemented by the app's Server. Every member
// is thread-safe except reload(), which runs on control_executor().
class ProcessControl {
 public:
  virtual std::shared_ptr<const Snapshot> snapshot() const = 0;
  // Reads the config file again and publishes a new snapshot, or changes nothing (also when
  // draining: then at once, with `draining` set).
  virtual ReloadResult reload() = 0;
  // SIGTERM/SIGINT came: the listeners are closing and in-flight requests finish.
  virtual bool draining() const = 0;
  virtual boost::asio::any_io_executor control_executor() = 0;
  virtual const std::vector<std::unique_ptr<Worker>>& workers() const = 0;
  virtual const BackendRegistry& registry() const = 0;
  virtual std::uint64_t reloads(bool success) const = 0;
  virtual std::size_t active_connections() const = 0;
  virtual BackendTotals backend_totals(std::uint32_t slot) const = 0;
  // The console's history: backend traffic, rate-limit refusals, reloads.
  virtual const ConsoleHistory& console_history() const = 0;

 protected:
  ~ProcessControl() = default;
};

}  // namespace ringproxy
