// One config generation, built whole before it is published: config, router, pickers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "config/config_loader.hpp"
#include "policy/backend_picker.hpp"
#include "policy/global_bucket.hpp"
#include "policy/hash_key.hpp"
#include "policy/lease_book.hpp"
#include "policy/rate_limiter.hpp"
#include "policy/retry_budget.hpp"
#include "policy/router.hpp"
#include "runtime/backend_state.hpp"
#include "runtime/upstream_selector.hpp"

namespace ringproxy {

// An upstream as the request path sees it.
struct UpstreamRuntime {
  const UpstreamConfig* config = nullptr;  // points into the owning Snapshot
  std::unique_ptr<UpstreamSelector> selector;
  std::uint32_t metrics_id = 0;  // BackendRegistry::upstream_id(name)
  HashKeySpec hash_key;          // what a request hashes on (the config's, parsed at load)

  const std::vector<std::shared_ptr<BackendState>>& backends() const {
    return selector->backends();
  }
};

// A global rule's own part (scope = "global"): its leases (kept across reloads while the rule
// and its global keys are unchanged), where Redis is, and the lease script's arguments.
// Immutable but for the book, which is thread-safe.
struct GlobalLimitRuntime {
  GlobalLimitConfig config;
  std::shared_ptr<LeaseBook> leases;
  LeaseScriptArgs script_args;
};

// One rate limit rule as requests meet it: its buckets (kept across reloads while the rule is
// unchanged), its policy name for the RateLimit fields, and which header keys it (empty:
// the client address). A global rule's local buckets are its local tier.
struct RateLimitRuntime {
  std::shared_ptr<RateLimiter> limiter;  // nullptr: no limit
  std::string name;
  std::string header;
  std::string policy;  // the RateLimit-Policy value, the same on every response of the rule
  std::shared_ptr<const GlobalLimitRuntime> global;  // nullptr: scope = "local"
};

class Snapshot;
// The outcome of building a snapshot: a snapshot when errors is empty.
struct SnapshotBuild {
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<ConfigError> errors;
};

// Immutable after build; shared by all workers through shared_ptr (thread-safe to read).
class Snapshot {
 public:
  // previous, when given, lends its rate limiters (and so their buckets) to unchanged rules.
  static SnapshotBuild build(Config config, std::uint64_t generation, BackendRegistry& registry,
                             const Snapshot* previous = nullptr);

  const Config& config() const { return config_; }
  const Router& router() const { return router_; }
  const std::vector<UpstreamRuntime>& upstreams() const { return upstreams_; }
  std::uint64_t generation() const { return generation_; }
  // When this generation was loaded (built), for /status.
  std::chrono::system_clock::time_point loaded_at() const { return loaded_at_; }
  // The [rate_limit] rule (limiter nullptr when there is none).
  const RateLimitRuntime& default_rate_limit() const { return default_limit_; }
  // The limit for requests on route (its override, the default, or none); with no routes,
  // route 0 means the default.
  const RateLimitRuntime& rate_limit_for(std::size_t route) const {
    return route < route_limits_.size() ? route_limits_[route] : default_limit_;
  }

  // Puts this generation's breaker and concurrency settings into the shared backend state;
  // called once the snapshot is published (a failed reload must change nothing).
  void apply_backend_settings() const;

 private:
  explicit Snapshot(Config config);
  Config config_;
  Router router_;
  std::vector<UpstreamRuntime> upstreams_;
  RateLimitRuntime default_limit_;
  std::vector<RateLimitRuntime> route_limits_;  // by route index
  std::uint64_t generation_ = 0;
  std::chrono::system_clock::time_point loaded_at_;
};

}  // namespace ringproxy
