#include "policy/hash_ring.hpp"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace ringproxy {

namespace {

struct RankedPoint {
  std::uint64_t hash;
  std::uint32_t rank;  // the backend's rank in identity order, for a position-free tie-break
  std::uint32_t owner;
};

}  // namespace

HashRingPicker::HashRingPicker(const std::vector<PickerBackend>& backends, unsigned virtual_nodes)
    : backend_count_(backends.size()) {
  if (virtual_nodes == 0) throw std::invalid_argument("hash ring: virtual_nodes must be >= 1");
  if (backends.size() > kOwnerMask + 1) throw std::invalid_argument("hash ring: too many backends");
  // Ranks by identity, so that points at the same place (rare) still order without
  // depending on the caller's order.
  std::vector<std::uint32_t> by_identity(backends.size());
  std::iota(by_identity.begin(), by_identity.end(), 0u);
  std::stable_sort(by_identity.begin(), by_identity.end(), [&](std::uint32_t a, std::uint32_t b) {
    return backends[a].identity < backends[b].identity;
  });
  std::vector<std::uint32_t> rank(backends.size());
  for (std::uint32_t r = 0; r < by_identity.size(); ++r) rank[by_identity[r]] = r;

  std::size_t total = 0;
  for (const auto& b : backends) {
    if (b.weight > 0) ++owner_count_;
    total += static_cast<std::size_t>(virtual_nodes) * b.weight;
  }
  if (total > std::numeric_limits<std::uint32_t>::max()) {
    throw std::invalid_argument("hash ring: too many points");
  }
  std::vector<RankedPoint> points;
  points.reserve(total);
  std::string name;
  for (std::uint32_t i = 0; i < backends.size(); ++i) {
    const auto& b = backends[i];
    name.assign(b.identity);
    name.push_back('#');
    const std::size_t prefix = name.size();
    const std::size_t count = static_cast<std::size_t>(virtual_nodes) * b.weight;
    for (std::size_t n = 0; n < count; ++n) {
      char digits[24];
      auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
      name.resize(prefix);
      name.append(digits, end);
      points.push_back({XXH3_64bits(name.data(), name.size()), rank[i], i});
    }
  }
  // Equal places (two points within 2^-40 of the ring of each other) order by identity.
  std::sort(points.begin(), points.end(), [](const RankedPoint& a, const RankedPoint& b) {
    const std::uint64_t pa = a.hash & ~kOwnerMask;
    const std::uint64_t pb = b.hash & ~kOwnerMask;
    return pa != pb ? pa < pb : a.rank < b.rank;
  });
  points_.reserve(points.size());
  for (const auto& p : points) points_.push_back((p.hash & ~kOwnerMask) | p.owner);

  // Two to four points per bucket: the bucket table costs at most a quarter of the points'
  // memory and leaves a branch-free search over a few neighbours. (Measured: more buckets, or
  // buckets that name their backend directly, are slower at 1000 backends: a lookup's time is
  // its cache misses, and a bigger table misses more.)
  const int width = std::bit_width(points_.size());
  const unsigned bits = static_cast<unsigned>(std::clamp(width - 2, 1, 20));
  shift_ = 64 - bits;
  const std::size_t buckets = std::size_t{1} << bits;
  bucket_start_.resize(buckets + 1);
  std::size_t p = 0;
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::uint64_t low = static_cast<std::uint64_t>(b) << shift_;
    while (p < points_.size() && points_[p] < low) ++p;
    bucket_start_[b] = static_cast<std::uint32_t>(p);
  }
  bucket_start_[buckets] = static_cast<std::uint32_t>(points_.size());
}

std::size_t HashRingPicker::first_point(std::uint64_t key) const {
  const std::size_t bucket = static_cast<std::size_t>(key >> shift_);
  const std::uint64_t place = key & ~kOwnerMask;
  const std::uint64_t* const data = points_.data();
  const std::uint64_t* first = data + bucket_start_[bucket];
  std::size_t len = bucket_start_[bucket + 1] - bucket_start_[bucket];
  // Branch-free lower_bound inside the bucket; every later point is past key's place.
  while (len > 0) {
    const std::size_t half = len / 2;
    const bool less = first[half] < place;
    first = less ? first + half + 1 : first;
    len = less ? len - half - 1 : half;
  }
  const std::size_t index = static_cast<std::size_t>(first - data);
  return index == points_.size() ? 0 : index;
}

std::optional<std::size_t> HashRingPicker::home(std::uint64_t key) const {
  if (points_.empty()) return std::nullopt;
  return points_[first_point(key)] & kOwnerMask;
}

std::vector<double> HashRingPicker::shares() const {
  // A key at place q goes to the first point at or after q: each point owns the places after
  // the point before it, up to its own; the first one also owns the wrap past the last.
  std::vector<double> out(backend_count_, 0.0);
  if (points_.empty()) return out;
  constexpr unsigned kPlaceBits = 64 - kOwnerBits;
  constexpr double kPlaces = static_cast<double>(std::uint64_t{1} << kPlaceBits);
  std::uint64_t previous = (points_.back() >> kOwnerBits) - (std::uint64_t{1} << kPlaceBits);
  for (const std::uint64_t point : points_) {
    const std::uint64_t place = point >> kOwnerBits;
    out[point & kOwnerMask] += static_cast<double>(place - previous) / kPlaces;
    previous = place;
  }
  return out;
}

std::optional<std::size_t> HashRingPicker::candidate(std::uint64_t origin,
                                                     std::uint64_t step) const {
  const std::size_t n = points_.size();
  if (step >= n) return std::nullopt;
  std::size_t i = static_cast<std::size_t>(origin + step);
  if (i >= n) i -= n;
  return points_[i] & kOwnerMask;
}

}  // namespace ringproxy
