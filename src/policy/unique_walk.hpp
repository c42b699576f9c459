// One walk over distinct backends in an algorithm's preference order (Pingora's
// UniqueIterator): the same for every algorithm, and for a request's retries.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "policy/backend_picker.hpp"

namespace ringproxy {

// The backends one walk has met: on the stack up to 1024 backends, one bitmap beyond.
// A local of one walk on one thread.
class SeenBackends {
 public:
  explicit SeenBackends(std::size_t backend_count) {
    if (backend_count > kInlineWords * 64) heap_.assign((backend_count + 63) / 64, 0);
  }

  // Marks backend i; false when it was marked already.
  bool insert(std::size_t i) {
    std::uint64_t* words = heap_.empty() ? inline_.data() : heap_.data();
    const std::uint64_t bit = std::uint64_t{1} << (i % 64);
    std::uint64_t& word = words[i / 64];
    if (word & bit) return false;
    word |= bit;
    return true;
  }

 private:
  static constexpr std::size_t kInlineWords = 16;
  std::array<std::uint64_t, kInlineWords> inline_{};
  std::vector<std::uint64_t> heap_;
};

// A request's walk: each next() goes on from where the last one stopped, so a retry meets
// the next distinct backend and never one already met. Not thread-safe: a local of one
// request; the picker must outlive it.
class UniqueWalk {
 public:
  UniqueWalk(const BackendPicker& picker, std::uint64_t key, std::uint64_t sequence,
             std::size_t max_tries)
      : picker_(picker),
        origin_(picker.origin(key, sequence)),
        limit_(std::min(max_tries, picker.candidate_count())),
        seen_(picker.backend_count()) {}

  // The next distinct backend that the algorithm admits and for which usable(i) holds;
  // nullopt once max_tries distinct backends were met or the walk ended.
  std::optional<std::size_t> next(UsablePredicate usable) {
    while (met_ < limit_) {
      const std::optional<std::size_t> b = picker_.candidate(origin_, step_++);
      if (!b) break;
      if (!seen_.insert(*b)) continue;
      ++met_;
      if (picker_.admits(*b) && usable(*b)) return b;
    }
    met_ = limit_;
    return std::nullopt;
  }

 private:
  const BackendPicker& picker_;
  std::uint64_t origin_;
  std::uint64_t step_ = 0;
  std::size_t met_ = 0;
  std::size_t limit_;
  SeenBackends seen_;
};

}  // namespace ringproxy
