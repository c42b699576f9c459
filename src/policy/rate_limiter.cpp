// Sharded per-client token buckets with a max_clients bound (see rate_limiter.hpp).
#include "policy/rate_limiter.hpp"

#include <xxhash.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "policy/rate_limiter_shard.hpp"

namespace ringproxy {

using limiter_shard::mix;
using Slot = limiter_shard::Slot;

RateLimitRule RateLimitRule::from_config(const RateLimitConfig& config) {
  return RateLimitRule{config.key, config.rate, config.burst, config.max_clients};
}

RateLimiter::RateLimiter(RateLimitRule rule, Options options)
    : rule_(std::move(rule)),
      bucket_rule_(rule_.rate, rule_.burst),
      shard_bits_(std::min(options.shard_bits, 10u)),
      seed_(options.seed),
      shards_(new Shard[std::size_t{1} << shard_bits_]),
      shard_count_(std::size_t{1} << shard_bits_) {}

RateLimiter::~RateLimiter() = default;

std::uint64_t RateLimiter::key_hash(std::string_view client_key) const {
  return XXH3_64bits_withSeed(client_key.data(), client_key.size(), seed_);
}

RateLimiter::Shard& RateLimiter::shard_of(std::uint64_t mixed) const {
  return shards_[shard_bits_ == 0 ? 0 : mixed >> (64 - shard_bits_)];
}

bool RateLimiter::try_reserve() {
  std::size_t limit = std::max<std::size_t>(rule_.max_clients, 1);
  std::size_t n = size_.load(std::memory_order_relaxed);
  while (n < limit) {
    if (size_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

void RateLimiter::release_reservations(std::size_t count) {
  if (count > 0) size_.fetch_sub(count, std::memory_order_relaxed);
}

void RateLimiter::make_room(std::size_t own, std::int64_t now) {
  const std::size_t wrap = shard_count_ - 1;
  for (;;) {
    // 1. Full buckets in the other shards (the own shard has just been swept).
    for (std::size_t i = 1; i < shard_count_; ++i) {
      Shard& shard = shards_[(own + i) & wrap];
      if (shard.min_full_at.load(std::memory_order_relaxed) > now) continue;
      std::lock_guard guard(shard.lock);
      std::int64_t shard_now = shard.observe(now);
      if (shard.min_full_at.load(std::memory_order_relaxed) > shard_now) continue;
      if (std::size_t freed = shard.drop_full(shard_now)) {
        evicted_full_.fetch_add(freed, std::memory_order_relaxed);
        release_reservations(freed - 1);  // one is ours
        return;
      }
    }
    if (try_reserve()) return;  // another thread made room meanwhile
    // 2. Every tracked client is active: drop the bucket closest to full, own shard first.
    for (std::size_t i = 0; i < shard_count_; ++i) {
      Shard& shard = shards_[(own + i) & wrap];
      std::lock_guard guard(shard.lock);
      std::int64_t shard_now = shard.observe(now);
      if (shard.min_full_at.load(std::memory_order_relaxed) <= shard_now) {
        if (std::size_t freed = shard.drop_full(shard_now)) {
          evicted_full_.fetch_add(freed, std::memory_order_relaxed);
          release_reservations(freed - 1);
          return;
        }
      }
      if (shard.evict_closest()) {
        evicted_active_.fetch_add(1, std::memory_order_relaxed);
        return;  // its place is ours
      }
    }
    // Every place is held by a client that another thread is adding right now.
    std::this_thread::yield();
  }
}

void RateLimiter::prefetch(std::uint64_t key) const {
  const std::uint64_t mixed = mix(key ^ seed_);
  Shard& shard = shard_of(mixed);
  // The shard's lock line too, for writing: another thread may have it, and the take will.
  __builtin_prefetch(&shard, 1);
  shard.prefetch(mixed);
}

TakeResult RateLimiter::take(std::uint64_t key, std::int64_t now_ns) {
  const std::uint64_t mixed = mix(key ^ seed_);  // a bijection: distinct keys stay distinct
  Shard& shard = shard_of(mixed);
  shard.prefetch(mixed);
  std::unique_lock lock(shard.lock);
  std::int64_t now = shard.observe(now_ns);
  if (Slot* slot = shard.find(mixed)) return bucket_rule_.take(slot->full_at, now);

  // A new client: it needs one of the max_clients places.
  bool reserved = try_reserve();
  if (!reserved && shard.min_full_at.load(std::memory_order_relaxed) <= now) {
    if (std::size_t freed = shard.drop_full(now)) {
      evicted_full_.fetch_add(freed, std::memory_order_relaxed);
      release_reservations(freed - 1);
      reserved = true;
    }
  }
  if (!reserved) {
    lock.unlock();  // never hold two shard locks
    make_room(static_cast<std::size_t>(&shard - shards_.get()), now);
    lock.lock();
    now = shard.observe(now);
    if (Slot* slot = shard.find(mixed)) {  // another thread added it meanwhile
      release_reservations(1);
      return bucket_rule_.take(slot->full_at, now);
    }
  }
  std::int64_t full_at = TokenBucketRule::kNew;
  TakeResult result = bucket_rule_.take(full_at, now);
  try {
    shard.insert(mixed, full_at);
  } catch (...) {
    release_reservations(1);
    throw;
  }
  return result;
}

std::size_t RateLimiter::memory_bytes() const {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    bytes += shards_[i].bytes.load(std::memory_order_relaxed);
  }
  return bytes;
}

RateLimiter::Stats RateLimiter::stats() const {
  return Stats{evicted_full_.load(std::memory_order_relaxed),
               evicted_active_.load(std::memory_order_relaxed)};
}

}  // namespace ringproxy
