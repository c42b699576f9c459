// Ketama-style consistent hashing: virtual nodes on a ring of 2^40 places, binary-searched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "policy/backend_picker.hpp"
#include "policy/picker_backend.hpp"

namespace ringproxy {

// Consistent-hash ring with virtual_nodes x weight points per backend, each point at the top
// 40 bits of XXH3_64(identity + "#" + n); a key goes to the first point at or after its own
// top 40 bits, clockwise.
// Points depend only on identities, so reordering or removing backends moves no other keys.
// Immutable after construction; safe from any number of threads.
class HashRingPicker final : public BackendPicker {
 public:
  static constexpr unsigned kDefaultVirtualNodes = 160;

  // Throws std::invalid_argument when virtual_nodes is 0, or with more than 2^24 backends or
  // 2^32 points.
  explicit HashRingPicker(const std::vector<PickerBackend>& backends,
                          unsigned virtual_nodes = kDefaultVirtualNodes);

  // The key's home backend first, then clockwise over the points that follow its own.
  std::uint64_t origin(std::uint64_t key, std::uint64_t /*sequence*/) const override {
    return points_.empty() ? 0 : first_point(key);
  }
  std::optional<std::size_t> candidate(std::uint64_t origin, std::uint64_t step) const override;
  std::size_t candidate_count() const override { return owner_count_; }
  std::size_t backend_count() const override { return backend_count_; }
  std::vector<double> shares() const override;

  // The backend the key goes to when every backend is usable; nullopt with no points.
  std::optional<std::size_t> home(std::uint64_t key) const;
  std::size_t point_count() const { return points_.size(); }

 private:
  // Index of the first point at or after key's place (its top 40 bits), wrapping to 0; the
  // ring must not be empty.
  std::size_t first_point(std::uint64_t key) const;

  // One 8-byte word per point, ascending: the top 40 bits of its hash (its place on the ring)
  // over the caller's index of its backend, so that finding a point also finds its owner in
  // the same cache line.
  static constexpr unsigned kOwnerBits = 24;
  static constexpr std::uint64_t kOwnerMask = (std::uint64_t{1} << kOwnerBits) - 1;
  std::vector<std::uint64_t> points_;
  // bucket_start_[b]: the first point whose place is >= b << shift_, so that a lookup searches
  // only the few points sharing the key's top bits. 2^bits + 1 entries, the last is the point
  // count.
  std::vector<std::uint32_t> bucket_start_;
  unsigned shift_ = 63;  // 64 - bits
  std::size_t backend_count_ = 0;
  std::size_t owner_count_ = 0;  // backends with at least one point
};

}  // namespace ringproxy
