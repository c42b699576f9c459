// Per-client token buckets for one rate limit rule, shared by every worker thread (64 sharded
// spin locks, no global lock), memory bounded by max_clients. Pure: time is passed in. The
// layout and the eviction rules that keep the bound are in docs/policy.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "policy/token_bucket.hpp"

namespace ringproxy {

// One rate limit rule: whose buckets (key), how fast and how big, and how many clients tracked.
struct RateLimitRule {
  RateLimitKey key;           // client_ip | header:NAME
  double rate = 100.0;        // tokens per second
  std::uint64_t burst = 200;  // bucket capacity
  std::size_t max_clients = 1000000;

  static RateLimitRule from_config(const RateLimitConfig& config);
  bool operator==(const RateLimitRule&) const = default;
};

// Token buckets per client key for one rule. Thread-safe: take() and every const member may be
// called from any number of threads at once (a per-shard lock, no global lock).
class RateLimiter {
 public:
  struct Options {
    unsigned shard_bits = 6;  // 2^shard_bits shards; at most 10 (tests use 0: one shard)
    std::uint64_t seed = 0;   // keys are hashed with it; give a random one against hash flooding
  };
  // Counters since construction, for metrics and tests.
  struct Stats {
    std::uint64_t evicted_full = 0;    // full buckets dropped (harmless)
    std::uint64_t evicted_active = 0;  // non-full buckets dropped (their clients start full)
  };

  explicit RateLimiter(RateLimitRule rule) : RateLimiter(std::move(rule), Options{}) {}
  RateLimiter(RateLimitRule rule, Options options);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes one token from the bucket of client_key at now (monotonic nanoseconds; a time earlier
  // than one this shard has already seen counts as that time). A new client starts full.
  // String keys are told apart by a seeded 64-bit hash (two keys sharing one is negligible:
  // about 3e-8 for a million clients).
  TakeResult take(std::string_view client_key, std::int64_t now_ns) {
    return take(key_hash(client_key), now_ns);
  }
  // The same for a key that is already a 64-bit number (distinct numbers never share a bucket).
  TakeResult take(std::uint64_t key, std::int64_t now_ns);
  TakeResult take(std::string_view client_key, std::chrono::steady_clock::time_point now) {
    return take(client_key, steady_ns(now));
  }
  TakeResult take(std::uint64_t key, std::chrono::steady_clock::time_point now) {
    return take(key, steady_ns(now));
  }

  // Starts loading key's bucket into the CPU cache without waiting for it. A bucket table of
  // a million clients is far bigger than the caches, so a take() of a random client waits for
  // main memory; calling this as soon as the key is known (when a connection is accepted, or
  // the request head parsed) lets that wait overlap other work. Only a hint: it changes nothing.
  void prefetch(std::uint64_t key) const;
  void prefetch(std::string_view client_key) const { prefetch(key_hash(client_key)); }

  // The 64-bit key take(string_view) uses: XXH3-64 seeded with Options::seed.
  std::uint64_t key_hash(std::string_view client_key) const;
  // Options::seed: two limiters with the same seed hash every key alike.
  std::uint64_t seed() const { return seed_; }

  // Whether rule is this limiter's rule (key, rate, burst and max_clients all equal): on a
  // reload the proxy keeps this limiter, and so its buckets, when the rule is unchanged.
  bool same_rule(const RateLimitRule& rule) const { return rule == rule_; }
  const RateLimitRule& rule() const { return rule_; }
  const TokenBucketRule& bucket_rule() const { return bucket_rule_; }

  // Tracked clients (including ones being added right now); never more than max_clients.
  std::size_t size() const { return size_.load(std::memory_order_relaxed); }
  // Bytes of bucket tables and heaps currently allocated (the shards' fixed part excluded).
  std::size_t memory_bytes() const;
  Stats stats() const;

 private:
  struct Shard;

  Shard& shard_of(std::uint64_t mixed) const;
  bool try_reserve();
  void release_reservations(std::size_t count);
  // Frees one bucket somewhere for a new client of shard own (whose lock is not held); returns
  // holding one reservation in size_.
  void make_room(std::size_t own, std::int64_t now);

  RateLimitRule rule_;
  TokenBucketRule bucket_rule_;
  unsigned shard_bits_;
  std::uint64_t seed_;
  std::unique_ptr<Shard[]> shards_;
  std::size_t shard_count_;
  alignas(64) std::atomic<std::size_t> size_{0};
  std::atomic<std::uint64_t> evicted_full_{0};
  std::atomic<std::uint64_t> evicted_active_{0};
};

}  // namespace ringproxy
