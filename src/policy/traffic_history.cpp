// A short ring of traffic samples (see traffic_history.hpp).
#include "policy/traffic_history.hpp"

#include <algorithm>

namespace ringproxy {

namespace {

// How much a monotonic counter grew from base to now; when it fell, it started over from 0.
std::uint64_t growth(std::uint64_t base, std::uint64_t now) {
  return now >= base ? now - base : now;
}

}  // namespace

void TrafficHistory::record(TimePoint now, const TrafficTotals& totals) {
  if (has_base_ && now <= last_) return;
  if (has_base_ && !ring_.empty()) {
    const double seconds = std::chrono::duration<double>(now - last_).count();
    const std::uint64_t requests = growth(base_.requests, totals.requests);
    const std::uint64_t failures = growth(base_.failures, totals.failures);
    TrafficSample s;
    s.requests_per_s = static_cast<double>(requests) / seconds;
    s.error_rate =
        requests == 0
            ? 0.0
            : std::min(1.0, static_cast<double>(failures) / static_cast<double>(requests));
    s.in_flight = totals.in_flight;
    ring_[next_] = s;
    next_ = (next_ + 1) % ring_.size();
    size_ = std::min(size_ + 1, ring_.size());
  }
  has_base_ = true;
  last_ = now;
  base_ = totals;
}

std::vector<TrafficSample> TrafficHistory::samples() const {
  std::vector<TrafficSample> out;
  out.reserve(size_);
  const std::size_t first = (next_ + ring_.size() - size_) % std::max<std::size_t>(1, ring_.size());
  for (std::size_t i = 0; i < size_; ++i) out.push_back(ring_[(first + i) % ring_.size()]);
  return out;
}

}  // namespace ringproxy
