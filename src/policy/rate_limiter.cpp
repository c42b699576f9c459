// Sharded per-client token buckets with a max_clients bound (see rate_limiter.hpp).
#include "policy/rate_limiter.hpp"

#include <xxhash.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

namespace ringproxy {

namespace {

constexpr std::int64_t kEmpty = std::numeric_limits<std::int64_t>::min();  // a free slot
constexpr std::int64_t kNoBuckets = std::numeric_limits<std::int64_t>::max();
constexpr std::size_t kMinCapacity = 16;
constexpr std::size_t kSample = 8;  // buckets looked at to pick an active victim

// One tracked client: its mixed key and its bucket (full_at > kEmpty once used).
struct Slot {
  std::uint64_t key;
  std::int64_t full_at;
};
static_assert(sizeof(Slot) == 16);

// The murmur3 finalizer: a bijection of 64-bit values that spreads every input bit.
std::uint64_t mix(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// A one-byte test-and-test-and-set lock that yields after a short spin. Critical sections are a
// few table probes, and rarely a sweep of one shard.
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

}  // namespace

// One shard: a linear-probing table of slots, plus an index of the buckets closest to full.
// Every member but the atomics is guarded by lock.
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
  SpinLock lock;
  std::int64_t clock = -TokenBucketRule::kMaxTime;  // the latest time seen: time never goes back
  Slot* slots = nullptr;
  std::size_t mask = 0;  // capacity - 1, capacity a power of two (0 slots while slots is null)
  std::size_t count = 0;
  std::size_t hand = 0;  // where the next victim sample starts
  std::unique_ptr<Slot[]> storage;
  std::vector<Slot> heap;
  std::int64_t overflow_min = kNoBuckets;
  // min(heap top, overflow_min): no bucket is full before it. Written under lock, read without it
  // by threads looking for full buckets.
  std::atomic<std::int64_t> min_full_at{kNoBuckets};
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
      if (slot.full_at == kEmpty) return nullptr;
      if (slot.key == key) return &slot;
    }
  }

  void publish() {
    std::int64_t lowest =
        heap.empty() ? overflow_min : std::min(overflow_min, heap.front().full_at);
    min_full_at.store(lowest, std::memory_order_relaxed);
    bytes.store((slots == nullptr ? 0 : (mask + 1) * sizeof(Slot)) + heap.capacity() * sizeof(Slot),
                std::memory_order_relaxed);
  }

  std::size_t heap_limit() const { return std::max<std::size_t>(64, count / 16); }

  // Records a bucket the heap does not cover yet: in the heap while there is room, else in
  // overflow_min.
  void note(std::uint64_t key, std::int64_t full_at) {
    if (heap.size() < heap_limit()) {
      try {
        heap.push_back(Slot{key, full_at});
        std::push_heap(heap.begin(), heap.end(), later);
        return;
      } catch (const std::bad_alloc&) {
      }
    }
    overflow_min = std::min(overflow_min, full_at);
  }

  // Moves the buckets with full_at > drop_up_to into a new table of the given capacity. May throw
  // std::bad_alloc (the shard is then unchanged).
  void rebuild(std::size_t capacity, std::int64_t drop_up_to) {
    auto fresh = std::make_unique<Slot[]>(capacity);
    for (std::size_t i = 0; i < capacity; ++i) fresh[i] = Slot{0, kEmpty};
    std::size_t fresh_mask = capacity - 1;
    std::size_t kept = 0;
    for (std::size_t i = 0; slots != nullptr && i <= mask; ++i) {
      const Slot& slot = slots[i];
      if (slot.full_at == kEmpty || slot.full_at <= drop_up_to) continue;
      std::size_t j = slot.key & fresh_mask;
      while (fresh[j].full_at != kEmpty) j = (j + 1) & fresh_mask;
      fresh[j] = slot;
      ++kept;
    }
    storage = std::move(fresh);
    slots = storage.get();
    mask = fresh_mask;
    count = kept;
    hand = 0;
    hint_mask.store(mask, std::memory_order_relaxed);
    hint_slots.store(slots, std::memory_order_relaxed);
  }

  // Adds a bucket for key, which is not in the table. May throw std::bad_alloc (nothing added).
  void insert(std::uint64_t key, std::int64_t full_at) {
    std::size_t capacity = slots == nullptr ? 0 : mask + 1;
    if ((count + 1) * 4 > capacity * 3) rebuild(std::max(kMinCapacity, capacity * 2), kEmpty);
    std::size_t i = key & mask;
    while (slots[i].full_at != kEmpty) i = (i + 1) & mask;
    slots[i] = Slot{key, full_at};
    ++count;
    note(key, full_at);
    publish();
  }

  // Drops the full buckets the heap knows of, or, if none and overflow_min has passed, sweeps the
  // whole shard. Returns how many were dropped; 0 means no bucket of this shard is full at now.
  std::size_t drop_full(std::int64_t now) {
    std::size_t dropped = 0;
    while (!heap.empty() && heap.front().full_at <= now) {
      std::pop_heap(heap.begin(), heap.end(), later);
      Slot record = heap.back();
      heap.pop_back();
      Slot* slot = find(record.key);
      if (slot == nullptr) continue;  // dropped already
      if (slot->full_at <= now) {
        erase(static_cast<std::size_t>(slot - slots));
        --count;
        ++dropped;
      } else {  // taken since it was recorded: record its new full_at (no allocation)
        heap.push_back(Slot{record.key, slot->full_at});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
    if (dropped == 0 && overflow_min <= now) dropped = sweep(now);
    publish();
    return dropped;
  }

  // Drops every full bucket and rebuilds the heap from the survivors; returns how many.
  std::size_t sweep(std::int64_t now) {
    std::size_t full = 0;
    for (std::size_t i = 0; slots != nullptr && i <= mask; ++i) {
      std::int64_t full_at = slots[i].full_at;
      if (full_at != kEmpty && full_at <= now) ++full;
    }
    if (full > 0) {
      std::size_t survivors = count - full;
      std::size_t capacity = kMinCapacity;  // room for the survivors at most half full
      while (capacity < survivors * 2) capacity *= 2;
      bool shrunk = false;
      if (capacity * 4 <= mask + 1) {  // worth a smaller table
        try {
          rebuild(capacity, now);
          shrunk = true;
        } catch (const std::bad_alloc&) {
        }
      }
      if (!shrunk) {
        for (std::size_t i = 0; i <= mask;) {
          if (slots[i].full_at != kEmpty && slots[i].full_at <= now) {
            erase(i);  // may move a later bucket into i: look at i again
          } else {
            ++i;
          }
        }
        count = survivors;
      }
    }
    // The heap: the heap_limit() smallest full_at, found with a max-heap; the rest bound
    // overflow_min.
    heap.clear();
    overflow_min = kNoBuckets;
    const std::size_t limit = heap_limit();
    auto earlier = [](const Slot& a, const Slot& b) { return a.full_at < b.full_at; };
    for (std::size_t i = 0; slots != nullptr && i <= mask; ++i) {
      const Slot& slot = slots[i];
      if (slot.full_at == kEmpty) continue;
      if (heap.size() < limit) {
        try {
          heap.push_back(slot);
          std::push_heap(heap.begin(), heap.end(), earlier);
          continue;
        } catch (const std::bad_alloc&) {
        }
      }
      if (!heap.empty() && slot.full_at < heap.front().full_at) {
        overflow_min = std::min(overflow_min, heap.front().full_at);
        std::pop_heap(heap.begin(), heap.end(), earlier);
        heap.back() = slot;
        std::push_heap(heap.begin(), heap.end(), earlier);
      } else {
        overflow_min = std::min(overflow_min, slot.full_at);
      }
    }
    std::make_heap(heap.begin(), heap.end(), later);
    publish();
    return full;
  }

  // Empties slot i, moving later buckets of its probe run back (no tombstones).
  void erase(std::size_t i) {
    std::size_t hole = i;
    for (std::size_t j = (i + 1) & mask; slots[j].full_at != kEmpty; j = (j + 1) & mask) {
      std::size_t home = slots[j].key & mask;
      // The bucket at j may move to the hole when the hole lies on its way from home to j.
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        slots[hole] = slots[j];
        hole = j;
      }
    }
    slots[hole].full_at = kEmpty;
  }

  // Drops the bucket closest to full among kSample taken from the hand on; false when empty.
  // Its heap record, if any, goes stale and is skipped when popped.
  bool evict_closest() {
    if (count == 0) return false;
    std::size_t best = 0;
    std::int64_t best_full_at = kNoBuckets;
    std::size_t seen = 0;
    std::size_t i = hand & mask;
    for (std::size_t step = 0; step <= mask && seen < kSample; ++step, i = (i + 1) & mask) {
      std::int64_t full_at = slots[i].full_at;
      if (full_at == kEmpty) continue;
      ++seen;
      if (full_at <= best_full_at) {
        best_full_at = full_at;
        best = i;
      }
    }
    hand = i;
    erase(best);
    --count;
    publish();
    return true;
  }
};

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
