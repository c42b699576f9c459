// Tests for the per-message bump allocator (net/message_arena.hpp): alignment, blocks taken
// from and given back to the worker's pool, large fields apart, reuse after reset.

#include "net/message_arena.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>

namespace ringproxy {
namespace {

constexpr std::size_t kBlock = ArenaBlockPool::kBlockSize;

TEST(MessageArena, AllocationsAreAlignedAndDoNotOverlap) {
  ArenaBlockPool pool;
  MessageArena arena(pool);
  std::set<std::uintptr_t> starts;
  for (int i = 0; i < 200; ++i) {
    const std::size_t align = std::size_t{1} << (i % 4);  // 1, 2, 4, 8
    auto* p = static_cast<unsigned char*>(arena.allocate(37, align));
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u);
    std::memset(p, i, 37);  // the sanitizers see any overlap or overrun
    EXPECT_TRUE(starts.insert(reinterpret_cast<std::uintptr_t>(p)).second);
  }
}

TEST(MessageArena, BlocksBeyondTheFirstTwoAreKeptAndAllGoBackToThePool) {
  ArenaBlockPool pool;
  {
    MessageArena arena(pool);
    // Five blocks' worth in allocations of half a block less a little: one per block or so.
    for (int i = 0; i < 10; ++i) {
      auto* p = static_cast<char*>(arena.allocate(kBlock / 2 - 8, 8));
      std::memset(p, 'x', kBlock / 2 - 8);
    }
    EXPECT_EQ(pool.spare_bytes(), 0u);
    arena.reset();
    EXPECT_EQ(pool.spare_bytes(), 5 * kBlock);
    // After a reset the arena takes from the pool again.
    arena.allocate(16, 8);
    EXPECT_EQ(pool.spare_bytes(), 4 * kBlock);
  }
  EXPECT_EQ(pool.spare_bytes(), 5 * kBlock);  // the destructor resets
}

TEST(MessageArena, ALargeFieldIsItsOwnAllocationAndLeavesTheBlockAlone) {
  ArenaBlockPool pool;
  MessageArena arena(pool);
  auto* small = static_cast<char*>(arena.allocate(100, 8));
  auto* large = static_cast<char*>(arena.allocate(kBlock, 8));
  std::memset(large, 'y', kBlock);
  auto* next = static_cast<char*>(arena.allocate(100, 8));
  EXPECT_EQ(next, small + 104);  // the current block goes on after the large field
  arena.reset();
  EXPECT_EQ(pool.spare_bytes(), kBlock);  // one pool block; the large one was freed
}

}  // namespace
}  // namespace ringproxy
