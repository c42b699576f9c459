// One walk over distinct backends in an algorithm's preference order (Pingora's
// UniqueIterator): the same for every algorithm, and for a request's retries.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "policy/backend_picker.hpp"
#include "policy/function_ref.hpp"

namespace ringproxy {

// What a walk decided about one backend it met: taken (usable), or passed by, and why.
enum class WalkVerdict : std::uint8_t {
  usable,             // taken: the walk stops here
  unusable,           // a plain predicate said no (BackendPicker::pick's callers)
  down,               // a health check marked it down
  breaker_open,       // its circuit breaker refuses (open, or half-open with its trials taken)
  at_max_concurrent,  // max_concurrent requests are in flight to it
  over_bounded_load,  // the algorithm's load bound refuses it (consistent hashing, bounded loads)
};

// "usable", "unusable", "down", "breaker_open", "at_max_concurrent", "over_bounded_load".
constexpr std::string_view to_string(WalkVerdict v) {
  constexpr std::string_view names[] = {"usable",       "unusable",          "down",
                                        "breaker_open", "at_max_concurrent", "over_bounded_load"};
  return names[static_cast<std::size_t>(v)];
}

// Judges whether backend i may take the request now (WalkVerdict::usable) or why not.
using VerdictFunction = FunctionRef<WalkVerdict(std::size_t)>;

// Watches one walk: told of each distinct backend the walk meets, in order, with the verdict
// on it (GET /explain, --explain). Not thread-safe: a local of the one walk it watches.
class WalkObserver {
 public:
  virtual void met(std::size_t backend, WalkVerdict verdict) = 0;

 protected:
  ~WalkObserver() = default;
};

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
// request; the picker (and the observer, when given) must outlive it.
class UniqueWalk {
 public:
  UniqueWalk(const BackendPicker& picker, std::uint64_t key, std::uint64_t sequence,
             std::size_t max_tries, WalkObserver* observer = nullptr)
      : picker_(picker),
        observer_(observer),
        origin_(picker.origin(key, sequence)),
        limit_(std::min(max_tries, picker.candidate_count())),
        seen_(picker.backend_count()) {}

  // The next distinct backend for which judge(i) says usable and the algorithm admits (judge
  // first: it is cheap, and says more than the algorithm's load bound); nullopt once
  // max_tries distinct backends were met or the walk ended. The observer hears every verdict.
  std::optional<std::size_t> next_judged(VerdictFunction judge) {
    while (met_ < limit_) {
      const std::optional<std::size_t> b = picker_.candidate(origin_, step_++);
      if (!b) break;
      if (!seen_.insert(*b)) continue;
      ++met_;
      WalkVerdict verdict = judge(*b);
      if (verdict == WalkVerdict::usable && !picker_.admits(*b)) {
        verdict = WalkVerdict::over_bounded_load;
      }
      if (observer_ != nullptr) observer_->met(*b, verdict);
      if (verdict == WalkVerdict::usable) return b;
    }
    met_ = limit_;
    return std::nullopt;
  }
  // next_judged with a yes/no predicate.
  std::optional<std::size_t> next(UsablePredicate usable) {
    return next_judged([&usable](std::size_t b) {
      return usable(b) ? WalkVerdict::usable : WalkVerdict::unusable;
    });
  }

 private:
  const BackendPicker& picker_;
  WalkObserver* observer_;
  std::uint64_t origin_;
  std::uint64_t step_ = 0;
  std::size_t met_ = 0;
  std::size_t limit_;
  SeenBackends seen_;
};

}  // namespace ringproxy
