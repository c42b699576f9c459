#include <numeric>

#include "policy/backend_picker.hpp"
#include "policy/unique_walk.hpp"

namespace ringproxy {

RoundRobinPicker::RoundRobinPicker(const std::vector<unsigned>& weights)
    : backend_count_(weights.size()) {
  // nginx's smooth weighted round-robin, unrolled once over a whole cycle.
  const long total = std::accumulate(weights.begin(), weights.end(), 0L);
  std::vector<long> current(weights.size(), 0);
  order_.reserve(static_cast<std::size_t>(total));
  for (long step = 0; step < total; ++step) {
    std::size_t best = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      current[i] += weights[i];
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    order_.push_back(static_cast<std::uint32_t>(best));
  }
  for (unsigned w : weights) candidate_count_ += w > 0 ? 1 : 0;
}

std::vector<double> RoundRobinPicker::shares() const {
  std::vector<double> out(backend_count_, 0.0);
  for (std::uint32_t b : order_) out[b] += 1.0;
  for (double& share : out) share /= static_cast<double>(order_.size());
  return out;
}

std::optional<std::size_t> RoundRobinPicker::candidate(std::uint64_t origin,
                                                       std::uint64_t step) const {
  const std::size_t n = order_.size();
  if (step >= n) return std::nullopt;
  return order_[(origin % n + step) % n];
}

std::optional<std::size_t> BackendPicker::pick(std::uint64_t key, UsablePredicate usable,
                                               std::size_t max_tries) const {
  return UniqueWalk(*this, key, key, max_tries).next(usable);
}

}  // namespace ringproxy
