#include <numeric>

#include "policy/backend_picker.hpp"

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
}

std::optional<std::size_t> RoundRobinPicker::pick(std::uint64_t key, UsablePredicate usable,
                                                  std::size_t max_tries) const {
  if (order_.empty()) return std::nullopt;
  // Walk the cycle from key's slot; each backend is looked at once at most.
  std::vector<bool> seen_storage;
  std::uint64_t seen_small = 0;
  const bool small = backend_count_ <= 64;
  if (!small) seen_storage.assign(backend_count_, false);
  std::size_t tried = 0;
  const std::size_t n = order_.size();
  for (std::size_t step = 0; step < n && tried < max_tries; ++step) {
    const std::size_t b = order_[(key + step) % n];
    if (small) {
      if (seen_small & (1ULL << b)) continue;
      seen_small |= 1ULL << b;
    } else {
      if (seen_storage[b]) continue;
      seen_storage[b] = true;
    }
    ++tried;
    if (usable(b)) return b;
  }
  return std::nullopt;
}

}  // namespace ringproxy
