// What the consistent-hash pickers know of a backend, and the seen-set their fallback walks share.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ringproxy {

// A backend as a hash picker sees it: a stable identity (the address text such as
// "127.0.0.1:9001", or an operator-given id; never a position in the file) and a weight.
// Plain data; copy freely.
struct PickerBackend {
  std::string identity;
  unsigned weight = 1;  // 0 = never picked
};

namespace detail {

// The backends one pick() call has already looked at; a local of one call on one thread.
// Up to 1024 backends it lives on the stack, beyond that it allocates one bitmap.
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

}  // namespace detail

}  // namespace ringproxy
