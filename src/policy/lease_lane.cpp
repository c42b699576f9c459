// One worker's slices of a global limit's leases (see lease_lane.hpp).
#include "policy/lease_lane.hpp"

#include <algorithm>
#include <bit>

namespace ringproxy {

namespace {

constexpr std::size_t kFirstCapacity = 64;

}  // namespace

void LeaseLane::rebuild(std::size_t capacity, FunctionRef<bool(const LeaseSlice&)> keep) {
  std::unique_ptr<LeaseSlice[]> old = std::move(slots_);
  const std::size_t old_capacity = old ? mask_ + 1 : 0;
  slots_ = std::make_unique<LeaseSlice[]>(capacity);
  mask_ = capacity - 1;
  shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
  count_ = 0;
  for (std::size_t i = 0; i < old_capacity; ++i) {
    const LeaseSlice& slice = old[i];
    if (slice.last_used == LeaseSlice::kFree || !keep(slice)) continue;
    std::size_t at = index_of(slice.key);
    while (slots_[at].last_used != LeaseSlice::kFree) at = (at + 1) & mask_;
    slots_[at] = slice;
    ++count_;
  }
}

LeaseSlice* LeaseLane::add(std::uint64_t key, std::int64_t now, std::int64_t idle_ns,
                           std::size_t max_slices, FunctionRef<void(const LeaseSlice&)> give_back) {
  const std::size_t cap = std::clamp<std::size_t>(max_slices, 1, kMaxSlices);
  if (count_ >= cap) {
    // Expired slices first: they cannot be spent any more.
    rebuild(mask_ + 1, [&](const LeaseSlice& s) {
      if (now - s.cut_at <= idle_ns) return true;
      give_back(s);
      return false;
    });
    if (count_ >= cap) {
      rebuild(mask_ + 1, [&](const LeaseSlice& s) {
        give_back(s);
        return false;
      });
    }
  }
  // At most 3/4 full: probes stay short.
  const std::size_t capacity = slots_ ? mask_ + 1 : 0;
  if ((count_ + 1) * 4 > capacity * 3) {
    rebuild(std::max(kFirstCapacity, 2 * capacity), [](const LeaseSlice&) { return true; });
  }
  std::size_t at = index_of(key);
  while (slots_[at].last_used != LeaseSlice::kFree) at = (at + 1) & mask_;
  LeaseSlice& slot = slots_[at];
  slot = LeaseSlice{};
  slot.key = key;
  slot.last_used = now;
  ++count_;
  return &slot;
}

}  // namespace ringproxy
