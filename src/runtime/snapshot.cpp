#include "runtime/snapshot.hpp"

#include <algorithm>
#include <random>
#include <stdexcept>
#include <thread>

#include "policy/hash_ring.hpp"
#include "policy/maglev.hpp"
#include "policy/rate_limit_headers.hpp"
#include "runtime/bounded_load_picker.hpp"

namespace ringproxy {

Snapshot::Snapshot(Config config) : config_(std::move(config)), router_(config_.routes) {}

namespace {

// One request lane per worker (server.workers; 0 is one per CPU, as the server starts).
unsigned worker_lanes(const Config& config) {
  return config.server.workers != 0 ? config.server.workers
                                    : std::max(1u, std::thread::hardware_concurrency());
}

// The limiter for a rule: the one the same rule had in the previous generation (the default's
// for the default, route i's own for route i), so unchanged rules keep their buckets; two
// rules with equal numbers still never share buckets.
RateLimitRuntime make_limit(const RateLimitConfig& config, std::string name,
                            const RateLimitRuntime* previous, unsigned lanes) {
  RateLimitRuntime out;
  out.name = std::move(name);
  out.header = config.key.header;
  const RateLimitRule rule = RateLimitRule::from_config(config);
  if (previous && previous->limiter && previous->name == out.name &&
      previous->limiter->same_rule(rule)) {
    out.limiter = previous->limiter;
  } else {
    // A random seed per limiter: clients cannot aim their keys at one shard or slot.
    RateLimiter::Options options;
    options.seed =
        (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
    out.limiter = std::make_shared<RateLimiter>(rule, options);
  }
  const TokenBucketRule& bucket = out.limiter->bucket_rule();
  out.policy = format_rate_limit_policy(out.name, bucket.burst(), bucket.window_seconds());
  if (config.global.scope == LimitScope::global) {
    // Leases survive a reload that changes neither the rule nor its global keys.
    if (previous && previous->global && out.limiter == previous->limiter &&
        previous->global->config == config.global) {
      out.global = previous->global;
    } else {
      auto global = std::make_shared<GlobalLimitRuntime>();
      global->config = config.global;
      // Each worker spends slices of the leases on its own lane (LeaseBook::take).
      global->leases = std::make_shared<LeaseBook>(LeaseRule::make(
          config.global.lease, bucket.burst(), bucket.capacity_ns(), rule.max_clients, lanes));
      global->script_args = LeaseScriptArgs::make(bucket, global->leases->rule().lease_tokens);
      out.global = std::move(global);
    }
  }
  return out;
}

// The upstream's algorithm over identities, or nullptr with the error in out.
std::unique_ptr<BackendPicker> make_picker(const UpstreamConfig& up,
                                           const std::vector<PickerBackend>& identities,
                                           const std::string& path, SnapshotBuild& out) {
  try {
    switch (up.algorithm) {
      case Algorithm::maglev:
        return std::make_unique<MaglevPicker>(identities);
      case Algorithm::round_robin: {
        std::vector<unsigned> weights;
        for (const auto& b : identities) weights.push_back(b.weight);
        return std::make_unique<RoundRobinPicker>(weights);
      }
      case Algorithm::ring:
        return std::make_unique<HashRingPicker>(identities, up.virtual_nodes);
    }
    throw std::logic_error("unknown algorithm");
  } catch (const std::exception& e) {
    out.errors.push_back({path, up.line,
                          "upstream \"" + up.name + "\": cannot build " +
                              std::string(to_string(up.algorithm)) + " table: " + e.what()});
    return nullptr;
  }
}

}  // namespace

SnapshotBuild Snapshot::build(Config config, std::uint64_t generation, BackendRegistry& registry,
                              const Snapshot* previous) {
  SnapshotBuild out;
  std::shared_ptr<Snapshot> snap(new Snapshot(std::move(config)));
  snap->generation_ = generation;
  snap->loaded_at_ = std::chrono::system_clock::now();
  for (const auto& up : snap->config_.upstreams) {
    UpstreamRuntime rt;
    rt.config = &up;
    std::vector<std::shared_ptr<BackendState>> backends;
    std::vector<PickerBackend> identities;
    for (const auto& b : up.backends) {
      std::string error;
      auto state = registry.acquire(up.name, b.address, &error);
      if (!state) {
        out.errors.push_back({snap->config_.path, b.line,
                              "upstream \"" + up.name + "\": backend address \"" +
                                  b.address.to_string() + "\": " + error});
        continue;
      }
      // The backend's identity on the ring: its stable id, else its address; never its
      // position in the file, so reordering or deleting lines moves no other keys.
      identities.push_back({b.id.empty() ? state->key : b.id, b.weight});
      backends.push_back(std::move(state));
    }
    rt.hash_key = up.hash_key;
    RetryBudget::Options budget;
    budget.lanes = worker_lanes(snap->config_);
    rt.metrics_id = registry.upstream_id(up.name);
    std::unique_ptr<BackendPicker> picker = make_picker(up, identities, snap->config_.path, out);
    if (!picker) continue;
    // Bounded loads decorate whichever algorithm the upstream uses.
    if (up.bounded_load > 0) {
      picker = std::make_unique<BoundedLoadPicker>(std::move(picker), backends, up.bounded_load);
    }
    const SelectorSettings settings{up.health_check.has_value(), up.circuit_breaker.has_value(),
                                    up.bounded_load > 0, up.retries};
    rt.selector = std::make_unique<UpstreamSelector>(
        std::move(backends), std::move(picker), std::make_unique<RetryBudget>(budget), settings);
    snap->upstreams_.push_back(std::move(rt));
  }
  const auto& cfg = snap->config_;
  if (cfg.rate_limit) {
    snap->default_limit_ =
        make_limit(*cfg.rate_limit, "default", previous ? &previous->default_limit_ : nullptr,
                   worker_lanes(cfg));
  }
  for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
    const RouteConfig& r = cfg.routes[i];
    switch (r.rate_limit_mode) {
      case RouteRateLimit::inherit:
        snap->route_limits_.push_back(snap->default_limit_);
        break;
      case RouteRateLimit::off:
        snap->route_limits_.emplace_back();
        break;
      case RouteRateLimit::override:
        snap->route_limits_.push_back(make_limit(
            *r.rate_limit, "route-" + std::to_string(i + 1),
            previous && i < previous->route_limits_.size() ? &previous->route_limits_[i] : nullptr,
            worker_lanes(cfg)));
        break;
    }
  }
  if (out.errors.empty()) out.snapshot = std::move(snap);
  return out;
}

void Snapshot::apply_backend_settings() const {
  for (const auto& up : upstreams_) {
    const auto& cb = up.config->circuit_breaker;
    if (!cb) continue;
    const auto settings = BreakerSettings::with_default_cap(
        cb->failure_threshold,
        std::chrono::duration_cast<std::chrono::nanoseconds>(cb->open_duration),
        cb->half_open_requests);
    for (const auto& b : up.backends()) {
      b->breaker.configure(settings);
      b->concurrency.configure(cb->max_concurrent);
    }
  }
}

}  // namespace ringproxy
