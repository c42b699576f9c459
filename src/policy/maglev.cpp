#include "policy/maglev.hpp"

#include <xxhash.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace ringproxy {

namespace {

constexpr std::uint32_t kEmpty = std::numeric_limits<std::uint32_t>::max();

bool is_prime(std::uint32_t n) {
  if (n < 2) return false;
  for (std::uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

// splitmix64's finalizer over key and the attempt number: an independent-looking key per attempt.
std::uint64_t rehash(std::uint64_t key, std::uint64_t attempt) {
  std::uint64_t z = key + attempt * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// One backend's walk through its permutation while the table fills.
struct Filler {
  std::uint32_t backend;  // caller's index
  std::uint64_t weight;
  std::uint64_t next;  // the permutation's next slot: (offset + j * skip) % M
  std::uint64_t skip;
  std::uint64_t target;  // weighted turns: it fills when iteration * weight >= target
};

}  // namespace

MaglevPicker::MaglevPicker(const std::vector<PickerBackend>& backends, std::uint32_t table_size)
    : table_size_(table_size), backend_count_(backends.size()) {
  if (!is_prime(table_size)) throw std::invalid_argument("maglev: table size must be a prime");
  if (backends.size() > table_size) {
    throw std::invalid_argument("maglev: table size must be >= the number of backends");
  }
  std::vector<std::uint32_t> by_identity(backends.size());
  std::iota(by_identity.begin(), by_identity.end(), 0u);
  std::stable_sort(by_identity.begin(), by_identity.end(), [&](std::uint32_t a, std::uint32_t b) {
    return backends[a].identity < backends[b].identity;
  });

  scan_rank_.assign(backends.size(), kEmpty);
  std::vector<Filler> fillers;
  std::uint64_t max_weight = 0;
  for (std::uint32_t i : by_identity) {
    const auto& b = backends[i];
    if (b.weight == 0) continue;
    scan_rank_[i] = static_cast<std::uint32_t>(scan_order_.size());
    scan_order_.push_back(i);
    const XXH128_hash_t h = XXH3_128bits(b.identity.data(), b.identity.size());
    const std::uint64_t offset = h.low64 % table_size;
    const std::uint64_t skip = table_size == 2 ? 1 : h.high64 % (table_size - 1) + 1;
    fillers.push_back({i, b.weight, offset, skip, 0});
    max_weight = std::max<std::uint64_t>(max_weight, b.weight);
  }
  if (fillers.empty()) return;
  for (auto& f : fillers) f.target = max_weight;

  // Weighted population (as Envoy's): in iteration k a backend of weight w takes a turn when
  // k * w has reached its target, and each turn raises the target by the largest weight; so
  // after k iterations it has had floor(k * w / max_weight) turns, exactly in proportion to
  // its weight, and the heaviest backends take one turn per iteration as in the paper.
  table_.assign(table_size, kEmpty);
  std::size_t filled = 0;
  for (std::uint64_t iteration = 1; filled < table_size; ++iteration) {
    for (auto& f : fillers) {
      if (iteration * f.weight < f.target) continue;
      f.target += max_weight;
      while (table_[f.next] != kEmpty) {
        f.next += f.skip;
        if (f.next >= table_size) f.next -= table_size;
      }
      table_[f.next] = f.backend;
      f.next += f.skip;
      if (f.next >= table_size) f.next -= table_size;
      if (++filled == table_size) break;
    }
  }
}

std::size_t MaglevPicker::slot(std::uint64_t key) const {
  // Lemire's multiply-shift range reduction: the same job as key % M for a well-mixed key
  // (keys are XXH3 hashes), without a 64-bit division.
  return static_cast<std::size_t>((static_cast<unsigned __int128>(key) * table_size_) >> 64);
}

std::optional<std::size_t> MaglevPicker::home(std::uint64_t key) const {
  if (table_.empty()) return std::nullopt;
  return table_[slot(key)];
}

std::vector<std::size_t> MaglevPicker::slot_counts() const {
  std::vector<std::size_t> counts(backend_count_, 0);
  for (std::uint32_t b : table_) ++counts[b];
  return counts;
}

std::vector<double> MaglevPicker::shares() const {
  std::vector<double> out(backend_count_, 0.0);
  if (table_.empty()) return out;
  for (std::uint32_t b : table_) out[b] += 1.0;
  for (double& share : out) share /= static_cast<double>(table_.size());
  return out;
}

std::optional<std::size_t> MaglevPicker::candidate(std::uint64_t key, std::uint64_t step) const {
  if (table_.empty()) return std::nullopt;
  // Re-hash the key once per step: a key whose home is usable never gets past step 0, so
  // only the unusable backend's keys move, each to a weight-proportional next choice.
  const std::uint64_t rehashes = 2 * static_cast<std::uint64_t>(scan_order_.size());
  if (step == 0) return table_[slot(key)];
  if (step <= rehashes) return table_[slot(rehash(key, step))];
  // Last: every backend in identity order after the home backend, so that all are met.
  const std::uint64_t scan = step - rehashes;
  const std::size_t candidates = scan_order_.size();
  if (scan >= candidates) return std::nullopt;
  std::size_t r = scan_rank_[table_[slot(key)]] + static_cast<std::size_t>(scan);
  if (r >= candidates) r -= candidates;
  return scan_order_[r];
}

}  // namespace ringproxy
