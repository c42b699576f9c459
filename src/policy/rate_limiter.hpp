// Per-client token buckets for one rate limit rule, shared by every worker thread, with memory
// bounded by max_clients. Pure: no clock is read, time is passed in.
//
// Layout: 64 shards chosen by key hash, each a small spin lock and an open-addressing table of
// 16-byte slots {key, full_at} (see token_bucket.hpp for full_at), plus a small heap of the
// buckets closest to full (about 1/16 of the shard). A take locks one shard only; there is no
// global lock. The only state shared by all shards is an atomic count of tracked clients,
// written when a client is added or dropped, never on the take of a known client.
//
// Memory bound: at most max_clients buckets exist at any time (size() <= max_clients), in tables
// kept at most 75% full (so under 3 x 16 bytes x max_clients in all). When a new client arrives
// and max_clients buckets exist, one is dropped:
//  1. Full buckets first. A bucket is full when it has been idle long enough to refill
//     (full_at <= now); it equals a new bucket, so dropping it changes nothing. Each shard knows
//     a time before which none of its buckets is full and finds its full ones through its heap
//     (sweeping itself only when the heap has run out); the new client's shard is tried first,
//     then the others. All the full buckets found this way are dropped at once.
//  2. Only when no shard holds a full bucket -- that is, when all max_clients tracked clients are
//     active (took a token less than their refill time ago) and this is one more -- is an active
//     bucket dropped: the one closest to full (smallest full_at) among 8 sampled from a rotating
//     position in the new client's shard (or, if that shard is empty, the next non-empty one).
//     Closest to full is the active bucket whose loss matters least. Its client's next request
//     finds a new, full bucket: that client gets the tokens it was missing back early, at most
//     (full_at - now) / interval of them, i.e. less than burst. stats().evicted_active counts
//     these drops.
// So as long as max_clients >= the number of active clients (including the one arriving), no
// bucket that matters is dropped and every client gets exactly the answers an unbounded limiter
// would give. (Under concurrency a bucket that another thread is adding at that very moment may
// be missed by the search; it is found by the next one.)
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
