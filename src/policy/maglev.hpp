// Maglev consistent hashing (Eisenbud et al., NSDI 2016): a prime-size lookup table, O(1) pick.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "policy/backend_picker.hpp"
#include "policy/picker_backend.hpp"

namespace ringproxy {

// Maglev lookup table of M slots (M prime) filled from each backend's permutation
// (offset = h1 % M, skip = h2 % (M - 1) + 1, h1/h2 the two halves of XXH3_128(identity)),
// weighted by giving each backend turns in proportion to its weight. Backends are filled in
// identity order, so the table does not depend on the order they are listed in.
// Immutable after construction; safe from any number of threads.
class MaglevPicker final : public BackendPicker {
 public:
  static constexpr std::uint32_t kDefaultTableSize = 65537;

  // Throws std::invalid_argument unless table_size is a prime >= the number of backends.
  explicit MaglevPicker(const std::vector<PickerBackend>& backends,
                        std::uint32_t table_size = kDefaultTableSize);

  // The key's home backend first; when it is unusable, the table is looked up again with
  // the key re-hashed per attempt (skipping backends already seen), so only the unusable
  // backend's keys move and they spread by weight; after 2 x backends re-hashes, a scan in
  // identity order makes sure every backend is reached within max_tries.
  std::uint64_t origin(std::uint64_t key, std::uint64_t /*sequence*/) const override { return key; }
  std::optional<std::size_t> candidate(std::uint64_t origin, std::uint64_t step) const override;
  std::size_t candidate_count() const override { return scan_order_.size(); }
  std::size_t backend_count() const override { return backend_count_; }
  std::vector<double> shares() const override;

  // The backend the key goes to when every backend is usable; nullopt with no backends.
  std::optional<std::size_t> home(std::uint64_t key) const;
  std::size_t table_size() const { return table_size_; }
  // Slots held by each backend, by caller index (the share each one gets).
  std::vector<std::size_t> slot_counts() const;

 private:
  std::size_t slot(std::uint64_t key) const;

  std::vector<std::uint32_t> table_;       // slot -> caller's backend index
  std::vector<std::uint32_t> scan_order_;  // positive-weight backends in identity order
  std::vector<std::uint32_t> scan_rank_;   // caller index -> position in scan_order_
  std::uint32_t table_size_ = 0;
  std::size_t backend_count_ = 0;
};

}  // namespace ringproxy
