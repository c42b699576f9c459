// Health check hysteresis, expected-status ranges and check jitter (see health_hysteresis.hpp).
#include "policy/health_hysteresis.hpp"

#include <algorithm>
#include <limits>

namespace ringproxy {

HealthHysteresis::HealthHysteresis(unsigned healthy_threshold, unsigned unhealthy_threshold)
    : healthy_threshold_(std::max(healthy_threshold, 1u)),
      unhealthy_threshold_(std::max(unhealthy_threshold, 1u)) {}

HealthHysteresis::Transition HealthHysteresis::record(bool passed) {
  if (healthy_) {
    if (passed) {
      failures_ = 0;
      return Transition::none;
    }
    if (++failures_ < unhealthy_threshold_) return Transition::none;
    healthy_ = false;
    failures_ = 0;
    return Transition::became_unhealthy;
  }
  if (!passed) {
    passes_ = 0;
    return Transition::none;
  }
  if (++passes_ < healthy_threshold_) return Transition::none;
  healthy_ = true;
  passes_ = 0;
  return Transition::became_healthy;
}

std::chrono::nanoseconds jittered_interval(std::chrono::nanoseconds interval,
                                           std::uint64_t random) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t ns = interval.count();
  if (ns <= 0) return interval;
  std::int64_t half = ns / 10;  // +-10%
  auto span = static_cast<std::uint64_t>(half) * 2 + 1;
  auto offset = static_cast<std::int64_t>(random % span);
  std::int64_t base = ns - half;
  return std::chrono::nanoseconds(base + std::min(offset, kMax - base));  // saturates
}

}  // namespace ringproxy
