// Health check hysteresis, expected-status ranges and check jitter (see health_hysteresis.hpp).
#include "ringproxy/health_hysteresis.hpp"

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

std::string StatusRange::to_string() const {
  if (low == high) return std::to_string(low);
  return std::to_string(low) + "-" + std::to_string(high);
}

namespace {

// A three-digit status code 100..599, or -1.
int parse_code(std::string_view text) {
  if (text.size() != 3) return -1;
  int code = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    code = code * 10 + (c - '0');
  }
  return code >= 100 && code <= 599 ? code : -1;
}

}  // namespace

std::optional<StatusRange> parse_status_range(std::string_view text) {
  std::size_t dash = text.find('-');
  std::string_view first = text.substr(0, dash);
  int low = parse_code(first);
  if (low < 0) return std::nullopt;
  if (dash == std::string_view::npos) return StatusRange{low, low};
  int high = parse_code(text.substr(dash + 1));
  if (high < 0 || high < low) return std::nullopt;
  return StatusRange{low, high};
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
