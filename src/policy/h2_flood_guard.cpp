// One connection's HTTP/2 flood budgets (see h2_flood_guard.hpp).
#include "policy/h2_flood_guard.hpp"

namespace ringproxy {

namespace {
using Rules = std::array<H2FloodRule, static_cast<std::size_t>(H2Event::count_)>;

std::array<TokenBucket, static_cast<std::size_t>(H2Event::count_)> make_buckets(const Rules& r) {
  return {TokenBucket(r[0].rate, r[0].burst), TokenBucket(r[1].rate, r[1].burst),
          TokenBucket(r[2].rate, r[2].burst), TokenBucket(r[3].rate, r[3].burst),
          TokenBucket(r[4].rate, r[4].burst)};
}
}  // namespace

H2FloodGuard::H2FloodGuard(const H2FloodLimits& limits)
    : limits_(limits), buckets_(make_buckets(limits.rules)) {}

bool H2FloodGuard::allow(H2Event event, std::chrono::steady_clock::time_point now) {
  const auto i = static_cast<std::size_t>(event);
  ++counts_[i];
  if (!buckets_[i].take(now).allowed) flooded_ = true;
  return !flooded_;
}

bool H2FloodGuard::header_block_start(std::size_t bytes) {
  block_bytes_ = bytes;
  block_frames_ = 0;
  if (block_bytes_ > limits_.max_header_block) flooded_ = true;
  return !flooded_;
}

bool H2FloodGuard::continuation(std::size_t bytes) {
  block_bytes_ += bytes;
  ++block_frames_;
  if (block_bytes_ > limits_.max_header_block || block_frames_ > limits_.max_continuations) {
    flooded_ = true;
  }
  return !flooded_;
}

}  // namespace ringproxy
