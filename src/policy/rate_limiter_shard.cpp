// The buckets of one RateLimiter shard: table, probing, eviction and the near-full index (see
// rate_limiter_shard.hpp).
#include "policy/rate_limiter_shard.hpp"

#include <algorithm>
#include <new>

namespace ringproxy {

using limiter_shard::kEmpty;
using limiter_shard::kMinCapacity;
using limiter_shard::kNoBuckets;
using limiter_shard::kSample;

void RateLimiter::Shard::publish() {
  std::int64_t lowest = heap.empty() ? overflow_min : std::min(overflow_min, heap.front().full_at);
  min_full_at.store(lowest, std::memory_order_relaxed);
  bytes.store((slots == nullptr ? 0 : (mask + 1) * sizeof(Slot)) + heap.capacity() * sizeof(Slot),
              std::memory_order_relaxed);
}

void RateLimiter::Shard::note(std::uint64_t key, std::int64_t full_at) {
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

void RateLimiter::Shard::rebuild(std::size_t capacity, std::int64_t drop_up_to) {
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

void RateLimiter::Shard::insert(std::uint64_t key, std::int64_t full_at) {
  std::size_t capacity = slots == nullptr ? 0 : mask + 1;
  if ((count + 1) * 4 > capacity * 3) rebuild(std::max(kMinCapacity, capacity * 2), kEmpty);
  std::size_t i = key & mask;
  while (slots[i].full_at != kEmpty) i = (i + 1) & mask;
  slots[i] = Slot{key, full_at};
  ++count;
  note(key, full_at);
  publish();
}

std::size_t RateLimiter::Shard::drop_full(std::int64_t now) {
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

std::size_t RateLimiter::Shard::sweep(std::int64_t now) {
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

void RateLimiter::Shard::erase(std::size_t i) {
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

bool RateLimiter::Shard::evict_closest() {
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

}  // namespace ringproxy
