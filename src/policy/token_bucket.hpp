// Token buckets: the pure arithmetic of per-client rate limits. Time is always passed in, as
// int64 nanoseconds of a monotonic clock (or a steady_clock::time_point); nothing here reads it.
//
// A bucket holds up to `burst` tokens, gains `rate` tokens per second and starts full; each
// request takes one token. The state is kept in fixed point as one integer, `full_at`: the
// instant at which the bucket is (or was) full again. At time now the bucket holds
//   tokens(now) = (capacity_ns - max(0, full_at - now)) / interval_ns
// tokens, where interval_ns = ceil(1e9 / rate) is the time one token takes to come back and
// capacity_ns = burst * interval_ns the time an empty bucket takes to fill. This is the lazy
// (tokens, last) refill folded into one number (the GCRA form): a take adds interval_ns to
// max(full_at, now), and is refused when that would put full_at more than capacity_ns ahead.
// All arithmetic is integer, so a bucket never grants more than burst + elapsed / interval_ns
// tokens (and interval_ns >= 1e9 / rate, so never more than burst + rate x elapsed).
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

namespace ringproxy {

// A steady_clock time as the int64 nanoseconds the buckets take.
inline std::int64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// What one take decided, and what the client can do next. Plain data.
struct TakeResult {
  bool allowed = false;
  // Whole tokens left after this take.
  std::uint64_t remaining = 0;
  // Until a take can succeed again: zero while a token is left; positive when refused, or when
  // this take used the last token.
  std::chrono::nanoseconds retry_after{0};
  // Until the bucket is full again; zero when it is full.
  std::chrono::nanoseconds reset{0};

  // retry_after rounded up to whole seconds, at least 1: the Retry-After value of a refusal.
  std::int64_t retry_after_seconds() const;
  // reset rounded up to whole seconds.
  std::int64_t reset_seconds() const;
};

// (rate, burst) in integer nanoseconds, and the take step on a bucket's full_at state.
// Immutable after construction; safe to share between threads.
class TokenBucketRule {
 public:
  // full_at of a bucket never used (a new client): it is full at any time.
  static constexpr std::int64_t kNew = std::numeric_limits<std::int64_t>::min();
  // Times are clamped to +-kMaxTime (about 146 years either side of the clock's epoch).
  static constexpr std::int64_t kMaxTime = std::int64_t{1} << 62;
  // capacity_ns is clamped to this (about 36 years): the config keeps burst / rate <= 1 year.
  static constexpr std::int64_t kMaxCapacity = std::int64_t{1} << 60;

  // rate: tokens per second (> 0; fractional allowed, e.g. 0.5); burst: capacity (>= 1).
  // Values out of range are clamped: interval_ns to [1, kMaxCapacity], burst to
  // [1, kMaxCapacity / interval_ns]. A NaN or non-positive rate refills as slowly as allowed.
  TokenBucketRule(double rate, std::uint64_t burst);

  double rate() const { return rate_; }
  // The capacity actually enforced (burst after clamping).
  std::uint64_t burst() const { return burst_; }
  // Nanoseconds one token takes to come back: ceil(1e9 / rate), at least 1.
  std::int64_t interval_ns() const { return interval_ns_; }
  // Nanoseconds an empty bucket takes to fill: burst * interval_ns.
  std::int64_t capacity_ns() const { return capacity_ns_; }
  // capacity_ns rounded up to whole seconds, at least 1: the window w of RateLimit-Policy.
  std::int64_t window_seconds() const;

  // Takes one token from the bucket whose state is full_at (kNew for a new client) at time now,
  // updating full_at when allowed. now should not go back in time for one bucket; if it does,
  // the bucket sees less time than has passed (it never grants more) -- TokenBucket and
  // RateLimiter clamp their clocks so that it does not happen.
  TakeResult take(std::int64_t& full_at, std::int64_t now) const;
  // The bucket's state at now without taking anything (allowed = a token is available).
  TakeResult peek(std::int64_t full_at, std::int64_t now) const;

  // A full bucket is the same as a new one.
  static bool is_full(std::int64_t full_at, std::int64_t now) { return full_at <= now; }
  // now clamped to [-kMaxTime, kMaxTime].
  static std::int64_t clamp_time(std::int64_t now) {
    return now < -kMaxTime ? -kMaxTime : (now > kMaxTime ? kMaxTime : now);
  }

 private:
  TakeResult result(bool allowed, std::int64_t full_at, std::int64_t now) const;

  double rate_;
  std::uint64_t burst_;
  std::int64_t interval_ns_;
  std::int64_t capacity_ns_;
};

// One client's bucket. Not thread-safe: one owner at a time (RateLimiter is the shared form).
class TokenBucket {
 public:
  TokenBucket(double rate, std::uint64_t burst) : rule_(rate, burst) {}
  explicit TokenBucket(const TokenBucketRule& rule) : rule_(rule) {}

  // Takes one token at now. Time going backwards counts as no time passing.
  TakeResult take(std::int64_t now_ns);
  TakeResult take(std::chrono::steady_clock::time_point now) { return take(steady_ns(now)); }
  // The state at now without taking.
  TakeResult peek(std::int64_t now_ns) const;
  // Whether the bucket is full at now (then it equals a new bucket).
  bool full(std::int64_t now_ns) const;

  const TokenBucketRule& rule() const { return rule_; }

 private:
  std::int64_t observe(std::int64_t now_ns) const;

  TokenBucketRule rule_;
  std::int64_t full_at_ = TokenBucketRule::kNew;
  std::int64_t last_ = -TokenBucketRule::kMaxTime;  // the latest time seen
};

}  // namespace ringproxy
