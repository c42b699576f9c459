// A short history of one backend's traffic (or any counter), for the admin console: a fixed
// ring of per-interval samples made from the monotonic counters the proxy already keeps.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringproxy {

// Counter totals read at one moment: requests and failures only grow (a drop means they
// started over), in_flight is a gauge.
struct TrafficTotals {
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
  std::int64_t in_flight = 0;
};

// One interval between two readings.
struct TrafficSample {
  double requests_per_s = 0;   // requests counted in the interval / its length
  double error_rate = 0;       // failures / requests in the interval (0 with no requests)
  std::int64_t in_flight = 0;  // at the end of the interval
};

// The last `capacity` samples, oldest overwritten. Pure: the time of each reading is an
// argument (a fake clock in tests, the sampler's timer in the server). Not thread-safe: its
// owner (ConsoleHistory) locks around it.
class TrafficHistory {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit TrafficHistory(std::size_t capacity) : ring_(capacity) {}

  // A reading of the totals at now: the first one only sets the base; each later one adds the
  // sample of the interval since the previous reading. A reading no later than the previous
  // one is ignored.
  void record(TimePoint now, const TrafficTotals& totals);

  // The samples, oldest first.
  std::vector<TrafficSample> samples() const;
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return ring_.size(); }

 private:
  std::vector<TrafficSample> ring_;
  std::size_t next_ = 0;  // where the next sample goes
  std::size_t size_ = 0;
  bool has_base_ = false;
  TimePoint last_{};
  TrafficTotals base_;
};

}  // namespace ringproxy
