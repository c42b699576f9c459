// Tests for RateLimiter: per-client buckets, the max_clients bound and its eviction order, and
// concurrent takes. Time is a fake clock: plain nanosecond values the tests advance.
#include "policy/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace ringproxy {
namespace {

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kT0 = 1000 * kSec;

RateLimitRule rule(double rate, std::uint64_t burst, std::size_t max_clients = 1000000) {
  RateLimitRule r;
  r.rate = rate;
  r.burst = burst;
  r.max_clients = max_clients;
  return r;
}

TEST(RateLimiter, ClientsHaveTheirOwnBuckets) {
  RateLimiter limiter(rule(1.0, 2));
  EXPECT_TRUE(limiter.take("10.0.0.1", kT0).allowed);
  EXPECT_TRUE(limiter.take("10.0.0.1", kT0).allowed);
  TakeResult refused = limiter.take("10.0.0.1", kT0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_seconds(), 1);
  // Another client starts full.
  TakeResult other = limiter.take("10.0.0.2", kT0);
  EXPECT_TRUE(other.allowed);
  EXPECT_EQ(other.remaining, 1u);
  EXPECT_EQ(limiter.size(), 2u);
  // The first refills on its own.
  EXPECT_TRUE(limiter.take("10.0.0.1", kT0 + kSec).allowed);
  EXPECT_FALSE(limiter.take("10.0.0.1", kT0 + kSec).allowed);
}

TEST(RateLimiter, StringAndNumberKeys) {
  RateLimiter limiter(rule(1.0, 1), {.shard_bits = 6, .seed = 42});
  std::uint64_t h = limiter.key_hash("client");
  EXPECT_TRUE(limiter.take("client", kT0).allowed);
  EXPECT_FALSE(limiter.take(h, kT0).allowed);  // the same bucket
  EXPECT_TRUE(limiter.take(std::uint64_t{0}, kT0).allowed);
  EXPECT_TRUE(limiter.take(std::uint64_t{1}, kT0).allowed);
  EXPECT_FALSE(limiter.take(std::uint64_t{0}, kT0).allowed);
  RateLimiter other(rule(1.0, 1), {.shard_bits = 6, .seed = 43});
  EXPECT_NE(other.key_hash("client"), h);
}

TEST(RateLimiter, MatchesTokenBucketPerClient) {
  RateLimiter limiter(rule(5.0, 3));
  std::map<int, TokenBucket> reference;
  std::int64_t now = kT0;
  for (int i = 0; i < 20000; ++i) {
    now += (i * 7919) % 13 * kMs;
    int client = (i * 31) % 17;
    auto [it, fresh] = reference.try_emplace(client, 5.0, 3);
    TakeResult want = it->second.take(now);
    TakeResult got = limiter.take(std::uint64_t(client), now);
    ASSERT_EQ(got.allowed, want.allowed) << i;
    ASSERT_EQ(got.remaining, want.remaining) << i;
    ASSERT_EQ(got.retry_after, want.retry_after) << i;
    ASSERT_EQ(got.reset, want.reset) << i;
  }
}

TEST(RateLimiter, TimeGoingBackwardsCountsAsNoTime) {
  RateLimiter limiter(rule(1.0, 2), {.shard_bits = 0});
  EXPECT_TRUE(limiter.take("a", kT0 + 10 * kSec).allowed);
  TakeResult r = limiter.take("a", kT0);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 0u);
  EXPECT_FALSE(limiter.take("a", kT0 + 5 * kSec).allowed);
}

TEST(RateLimiter, SameRule) {
  RateLimitRule r = rule(10.0, 20, 1000);
  RateLimiter limiter(r);
  EXPECT_TRUE(limiter.same_rule(r));
  RateLimitRule key = r;
  key.key = RateLimitKey{"X-Api-Key"};
  EXPECT_FALSE(limiter.same_rule(key));
  RateLimitRule rate = r;
  rate.rate = 10.5;
  EXPECT_FALSE(limiter.same_rule(rate));
  RateLimitRule burst = r;
  burst.burst = 21;
  EXPECT_FALSE(limiter.same_rule(burst));
  RateLimitRule max = r;
  max.max_clients = 1001;
  EXPECT_FALSE(limiter.same_rule(max));

  RateLimitConfig config;
  config.key = RateLimitKey{"X-User"};
  config.rate = 2.5;
  config.burst = 4;
  config.max_clients = 7;
  config.line = 12;
  RateLimitRule from = RateLimitRule::from_config(config);
  EXPECT_EQ(from.key.to_string(), "header:X-User");
  EXPECT_EQ(from.rate, 2.5);
  EXPECT_EQ(from.burst, 4u);
  EXPECT_EQ(from.max_clients, 7u);
  config.line = 40;  // where the rule was written does not matter
  EXPECT_TRUE(RateLimiter(from).same_rule(RateLimitRule::from_config(config)));
}

// max_clients above the number of active clients: a steady set of heavy clients, and a stream
// of one-time clients whose buckets refill (become full) soon after. The heavy clients' answers
// must be exactly those of unbounded buckets, and only full buckets may be dropped.
TEST(RateLimiter, NothingIsLostWhileMaxClientsCoversTheActiveOnes) {
  for (unsigned shard_bits : {0u, 3u, 6u}) {
    SCOPED_TRACE(shard_bits);
    const std::size_t kMax = 100;
    RateLimiter limiter(rule(10.0, 5, kMax), {.shard_bits = shard_bits, .seed = 7});
    std::vector<TokenBucket> heavy(50, TokenBucket(10.0, 5));  // a token every 100ms
    std::vector<std::uint64_t> allowed(heavy.size(), 0);
    std::uint64_t one_time = 1'000'000;
    std::int64_t now = kT0;
    for (int round = 0; round < 2000; ++round) {
      now += 10 * kMs;
      for (std::size_t c = 0; c < heavy.size(); ++c) {
        for (int k = 0; k < 3; ++k) {
          TakeResult want = heavy[c].take(now);
          TakeResult got = limiter.take(std::uint64_t(c), now);
          ASSERT_EQ(got.allowed, want.allowed) << "round " << round << " client " << c;
          ASSERT_EQ(got.remaining, want.remaining);
          allowed[c] += got.allowed;
        }
      }
      // 4 new clients per 10ms; each bucket is full again 100ms later, so at most 40 of them
      // are active at once: 90 active clients in all, fewer than max_clients.
      for (int k = 0; k < 4; ++k) ASSERT_TRUE(limiter.take(one_time++, now).allowed);
      ASSERT_LE(limiter.size(), kMax);
    }
    double elapsed = static_cast<double>(now - kT0) / kSec;
    for (std::size_t c = 0; c < heavy.size(); ++c) {
      EXPECT_LE(allowed[c], 5 + 10.0 * elapsed + 1);  // burst + rate x elapsed (+ first round)
    }
    RateLimiter::Stats stats = limiter.stats();
    EXPECT_EQ(stats.evicted_active, 0u);
    EXPECT_GT(stats.evicted_full, 7000u);
    EXPECT_EQ(stats.evicted_full + limiter.size(), one_time - 1'000'000 + heavy.size());
  }
}

// More active clients than max_clients: active buckets have to go. The dropped one is the one
// closest to full (its client loses the least), and its client starts over with a full bucket.
TEST(RateLimiter, UnderPressureTheBucketClosestToFullIsDropped) {
  RateLimiter limiter(rule(1.0, 10, 3), {.shard_bits = 0});   // a token a second, 10 at most
  for (int i = 0; i < 10; ++i) limiter.take("drained", kT0);  // full again at 10s
  for (int i = 0; i < 2; ++i) limiter.take("light", kT0);     // full again at 2s
  for (int i = 0; i < 5; ++i) limiter.take("medium", kT0);    // full again at 5s
  EXPECT_EQ(limiter.size(), 3u);

  // At 1s no bucket is full: "light" (closest to full) makes room for "new".
  EXPECT_TRUE(limiter.take("new", kT0 + kSec).allowed);  // full again at 2s
  EXPECT_EQ(limiter.size(), 3u);
  EXPECT_EQ(limiter.stats().evicted_active, 1u);
  EXPECT_EQ(limiter.stats().evicted_full, 0u);
  // The others kept their buckets: 1 token back for "drained", 5 for "medium".
  TakeResult drained = limiter.take("drained", kT0 + kSec);
  EXPECT_TRUE(drained.allowed);
  EXPECT_EQ(drained.remaining, 0u);
  EXPECT_FALSE(limiter.take("drained", kT0 + kSec).allowed);
  EXPECT_EQ(limiter.take("medium", kT0 + kSec).remaining, 5u);
  // "light" comes back: a new, full bucket. Its old one would have held 9 tokens (8 after this
  // take): it gained the 1 token it was missing. "new" is closest to full now and goes.
  TakeResult light = limiter.take("light", kT0 + kSec);
  EXPECT_TRUE(light.allowed);
  EXPECT_EQ(light.remaining, 9u);
  EXPECT_EQ(limiter.stats().evicted_active, 2u);
  EXPECT_EQ(limiter.size(), 3u);

  // At 3s "light" is full again: it goes first, for free.
  EXPECT_TRUE(limiter.take("later", kT0 + 3 * kSec).allowed);
  EXPECT_EQ(limiter.stats().evicted_active, 2u);
  EXPECT_EQ(limiter.stats().evicted_full, 1u);
  EXPECT_EQ(limiter.size(), 3u);
  // "drained" and "medium" are still tracked, with their own state.
  EXPECT_EQ(limiter.take("medium", kT0 + 3 * kSec).remaining, 6u);
  EXPECT_EQ(limiter.take("drained", kT0 + 3 * kSec).remaining, 1u);
}

// 2,000,000 distinct clients, 1us apart, through max_clients: the count never exceeds
// max_clients and the tables stay proportional to it.
struct FloodCase {
  std::size_t max_clients;
  double rate;
  std::uint64_t burst;
  bool all_full;  // whether every drop must be of a full bucket
};

TEST(RateLimiter, MaxClientsBoundsMemoryUnderTwoMillionKeys) {
  const FloodCase cases[] = {
      // The default bound; buckets are full again 1s after their take, just as the millionth
      // client after them arrives: each new client finds exactly one full bucket to replace.
      {1000000, 1.0, 10, true},
      // A small bound with buckets full again after 0.5ms (500 clients): only full ones go.
      {1000, 2000.0, 1, true},
      // A small bound with buckets full again after 10s: 10 million would be active, so active
      // buckets (the ones closest to full) have to go.
      {1000, 1.0, 10, false},
  };
  for (const FloodCase& c : cases) {
    SCOPED_TRACE(c.max_clients);
    SCOPED_TRACE(c.rate);
    RateLimiter limiter(rule(c.rate, c.burst, c.max_clients));
    std::int64_t now = kT0;
    std::size_t peak_bytes = 0;
    for (std::uint64_t key = 0; key < 2'000'000; ++key) {
      now += 1000;
      ASSERT_TRUE(limiter.take(key, now).allowed);
      ASSERT_LE(limiter.size(), c.max_clients);
      if ((key & 1023) == 0) peak_bytes = std::max(peak_bytes, limiter.memory_bytes());
    }
    peak_bytes = std::max(peak_bytes, limiter.memory_bytes());
    EXPECT_LE(limiter.size(), c.max_clients);  // all full buckets found go at once
    // Tables at most 75% full, doubled: under 2.7 slots of 16 bytes per client, plus heaps of
    // 1/32 of that (doubled) and the smallest tables and heaps of each shard.
    EXPECT_LE(peak_bytes, c.max_clients * 16 * 3 + 64 * (16 + 128) * 16);
    RateLimiter::Stats stats = limiter.stats();
    EXPECT_EQ(stats.evicted_full + stats.evicted_active + limiter.size(), 2'000'000u);
    if (c.all_full) {
      EXPECT_EQ(stats.evicted_active, 0u);
    } else {
      EXPECT_EQ(stats.evicted_full, 0u);
    }
    // A known client is still limited after all that churn.
    std::uint64_t last = 1'999'999;
    for (std::uint64_t i = 1; i < c.burst; ++i) EXPECT_TRUE(limiter.take(last, now).allowed);
    EXPECT_FALSE(limiter.take(last, now).allowed);
  }
}

TEST(RateLimiter, MaxClientsOfOne) {
  RateLimiter limiter(rule(1.0, 1, 1));
  EXPECT_TRUE(limiter.take("a", kT0).allowed);
  EXPECT_FALSE(limiter.take("a", kT0).allowed);
  EXPECT_TRUE(limiter.take("b", kT0).allowed);  // "a" (active) had to go
  EXPECT_EQ(limiter.size(), 1u);
  EXPECT_EQ(limiter.stats().evicted_active, 1u);
  EXPECT_TRUE(limiter.take("c", kT0 + kSec).allowed);  // "b" is full by now: dropped for free
  EXPECT_EQ(limiter.stats().evicted_full, 1u);
  EXPECT_FALSE(limiter.take("c", kT0 + kSec).allowed);
}

// Two threads on one key, with a shared fake clock they both advance: together they never get
// more than burst + elapsed / interval tokens (time seen out of order counts as no time).
TEST(RateLimiter, ConcurrentTakesOnOneKeyNeverExceedTheLimit) {
  RateLimiter limiter(rule(1000.0, 50));
  const std::int64_t interval = limiter.bucket_rule().interval_ns();  // 1ms
  std::atomic<std::int64_t> clock{kT0};
  std::atomic<std::uint64_t> allowed{0};
  auto worker = [&](unsigned id) {
    std::uint64_t mine = 0;
    for (int i = 0; i < 200000; ++i) {
      std::int64_t now = clock.fetch_add(static_cast<std::int64_t>(1000 + id * 300)) + 1000;
      if (limiter.take("shared", now).allowed) ++mine;
    }
    allowed += mine;
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  std::int64_t elapsed = clock.load() - kT0;
  EXPECT_LE(allowed.load(), 50u + static_cast<std::uint64_t>(elapsed / interval));
  // Demand (one take per ~1.15us) far exceeds supply, so nearly all the supply was used.
  EXPECT_GE(allowed.load() + 2, 50u + static_cast<std::uint64_t>(elapsed / interval) / 2);
}

// Many threads' worth of distinct keys under a small bound, concurrently: the bound holds and
// nothing deadlocks while threads evict from each other's shards.
TEST(RateLimiter, ConcurrentChurnKeepsTheBound) {
  const std::size_t kMax = 500;
  RateLimiter limiter(rule(100.0, 5, kMax));
  std::atomic<std::int64_t> clock{kT0};
  std::atomic<bool> over{false};
  auto worker = [&](std::uint64_t base) {
    for (std::uint64_t i = 0; i < 100000; ++i) {
      std::int64_t now = clock.fetch_add(2000);
      limiter.take(base + (i % 3 == 0 ? i % 700 : i), now);
      if (limiter.size() > kMax) over = true;
    }
  };
  std::thread a(worker, 0), b(worker, std::uint64_t{1} << 40);
  a.join();
  b.join();
  EXPECT_FALSE(over.load());
  EXPECT_LE(limiter.size(), kMax);
}

}  // namespace
}  // namespace ringproxy
