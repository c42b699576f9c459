// Active health checking, the pure parts: the rise/fall hysteresis that turns check results into
// up/down transitions, the expected-status range of a check, and the jittered check interval.
// Nothing here reads a clock, opens a socket or starts a thread; the checker (I/O layer) runs
// the checks and feeds the results in.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/status_range.hpp"

namespace ringproxy {

// Rise/fall hysteresis of one backend's health: starts healthy; unhealthy_threshold consecutive
// failed checks mark it down, healthy_threshold consecutive passed checks mark it up again.
// Not thread-safe: owned by the one checker of its backend, which publishes healthy() to workers
// (e.g. through an atomic in BackendState).
class HealthHysteresis {
 public:
  // What one recorded result changed.
  enum class Transition { none, became_healthy, became_unhealthy };

  // Thresholds below 1 count as 1.
  HealthHysteresis(unsigned healthy_threshold, unsigned unhealthy_threshold);

  // Records one check result and says whether it flipped the state.
  Transition record(bool passed);

  bool healthy() const { return healthy_; }
  // Passes in a row since the last failure (counted while unhealthy; 0 while healthy).
  unsigned consecutive_passes() const { return passes_; }
  // Failures in a row since the last pass (counted while healthy; 0 while unhealthy).
  unsigned consecutive_failures() const { return failures_; }
  unsigned healthy_threshold() const { return healthy_threshold_; }
  unsigned unhealthy_threshold() const { return unhealthy_threshold_; }

 private:
  unsigned healthy_threshold_;
  unsigned unhealthy_threshold_;
  bool healthy_ = true;
  unsigned passes_ = 0;
  unsigned failures_ = 0;
};

// Whether a check answered with status passes.
inline bool status_expected(int status, StatusRange range) {
  return range.contains(status);
}

// The delay before a backend's next check: interval +-10%, chosen by random (uniformly random
// bits supplied by the caller; the value is taken modulo the jitter span, so random = 0 gives
// the shortest delay, 90%). Spreads checks to many backends so they don't align. An interval of
// zero or less is returned as is.
std::chrono::nanoseconds jittered_interval(std::chrono::nanoseconds interval, std::uint64_t random);

}  // namespace ringproxy
