// One worker's share of a global limit's leases: per busy client, the slice of the instance's
// lease this worker spends without any lock (see docs/policy.md, "Global limits: leases").
// Internal to LeaseBook; pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>

#include "policy/function_ref.hpp"

namespace ringproxy {

// A slice cut from one client's lease in the LeaseBook. Plain data.
struct LeaseSlice {
  static constexpr std::int64_t kFree = std::numeric_limits<std::int64_t>::min();

  std::uint64_t key = 0;
  std::uint64_t epoch = 0;   // the book entry it was cut from (entries are renewed, not reused)
  std::uint64_t tokens = 0;  // left to spend here
  std::uint64_t lent = 0;    // its size when cut: what the book counts as lent to this lane
  std::uint64_t base = 0;    // what the book and the shared bucket held besides, at the cut
  std::int64_t cut_at = 0;   // spent only until cut_at + idle_ns: then the book may drop it
  std::int64_t last_used = kFree;  // kFree: the table slot is free
};

// A linear-probing table of slices by client key, grown by doubling up to a cap; at the cap,
// idle slices (else all) are handed back to the book and dropped. Not thread-safe: a lane
// belongs to one worker thread.
class alignas(64) LeaseLane {
 public:
  // At most this many slices (and at most max_clients).
  static constexpr std::size_t kMaxSlices = 12288;

  LeaseLane() = default;
  LeaseLane(const LeaseLane&) = delete;
  LeaseLane& operator=(const LeaseLane&) = delete;

  // The slice of key, or nullptr.
  LeaseSlice* find(std::uint64_t key) {
    if (slots_ == nullptr) return nullptr;
    for (std::size_t i = index_of(key);; i = (i + 1) & mask_) {
      LeaseSlice& slot = slots_[i];
      if (slot.last_used == LeaseSlice::kFree) return nullptr;
      if (slot.key == key) return &slot;
    }
  }

  // A new slice for key (not in the table), used at now: tokens 0, lent 0. When the table is
  // at its cap (max_slices), first hands every slice cut over idle_ns ago, or else every
  // slice, to give_back and drops them. The pointer is valid until the next add.
  LeaseSlice* add(std::uint64_t key, std::int64_t now, std::int64_t idle_ns, std::size_t max_slices,
                  FunctionRef<void(const LeaseSlice&)> give_back);

  std::size_t size() const { return count_; }

 private:
  std::size_t index_of(std::uint64_t key) const {
    return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ULL) >> shift_) & mask_;
  }
  // Moves the slices keep() holds to a table of capacity slots.
  void rebuild(std::size_t capacity, FunctionRef<bool(const LeaseSlice&)> keep);

  std::unique_ptr<LeaseSlice[]> slots_;
  std::size_t mask_ = 0;
  unsigned shift_ = 0;
  std::size_t count_ = 0;
};

}  // namespace ringproxy
