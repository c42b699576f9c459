// Backend selection: the narrow calls that load-balancing algorithms implement, and the one
// de-duplicating walk that serves them all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "policy/function_ref.hpp"

namespace ringproxy {

// Says whether backend i may take the request now (not tried yet, healthy, breaker closed, ...).
using UsablePredicate = FunctionRef<bool(std::size_t)>;

// An algorithm's preference order of backends for a request, as a sequence of raw candidates
// (repeats allowed: the walk skips them). Immutable after construction; safe from any number
// of threads.
class BackendPicker {
 public:
  virtual ~BackendPicker() = default;

  // Where a request's walk starts: hash pickers walk from the request's key, round robin from
  // the worker's request sequence number.
  virtual std::uint64_t origin(std::uint64_t key, std::uint64_t sequence) const = 0;
  // The candidate at step (0: the home backend) of the walk from origin; nullopt past the
  // walk's end. Every backend that can be picked appears before the end.
  virtual std::optional<std::size_t> candidate(std::uint64_t origin, std::uint64_t step) const = 0;
  // Backends that can be picked at all (weight > 0): the walk ends after meeting them all.
  virtual std::size_t candidate_count() const = 0;
  virtual std::size_t backend_count() const = 0;
  // Whether the algorithm lets backend i take one more request now (a bound on its load);
  // plain algorithms take any.
  virtual bool admits(std::size_t /*i*/) const { return true; }
  // Each backend's share of the key space when every backend is usable, by the caller's index
  // (/status): ring = the arcs its points own, as a fraction of the ring's 2^40 places;
  // Maglev = its table slots / table size; round robin = its weight / all weights. The shares
  // sum to 1 (all 0 when nothing can be picked). Computed on each call: O(points or slots).
  virtual std::vector<double> shares() const = 0;

  // The first backend of key's walk for which usable(i) holds, looking at no more than
  // max_tries distinct backends (UniqueWalk, once).
  std::optional<std::size_t> pick(std::uint64_t key, UsablePredicate usable,
                                  std::size_t max_tries) const;
};

// Smooth weighted round-robin (nginx's order): consecutive sequence numbers rotate over the
// backends in proportion to their weights.
class RoundRobinPicker final : public BackendPicker {
 public:
  explicit RoundRobinPicker(const std::vector<unsigned>& weights);

  std::uint64_t origin(std::uint64_t /*key*/, std::uint64_t sequence) const override {
    return sequence;
  }
  std::optional<std::size_t> candidate(std::uint64_t origin, std::uint64_t step) const override;
  std::size_t candidate_count() const override { return candidate_count_; }
  std::size_t backend_count() const override { return backend_count_; }
  std::vector<double> shares() const override;

 private:
  std::vector<std::uint32_t> order_;  // one full weighted cycle of backend indices
  std::size_t backend_count_;
  std::size_t candidate_count_ = 0;
};

}  // namespace ringproxy
