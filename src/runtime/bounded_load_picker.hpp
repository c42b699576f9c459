// Consistent hashing with bounded loads as a decorator over any picker.
#pragma once

#include <memory>
#include <vector>

#include "policy/backend_picker.hpp"
#include "policy/bounded_load.hpp"
#include "runtime/backend_state.hpp"

namespace ringproxy {

// The inner algorithm's walk, except that a backend over c x the mean in-flight load of the
// upstream is passed by (Envoy's BoundedLoadHashingLoadBalancer over ring or Maglev; HAProxy's
// hash-balance-factor). Immutable; safe from any number of threads (loads are relaxed atomic
// reads, so a bound is approximate under races, as in both peers).
class BoundedLoadPicker final : public BackendPicker {
 public:
  BoundedLoadPicker(std::unique_ptr<BackendPicker> inner,
                    std::vector<std::shared_ptr<BackendState>> backends, double factor)
      : inner_(std::move(inner)), backends_(std::move(backends)), factor_(factor) {}

  std::uint64_t origin(std::uint64_t key, std::uint64_t sequence) const override {
    return inner_->origin(key, sequence);
  }
  std::optional<std::size_t> candidate(std::uint64_t origin, std::uint64_t step) const override {
    return inner_->candidate(origin, step);
  }
  std::size_t candidate_count() const override { return inner_->candidate_count(); }
  std::size_t backend_count() const override { return inner_->backend_count(); }
  // The inner algorithm's: bounded loads move requests only while a backend is over its bound.
  std::vector<double> shares() const override { return inner_->shares(); }
  bool admits(std::size_t i) const override {
    std::int64_t total = 0;
    for (const auto& b : backends_) total += b->in_flight.load(std::memory_order_relaxed);
    return inner_->admits(i) &&
           within_bounded_load(backends_[i]->in_flight.load(std::memory_order_relaxed), total,
                               backends_.size(), factor_);
  }

 private:
  std::unique_ptr<BackendPicker> inner_;
  std::vector<std::shared_ptr<BackendState>> backends_;
  double factor_;
};

}  // namespace ringproxy
