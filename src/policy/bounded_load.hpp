// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2016).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ringproxy {

// True when a backend carrying backend_load of total_load in-flight requests (over `backends`
// backends) may take one more: backend_load + 1 <= ceil(c * (total_load + 1) / backends), the
// capacity once the new request is counted. c == 0 turns the bound off (always true); c > 1
// is expected (HAProxy's hash-balance-factor / 100, Envoy's hash_balance_factor / 100).
// The proxy composes it into the usable predicate it gives pick(), so a key stays on its
// home backend until that one is full and then walks on to the next candidate.
inline bool within_bounded_load(std::int64_t backend_load, std::int64_t total_load,
                                std::size_t backends, double c) {
  if (c == 0.0 || backends == 0) return true;
  const double capacity = c * static_cast<double>(total_load + 1) / static_cast<double>(backends);
  // Shave a few ulps so that 1.1 * 10 / 1 (11.000000000000002) is 11, not 12.
  const double limit = std::ceil(capacity * (1.0 - 1e-12));
  return static_cast<double>(backend_load + 1) <= limit;
}

}  // namespace ringproxy
