// Backend selection: the narrow call that load-balancing algorithms implement.
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

// Maps a request key to a backend index; immutable after construction, shared by all workers.
class BackendPicker {
 public:
  virtual ~BackendPicker() = default;

  // Walks the candidates for key in the algorithm's preference order and returns the first
  // backend for which usable(i) holds, looking at no more than max_tries distinct backends.
  virtual std::optional<std::size_t> pick(std::uint64_t key, UsablePredicate usable,
                                          std::size_t max_tries) const = 0;
  virtual std::size_t backend_count() const = 0;
};

// Smooth weighted round-robin (nginx's order); the caller passes a per-worker sequence number
// as key, so consecutive requests rotate over the backends in proportion to their weights.
class RoundRobinPicker final : public BackendPicker {
 public:
  explicit RoundRobinPicker(const std::vector<unsigned>& weights);

  std::optional<std::size_t> pick(std::uint64_t key, UsablePredicate usable,
                                  std::size_t max_tries) const override;
  std::size_t backend_count() const override { return backend_count_; }

 private:
  std::vector<std::uint32_t> order_;  // one full weighted cycle of backend indices
  std::size_t backend_count_;
};

}  // namespace ringproxy
