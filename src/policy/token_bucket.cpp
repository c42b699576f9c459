// Token bucket arithmetic in integer nanoseconds (see token_bucket.hpp for the model).
#include "policy/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace ringproxy {

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

// ns rounded up to whole seconds (ns >= 0).
std::int64_t ceil_seconds(std::int64_t ns) {
  return ns / kSecond + (ns % kSecond != 0 ? 1 : 0);
}

std::int64_t interval_for(double rate) {
  if (!(rate > 0)) return TokenBucketRule::kMaxCapacity;  // also NaN
  double ns = 1e9 / rate;
  if (!(ns < static_cast<double>(TokenBucketRule::kMaxCapacity))) {
    return TokenBucketRule::kMaxCapacity;
  }
  // Round up, so that the bucket never refills faster than rate; the small allowance keeps an
  // exact quotient (1e9 / 10 computed as 100000000.00000001) from gaining a nanosecond.
  auto interval = static_cast<std::int64_t>(std::ceil(ns - 1e-6));
  return std::max<std::int64_t>(interval, 1);
}

}  // namespace

std::int64_t TakeResult::retry_after_seconds() const {
  return std::max<std::int64_t>(ceil_seconds(std::max<std::int64_t>(retry_after.count(), 0)), 1);
}

std::int64_t TakeResult::reset_seconds() const {
  return ceil_seconds(std::max<std::int64_t>(reset.count(), 0));
}

TokenBucketRule::TokenBucketRule(double rate, std::uint64_t burst)
    : rate_(rate), interval_ns_(interval_for(rate)) {
  auto max_burst = static_cast<std::uint64_t>(kMaxCapacity / interval_ns_);
  burst_ = std::clamp<std::uint64_t>(burst, 1, max_burst);
  capacity_ns_ = static_cast<std::int64_t>(burst_) * interval_ns_;
}

std::int64_t TokenBucketRule::window_seconds() const {
  return std::max<std::int64_t>(ceil_seconds(capacity_ns_), 1);
}

TakeResult TokenBucketRule::result(bool allowed, std::int64_t full_at, std::int64_t now) const {
  // debt: how far full_at lies ahead of now, i.e. the time the missing tokens take to return.
  std::uint64_t debt =
      full_at > now ? static_cast<std::uint64_t>(full_at) - static_cast<std::uint64_t>(now) : 0;
  auto capacity = static_cast<std::uint64_t>(capacity_ns_);
  auto interval = static_cast<std::uint64_t>(interval_ns_);
  debt = std::min(debt, capacity);
  std::uint64_t slack = capacity - interval;  // the debt at which exactly one token is left
  TakeResult r;
  r.allowed = allowed;
  r.remaining = (capacity - debt) / interval;
  r.retry_after =
      std::chrono::nanoseconds(static_cast<std::int64_t>(debt > slack ? debt - slack : 0));
  r.reset = std::chrono::nanoseconds(static_cast<std::int64_t>(debt));
  return r;
}

TakeResult TokenBucketRule::take(std::int64_t& full_at, std::int64_t now) const {
  now = clamp_time(now);
  std::int64_t base = std::min(std::max(full_at, now), kMaxTime + kMaxCapacity);
  std::int64_t next = base + interval_ns_;  // <= 2^62 + 2^61: no overflow
  // next >= now, and the difference fits in 64 unsigned bits whatever full_at was.
  if (static_cast<std::uint64_t>(next) - static_cast<std::uint64_t>(now) <=
      static_cast<std::uint64_t>(capacity_ns_)) {
    full_at = next;
    return result(true, next, now);
  }
  return result(false, full_at, now);
}

TakeResult TokenBucketRule::peek(std::int64_t full_at, std::int64_t now) const {
  now = clamp_time(now);
  TakeResult r = result(false, full_at, now);
  r.allowed = r.remaining > 0;
  return r;
}

std::int64_t TokenBucket::observe(std::int64_t now_ns) const {
  return std::max(TokenBucketRule::clamp_time(now_ns), last_);
}

TakeResult TokenBucket::take(std::int64_t now_ns) {
  last_ = observe(now_ns);
  return rule_.take(full_at_, last_);
}

TakeResult TokenBucket::peek(std::int64_t now_ns) const {
  return rule_.peek(full_at_, observe(now_ns));
}

bool TokenBucket::full(std::int64_t now_ns) const {
  return TokenBucketRule::is_full(full_at_, observe(now_ns));
}

}  // namespace ringproxy
