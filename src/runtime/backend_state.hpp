// Per-backend state that outlives config snapshots (health, load, counters), keyed by upstream
// and address: a backend listed in two upstreams is two backends.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/host_port.hpp"
#include "policy/circuit_breaker.hpp"

namespace ringproxy {

// One backend's live state. Identity fields are immutable; the rest are relaxed atomics
// written by any worker, so it is safe to share between threads.
struct BackendState {
  HostPort address;
  std::string key;       // address.to_string(): its name in /status, /metrics and on the ring
  std::string upstream;  // the upstream it belongs to: its health check and breaker apply
  // upstream and key: the identity that survives reloads (BackendRegistry's, health checkers')
  std::string identity;
  // Dense, process-unique index for per-worker tables: pools and traffic counters. The same
  // address in two upstreams has two slots, so two pools: each upstream's max_idle_per_backend
  // bounds its own connections, and a connection's failure counts against its own breaker.
  std::uint32_t slot = 0;
  sockaddr_storage sockaddr{};
  socklen_t sockaddr_len = 0;

  // Health (written by the backend's one health checker), breaker and concurrency cap
  // (configured by the snapshot that is in force, driven by every worker); all lock-free.
  std::atomic<bool> healthy{true};
  CircuitBreaker breaker;
  ConcurrencyLimit concurrency;

  // Requests in flight from every worker, kept only while bounded loads need it for the pick
  // (other counters are per worker: WorkerMetrics::BackendCounts).
  std::atomic<std::int64_t> in_flight{0};
};

// "KEY of upstream NAME": how log lines name a backend (an address may serve two upstreams).
inline std::string log_name(const BackendState& b) {
  return b.key + " of upstream " + b.upstream;
}

// Hands out the BackendState for an address in an upstream, the same object across reloads
// while any snapshot still uses it; the same address in another upstream gets its own.
// Thread-safe (a mutex; used only when building snapshots).
class BackendRegistry {
 public:
  // The state for address in upstream, resolving it on first use; nullptr with *error set
  // when the name does not resolve.
  std::shared_ptr<BackendState> acquire(const std::string& upstream, const HostPort& address,
                                        std::string* error);
  // Highest slot handed out so far, plus one.
  std::uint32_t slot_count() const;

  // A stable small id for an upstream name (for per-worker metric tables); id 0 is reserved
  // for responses that reached no upstream (upstream="").
  std::uint32_t upstream_id(const std::string& name);
  // The names by id (index 0 is "").
  std::vector<std::string> upstream_names() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<BackendState>> by_identity_;
  std::uint32_t next_slot_ = 0;
  std::vector<std::string> upstream_names_{""};
};

}  // namespace ringproxy
