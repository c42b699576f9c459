// Backend selection for one upstream, apart from HTTP: the walk, admission and retry budget.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "policy/backend_picker.hpp"
#include "policy/retry_budget.hpp"
#include "policy/unique_walk.hpp"
#include "runtime/backend_lease.hpp"
#include "runtime/backend_state.hpp"

namespace ringproxy {

// One walk as explain() saw it; backends are indices into the selector's backends().
struct WalkExplanation {
  struct Step {
    std::size_t backend = 0;
    WalkVerdict verdict = WalkVerdict::usable;
  };
  std::uint64_t origin = 0;           // where the walk starts (the key's place; RR: sequence)
  std::optional<std::size_t> home;    // the walk's first backend: the key's when all is well
  std::vector<Step> walk;             // every backend met until one was taken, in order
  std::optional<std::size_t> chosen;  // the backend a request with this key goes to now
  std::vector<std::size_t> order;     // every backend the walk would meet, in order
};

// What the upstream's config asks of admission.
struct SelectorSettings {
  bool health_checked = false;  // skip backends a health check marked down
  bool breaker = false;         // breakers and max_concurrent apply
  bool bounded_load = false;    // the picker bounds loads: count every request in flight
  unsigned retries = 0;         // further backends tried after the first
};

// One upstream's backends, its algorithm and its retry budget; hands each request a Selection.
// Immutable after build and shared by all workers: what changes is atomics in BackendState
// and the lock-free retry budget.
class UpstreamSelector {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  UpstreamSelector(std::vector<std::shared_ptr<BackendState>> backends,
                   std::unique_ptr<BackendPicker> picker, std::unique_ptr<RetryBudget> budget,
                   SelectorSettings settings)
      : backends_(std::move(backends)),
        picker_(std::move(picker)),
        budget_(std::move(budget)),
        settings_(settings) {}

  const std::vector<std::shared_ptr<BackendState>>& backends() const { return backends_; }
  const BackendPicker& picker() const { return *picker_; }
  const SelectorSettings& settings() const { return settings_; }
  RetryBudget& retry_budget() const { return *budget_; }

  // Whether backend i may be offered a request now (usable), or why not: down (health
  // checked), breaker_open, at_max_concurrent. Takes nothing.
  WalkVerdict verdict(std::size_t i, TimePoint now) const {
    const BackendState& b = *backends_[i];
    if (settings_.health_checked && !b.healthy.load(std::memory_order_relaxed)) {
      return WalkVerdict::down;
    }
    if (!settings_.breaker) return WalkVerdict::usable;
    if (!b.breaker.available(now)) return WalkVerdict::breaker_open;
    if (!b.concurrency.available()) return WalkVerdict::at_max_concurrent;
    return WalkVerdict::usable;
  }
  bool available(std::size_t i, TimePoint now) const {
    return verdict(i, now) == WalkVerdict::usable;
  }
  // The walk's next backend that verdict() and the algorithm let take a request now: the one
  // step that requests (Selection::next) and explanations (explain()) both take.
  std::optional<std::size_t> walk_on(UniqueWalk& walk, TimePoint now) const {
    return walk.next_judged([this, now](std::size_t b) { return verdict(b, now); });
  }
  // Where the walk for key goes now, and why, without taking anything (no lease, no breaker
  // permit, no retry budget): GET /explain and --explain.
  WalkExplanation explain(std::uint64_t key, std::uint64_t sequence, TimePoint now) const;
  // Whole seconds until the earliest open breaker half-opens (at least 1): a 503's
  // Retry-After when no backend could take a request.
  std::int64_t retry_after_seconds(TimePoint now) const;

 private:
  std::vector<std::shared_ptr<BackendState>> backends_;
  std::unique_ptr<BackendPicker> picker_;
  std::unique_ptr<RetryBudget> budget_;
  SelectorSettings settings_;
};

// One request's walk over its upstream's backends: each next() is an attempt, admitted and
// leased. Not thread-safe: a local of one request; the selector must outlive it.
class Selection {
 public:
  // key: the request's hash key; sequence: the worker's request number (round robin walks
  // from it); lane: the worker's lane in the retry budget.
  Selection(const UpstreamSelector& selector, std::uint64_t key, std::uint64_t sequence,
            UpstreamSelector::TimePoint now, unsigned lane);

  // The next backend to try, held by lease() until the next call or the Selection ends;
  // nullptr when there is none: no attempt left, no backend may take it, or (resend: the
  // request may already have reached a backend) the retry budget refuses a retry.
  BackendState* next(bool resend);
  BackendLease& lease() { return lease_; }
  UpstreamSelector::TimePoint now() const { return now_; }

 private:
  const UpstreamSelector& selector_;
  UpstreamSelector::TimePoint now_;
  UniqueWalk walk_;
  BackendLease lease_;
  unsigned attempts_left_;
};

}  // namespace ringproxy
