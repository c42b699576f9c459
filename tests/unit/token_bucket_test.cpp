// Tests for TokenBucket / TokenBucketRule with a fake clock (plain nanosecond values).
#include "policy/token_bucket.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>

namespace ringproxy {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kT0 = 1000 * kSec;  // an arbitrary start

TEST(TokenBucket, RuleInNanoseconds) {
  TokenBucketRule r(100.0, 200);
  EXPECT_EQ(r.interval_ns(), 10 * kMs);
  EXPECT_EQ(r.capacity_ns(), 2 * kSec);
  EXPECT_EQ(r.burst(), 200u);
  EXPECT_EQ(r.window_seconds(), 2);
  TokenBucketRule half(0.5, 3);
  EXPECT_EQ(half.interval_ns(), 2 * kSec);
  EXPECT_EQ(half.window_seconds(), 6);
  TokenBucketRule third(3.0, 20);  // 1e9 / 3 is rounded up: never faster than the rate
  EXPECT_EQ(third.interval_ns(), 333'333'334);
  EXPECT_EQ(third.window_seconds(), 7);
  EXPECT_EQ(TokenBucketRule(10.0, 1).interval_ns(), 100 * kMs);  // exact quotients stay exact
  EXPECT_EQ(TokenBucketRule(1000.0, 1).window_seconds(), 1);     // at least 1
}

TEST(TokenBucket, OutOfRangeRulesAreClamped) {
  EXPECT_EQ(TokenBucketRule(1e12, 5).interval_ns(), 1);
  EXPECT_EQ(TokenBucketRule(5.0, 0).burst(), 1u);
  TokenBucketRule slow(0.0, 5);
  EXPECT_EQ(slow.interval_ns(), TokenBucketRule::kMaxCapacity);
  EXPECT_EQ(slow.burst(), 1u);
  TokenBucketRule nan(std::numeric_limits<double>::quiet_NaN(), 5);
  EXPECT_EQ(nan.interval_ns(), TokenBucketRule::kMaxCapacity);
  TokenBucketRule huge(1e-6, std::numeric_limits<std::uint64_t>::max());
  EXPECT_LE(huge.capacity_ns(), TokenBucketRule::kMaxCapacity);
  EXPECT_EQ(huge.capacity_ns(), static_cast<std::int64_t>(huge.burst()) * huge.interval_ns());
}

TEST(TokenBucket, BurstThenRefill) {
  TokenBucket b(10.0, 5);  // a token every 100ms
  for (int i = 0; i < 5; ++i) {
    TakeResult r = b.take(kT0);
    ASSERT_TRUE(r.allowed) << i;
    EXPECT_EQ(r.remaining, static_cast<std::uint64_t>(4 - i));
    EXPECT_EQ(r.reset, std::chrono::milliseconds(100 * (i + 1)));
  }
  TakeResult refused = b.take(kT0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.retry_after, 100ms);
  EXPECT_EQ(refused.reset, 500ms);
  EXPECT_EQ(refused.retry_after_seconds(), 1);
  EXPECT_EQ(refused.reset_seconds(), 1);

  EXPECT_FALSE(b.take(kT0 + 99 * kMs).allowed);
  TakeResult one = b.take(kT0 + 100 * kMs);  // exactly one token back
  EXPECT_TRUE(one.allowed);
  EXPECT_EQ(one.remaining, 0u);
  EXPECT_EQ(one.retry_after, 100ms);
  EXPECT_FALSE(b.take(kT0 + 100 * kMs).allowed);

  TakeResult later = b.take(kT0 + 350 * kMs);  // 2.5 tokens back; 1.5 after this take
  EXPECT_TRUE(later.allowed);
  EXPECT_EQ(later.remaining, 1u);
  EXPECT_EQ(later.retry_after, 0ns);
  EXPECT_EQ(later.reset, 350ms);  // 3.5 tokens missing
  EXPECT_TRUE(b.take(kT0 + 350 * kMs).allowed);
  TakeResult empty = b.take(kT0 + 350 * kMs);
  EXPECT_FALSE(empty.allowed);
  EXPECT_EQ(empty.retry_after, 50ms);  // the half token in hand needs 50ms more
}

TEST(TokenBucket, AllowedCountMatchesBurstPlusRateTimesElapsed) {
  TokenBucket b(7.0, 13);
  std::int64_t interval = b.rule().interval_ns();
  std::uint64_t allowed = 0;
  std::int64_t now = kT0;
  for (int i = 0; i < 100000; ++i) {
    now += 3 * kMs + (i % 7) * kMs / 3;  // uneven steps, about 300 requests per second
    if (b.take(now).allowed) ++allowed;
    // Never more than burst + elapsed / interval (and so never more than burst + rate x elapsed).
    ASSERT_LE(allowed, 13u + static_cast<std::uint64_t>((now - kT0) / interval));
  }
  // And no fewer: the bucket was always drained, so it used every token it got.
  EXPECT_GE(allowed, 13u + static_cast<std::uint64_t>((now - kT0) / interval) - 1);
}

TEST(TokenBucket, FractionalRate) {
  TokenBucket b(0.5, 2);  // a token every 2 seconds
  EXPECT_TRUE(b.take(kT0).allowed);
  EXPECT_TRUE(b.take(kT0).allowed);
  TakeResult r = b.take(kT0);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after, 2s);
  EXPECT_EQ(r.retry_after_seconds(), 2);
  EXPECT_EQ(r.reset, 4s);
  EXPECT_FALSE(b.take(kT0 + 1999 * kMs).allowed);
  TakeResult after = b.take(kT0 + 2 * kSec);
  EXPECT_TRUE(after.allowed);
  EXPECT_EQ(after.remaining, 0u);
  TakeResult again = b.take(kT0 + 2 * kSec + 500 * kMs);
  EXPECT_FALSE(again.allowed);
  EXPECT_EQ(again.retry_after, 1500ms);
  EXPECT_EQ(again.retry_after_seconds(), 2);  // rounded up
  // Over 60 seconds of constant demand: 2 + 30 tokens.
  TokenBucket c(0.5, 2);
  int allowed = 0;
  for (std::int64_t t = 0; t <= 60 * kSec; t += 10 * kMs) allowed += c.take(kT0 + t).allowed;
  EXPECT_EQ(allowed, 2 + 30);
}

TEST(TokenBucket, SubSecondRetryAfterIsOneSecond) {
  TokenBucket b(100.0, 1);
  EXPECT_TRUE(b.take(kT0).allowed);
  TakeResult r = b.take(kT0 + kMs);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after, 9ms);
  EXPECT_EQ(r.retry_after_seconds(), 1);
  EXPECT_EQ(r.reset_seconds(), 1);
}

TEST(TokenBucket, CapacityOne) {
  TokenBucket b(1.0, 1);
  TakeResult first = b.take(kT0);
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.remaining, 0u);
  EXPECT_EQ(first.retry_after, 1s);
  EXPECT_EQ(first.reset, 1s);
  TakeResult refused = b.take(kT0 + 400 * kMs);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 600ms);
  EXPECT_EQ(refused.retry_after_seconds(), 1);
  EXPECT_TRUE(b.take(kT0 + kSec).allowed);
  // A long wait never stores more than the one token.
  EXPECT_TRUE(b.take(kT0 + 100 * kSec).allowed);
  EXPECT_FALSE(b.take(kT0 + 100 * kSec).allowed);
}

TEST(TokenBucket, LongIdleGapsRefillToBurstOnly) {
  TokenBucket b(1000.0, 3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.take(kT0).allowed);
  EXPECT_FALSE(b.take(kT0).allowed);
  // Years later: full, but no more than full, and no overflow.
  std::int64_t years = kT0 + 100LL * 365 * 24 * 3600 * kSec;
  EXPECT_TRUE(b.full(years));
  TakeResult r = b.take(years);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 2u);
  EXPECT_TRUE(b.take(years).allowed);
  EXPECT_TRUE(b.take(years).allowed);
  EXPECT_FALSE(b.take(years).allowed);
}

TEST(TokenBucket, ExtremeTimesDoNotOverflow) {
  const std::int64_t lo = std::numeric_limits<std::int64_t>::min();
  const std::int64_t hi = std::numeric_limits<std::int64_t>::max();
  TokenBucket b(1.0, 2);
  EXPECT_TRUE(b.take(lo).allowed);  // clamped to -2^62
  EXPECT_TRUE(b.take(lo).allowed);
  EXPECT_FALSE(b.take(lo).allowed);
  TakeResult r = b.take(hi);  // clamped to 2^62: full again
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 1u);
  EXPECT_TRUE(b.take(hi).allowed);
  EXPECT_FALSE(b.take(hi).allowed);
  // The bare rule with a full_at far in the future refuses without overflowing.
  TokenBucketRule rule(1.0, 2);
  std::int64_t full_at = hi;
  TakeResult f = rule.take(full_at, 0);
  EXPECT_FALSE(f.allowed);
  EXPECT_EQ(f.remaining, 0u);
  EXPECT_EQ(f.reset, std::chrono::nanoseconds(rule.capacity_ns()));
}

TEST(TokenBucket, TimeGoingBackwardsCountsAsNoTime) {
  TokenBucket b(1.0, 2);
  EXPECT_TRUE(b.take(kT0 + 10 * kSec).allowed);
  // An earlier time is treated as kT0 + 10s: one token left, not fewer.
  TakeResult r = b.take(kT0);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 0u);
  EXPECT_EQ(r.reset, 2s);
  EXPECT_FALSE(b.take(kT0 + 5 * kSec).allowed);
  TakeResult later = b.take(kT0 + 11 * kSec);  // one second after the latest time seen
  EXPECT_TRUE(later.allowed);
  EXPECT_EQ(later.remaining, 0u);
}

TEST(TokenBucket, NewBucketIsFullAndPeekTakesNothing) {
  TokenBucket b(2.0, 4);
  EXPECT_TRUE(b.full(kT0));
  TakeResult p = b.peek(kT0);
  EXPECT_TRUE(p.allowed);
  EXPECT_EQ(p.remaining, 4u);
  EXPECT_EQ(p.reset, 0ns);
  EXPECT_TRUE(b.take(kT0).allowed);
  EXPECT_FALSE(b.full(kT0));
  EXPECT_EQ(b.peek(kT0).remaining, 3u);
  EXPECT_EQ(b.peek(kT0).remaining, 3u);
  EXPECT_TRUE(b.full(kT0 + 500 * kMs));
}

TEST(TokenBucket, SteadyClockOverload) {
  TokenBucket b(1.0, 1);
  auto t = std::chrono::steady_clock::time_point(std::chrono::seconds(5000));
  EXPECT_TRUE(b.take(t).allowed);
  EXPECT_FALSE(b.take(t + 999ms).allowed);
  EXPECT_TRUE(b.take(t + 1s).allowed);
  EXPECT_EQ(steady_ns(t), 5000 * kSec);
}

}  // namespace
}  // namespace ringproxy
