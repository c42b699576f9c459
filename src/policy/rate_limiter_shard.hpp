// One shard of a RateLimiter: a linear-probing table of buckets and the index of those closest
// to full (see rate_limiter.hpp for the model). Internal to rate_limiter*.cpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "policy/rate_limiter.hpp"
#include "policy/token_bucket.hpp"

namespace ringproxy {

namespace limiter_shard {

inline constexpr std::int64_t kEmpty = std::numeric_limits<std::int64_t>::min();  // a free slot
inline constexpr std::int64_t kNoBuckets = std::numeric_limits<std::int64_t>::max();
inline constexpr std::size_t kMinCapacity = 16;
inline constexpr std::size_t kSample = 8;  // buckets looked at to pick an active victim

// One tracked client: its mixed key and its bucket (full_at > kEmpty once used).
struct Slot {
  std::uint64_t key;
  std::int64_t full_at;
};
static_assert(sizeof(Slot) == 16);

// The murmur3 finalizer: a bijection of 64-bit values that spreads every input bit.
inline std::uint64_t mix(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// A one-byte test-and-test-and-set lock that yields after a short spin. Critical sections are a
// few table probes, and rarely a sweep of one shard. Thread-safe: it is the lock.
class SpinLock {
 public:
  void lock() {
    for (unsigned spins = 0; locked_.exchange(true, std::memory_order_acquire);) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          cpu_relax();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace limiter_shard

// One shard: a linear-probing table of slots, plus an index of the buckets closest to full.
// Every member but the atomics is guarded by lock; the atomics may be read without it.
//
// Finding full buckets without scanning: `heap` is a min-heap on full_at of up to
// max(64, count / 16) candidates, (key, full_at as recorded); a bucket's real full_at only grows
// while it lives, so a record is never later than the bucket it names. Every bucket not in the
// heap has full_at >= overflow_min. So no bucket is full before min(heap top, overflow_min), and
// full buckets are found by popping the heap (a popped record whose bucket was taken since is
// pushed back with its new full_at). Only when overflow_min has passed is the whole shard swept,
// which also refills the heap with the smallest survivors: one sweep per about heap-size new
// clients even when buckets come full one at a time while the table is at max_clients.
struct alignas(64) RateLimiter::Shard {
  using Slot = limiter_shard::Slot;

  limiter_shard::SpinLock lock;
  std::int64_t clock = -TokenBucketRule::kMaxTime;  // the latest time seen: time never goes back
  Slot* slots = nullptr;
  std::size_t mask = 0;  // capacity - 1, capacity a power of two (0 slots while slots is null)
  std::size_t count = 0;
  std::size_t hand = 0;  // where the next victim sample starts
  std::unique_ptr<Slot[]> storage;
  std::vector<Slot> heap;
  std::int64_t overflow_min = limiter_shard::kNoBuckets;
  // min(heap top, overflow_min): no bucket is full before it. Written under lock, read without it
  // by threads looking for full buckets.
  std::atomic<std::int64_t> min_full_at{limiter_shard::kNoBuckets};
  // The table's address and mask, read without the lock only to prefetch; and the bytes held.
  std::atomic<Slot*> hint_slots{nullptr};
  std::atomic<std::size_t> hint_mask{0};
  std::atomic<std::size_t> bytes{0};

  // The heap order: the smallest full_at on top.
  struct Later {
    bool operator()(const Slot& a, const Slot& b) const { return a.full_at > b.full_at; }
  };
  static constexpr Later later{};

  std::int64_t observe(std::int64_t now) {
    clock = std::max(clock, TokenBucketRule::clamp_time(now));
    return clock;
  }

  void prefetch(std::uint64_t key) const {
    Slot* base = hint_slots.load(std::memory_order_relaxed);
    if (base == nullptr) return;
    // A stale address is harmless: a prefetch never faults.
    auto address = reinterpret_cast<std::uintptr_t>(base) +
                   (key & hint_mask.load(std::memory_order_relaxed)) * sizeof(Slot);
    __builtin_prefetch(reinterpret_cast<const void*>(address), 1);
  }

  Slot* find(std::uint64_t key) {
    if (slots == nullptr) return nullptr;
    for (std::size_t i = key & mask;; i = (i + 1) & mask) {
      Slot& slot = slots[i];
      if (slot.full_at == limiter_shard::kEmpty) return nullptr;
      if (slot.key == key) return &slot;
    }
  }

  std::size_t heap_limit() const { return std::max<std::size_t>(64, count / 16); }

  // Stores min_full_at and bytes from the guarded members.
  void publish();
  // Records a bucket the heap does not cover yet: in the heap while there is room, else in
  // overflow_min.
  void note(std::uint64_t key, std::int64_t full_at);
  // Moves the buckets with full_at > drop_up_to into a new table of the given capacity. May throw
  // std::bad_alloc (the shard is then unchanged).
  void rebuild(std::size_t capacity, std::int64_t drop_up_to);
  // Adds a bucket for key, which is not in the table. May throw std::bad_alloc (nothing added).
  void insert(std::uint64_t key, std::int64_t full_at);
  // Drops the full buckets the heap knows of, or, if none and overflow_min has passed, sweeps the
  // whole shard. Returns how many were dropped; 0 means no bucket of this shard is full at now.
  std::size_t drop_full(std::int64_t now);
  // Drops every full bucket and rebuilds the heap from the survivors; returns how many.
  std::size_t sweep(std::int64_t now);
  // Empties slot i, moving later buckets of its probe run back (no tombstones).
  void erase(std::size_t i);
  // Drops the bucket closest to full among kSample taken from the hand on; false when empty.
  // Its heap record, if any, goes stale and is skipped when popped.
  bool evict_closest();
};

}  // namespace ringproxy
