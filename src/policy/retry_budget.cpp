// Retry budget over a ring of per-second atomic buckets (see retry_budget.hpp for the model).
#include "policy/retry_budget.hpp"

#include <algorithm>
#include <cmath>

namespace ringproxy {

namespace {

// A bucket: bits 0-19 second stamp, bits 20-43 requests, bits 44-63 retries.
constexpr std::uint64_t kStampMask = (1u << 20) - 1;
constexpr int kRequestsShift = 20;
constexpr std::uint64_t kMaxRequests = (1u << 24) - 1;
constexpr int kRetriesShift = 44;
constexpr std::uint64_t kMaxRetries = (1u << 20) - 1;
constexpr std::uint64_t kPpm = 1'000'000;

std::uint64_t stamp_of(std::uint64_t b) {
  return b & kStampMask;
}
std::uint64_t requests_of(std::uint64_t b) {
  return (b >> kRequestsShift) & kMaxRequests;
}
std::uint64_t retries_of(std::uint64_t b) {
  return b >> kRetriesShift;
}
std::uint64_t stamp_for(std::int64_t second) {
  return static_cast<std::uint64_t>(second) & kStampMask;
}

// A bucket stamped up to this many seconds after the second being counted belongs to a newer
// second (the counting thread's `now` lags); any other stamp is a stale second to be replaced.
// (Stamps wrap after 2^20 s, about 12 days, so "after" is modular.)
constexpr std::uint64_t kMaxLagSeconds = 1024;

bool stale(std::uint64_t stamp, std::uint64_t mine) {
  std::uint64_t ahead = (stamp - mine) & kStampMask;  // how far the bucket is ahead of mine
  return ahead != 0 && ahead >= kMaxLagSeconds;
}

std::int64_t second_of(RetryBudget::TimePoint t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  constexpr std::int64_t kSecond = 1'000'000'000;
  std::int64_t s = ns / kSecond;
  return (ns % kSecond < 0) ? s - 1 : s;  // floor
}

// The bucket's value counted from, at second `mine`: reset when it is empty (never used) or
// holds a stale second.
std::uint64_t base_for(std::uint64_t b, std::uint64_t mine) {
  bool empty = (b >> kRequestsShift) == 0;
  return empty || stale(stamp_of(b), mine) ? mine : b;
}

}  // namespace

RetryBudget::RetryBudget(const Options& options) : options_(options) {
  double ratio = std::isnan(options.ratio) ? 0.0 : std::clamp(options.ratio, 0.0, 1000.0);
  options_.ratio = ratio;
  options_.min_per_second =
      static_cast<std::uint32_t>(std::min<std::uint64_t>(options.min_per_second, kMaxRetries));
  options_.window_seconds = std::clamp(options.window_seconds, 1u, kMaxWindowSeconds);
  ratio_ppm_ = static_cast<std::uint64_t>(std::llround(ratio * static_cast<double>(kPpm)));
  options_.lanes = std::clamp(options.lanes, 1u, 1024u);
  lanes_ = std::make_unique<Lane[]>(options_.lanes);
}

std::atomic<std::uint64_t>& RetryBudget::bucket(unsigned lane, std::int64_t second) {
  std::int64_t n = options_.window_seconds;
  return lanes_[lane].buckets[static_cast<std::size_t>(((second % n) + n) % n)];
}

const std::atomic<std::uint64_t>& RetryBudget::bucket(unsigned lane, std::int64_t second) const {
  std::int64_t n = options_.window_seconds;
  return lanes_[lane].buckets[static_cast<std::size_t>(((second % n) + n) % n)];
}

RetryBudget::Totals RetryBudget::sum(std::int64_t second, unsigned first_back) const {
  Totals t;
  for (unsigned lane = 0; lane < options_.lanes; ++lane) {
    for (unsigned back = first_back; back < options_.window_seconds; ++back) {
      std::int64_t s = second - back;
      std::uint64_t b = bucket(lane, s).load(std::memory_order_relaxed);
      if (stamp_of(b) != stamp_for(s)) continue;  // empty, or another second's
      t.requests += requests_of(b);
      t.retries += retries_of(b);
    }
  }
  return t;
}

void RetryBudget::on_request(TimePoint now, unsigned lane) {
  std::int64_t second = second_of(now);
  std::uint64_t mine = stamp_for(second);
  auto& b = bucket(lane % options_.lanes, second);
  std::uint64_t current = b.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t base = base_for(current, mine);
    if (requests_of(base) == kMaxRequests) return;  // saturated (a reset base holds 0)
    if (b.compare_exchange_weak(current, base + (std::uint64_t{1} << kRequestsShift),
                                std::memory_order_relaxed)) {
      return;
    }
  }
}

bool RetryBudget::try_retry(TimePoint now) {
  std::int64_t second = second_of(now);
  std::uint64_t mine = stamp_for(second);
  Totals past = sum(second, 1);
  // This second's requests in the other lanes (read only; lane 0 is decided on below).
  std::uint64_t other_lanes = 0;
  for (unsigned lane = 1; lane < options_.lanes; ++lane) {
    std::uint64_t o = bucket(lane, second).load(std::memory_order_relaxed);
    if (stamp_of(o) == mine) other_lanes += requests_of(o);
  }
  auto& b = bucket(0, second);
  std::uint64_t current = b.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t base = base_for(current, mine);
    std::uint64_t retries_now = retries_of(base) + 1;  // counting this one
    if (retries_now > kMaxRetries) return false;
    std::uint64_t requests = past.requests + other_lanes + requests_of(base);
    std::uint64_t retries = past.retries + retries_now;
    bool within_share = retries * kPpm <= requests * ratio_ppm_;
    bool within_floor = retries_now <= options_.min_per_second;
    if (!within_share && !within_floor) return false;
    if (b.compare_exchange_weak(current, base + (std::uint64_t{1} << kRetriesShift),
                                std::memory_order_relaxed)) {
      return true;
    }
  }
}

std::uint64_t RetryBudget::requests_in_window(TimePoint now) const {
  return sum(second_of(now), 0).requests;
}

std::uint64_t RetryBudget::retries_in_window(TimePoint now) const {
  return sum(second_of(now), 0).retries;
}

}  // namespace ringproxy
