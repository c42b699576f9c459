// SmallAlloc: size classes, realloc's contract, the count of bytes in use, and blocks taken on
// one thread and released on another while threads come and go.
#include "runtime/small_alloc.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace ringproxy {
namespace {

class SmallAllocTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(SmallAlloc::reserve()); }
};

TEST_F(SmallAllocTest, EverySmallSizeGetsAnAlignedBlockOfItsClass) {
  EXPECT_EQ(SmallAlloc::allocate(0), nullptr);
  std::vector<void*> blocks;
  for (std::size_t n = 1; n <= SmallAlloc::kMaxSmall; ++n) {
    void* p = SmallAlloc::allocate(n);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 16, 0u) << n;
    EXPECT_TRUE(SmallAlloc::owns(p)) << n;
    EXPECT_GE(SmallAlloc::block_size(p), n);
    // No class wastes 64 bytes or more, or past 1 KiB a 16th of the block.
    EXPECT_LT(SmallAlloc::block_size(p), n + std::max<std::size_t>(64, n / 16)) << n;
    std::memset(p, static_cast<int>(n & 0xff), n);
    blocks.push_back(p);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto* bytes = static_cast<const unsigned char*>(blocks[i]);
    ASSERT_EQ(bytes[0], static_cast<unsigned char>((i + 1) & 0xff));  // no two overlap
    ASSERT_EQ(bytes[i], static_cast<unsigned char>((i + 1) & 0xff));
  }
  for (void* p : blocks) SmallAlloc::release(p);
  SmallAlloc::release(nullptr);
}

TEST_F(SmallAllocTest, LargerBlocksAreMallocsAndAReleasedBlockIsReused) {
  void* large = SmallAlloc::allocate(SmallAlloc::kMaxSmall + 1);
  ASSERT_NE(large, nullptr);
  EXPECT_FALSE(SmallAlloc::owns(large));
  EXPECT_EQ(SmallAlloc::block_size(large), 0u);
  std::memset(large, 1, SmallAlloc::kMaxSmall + 1);
  SmallAlloc::release(large);

  void* a = SmallAlloc::allocate(40);
  SmallAlloc::release(a);
  EXPECT_EQ(SmallAlloc::allocate(48), a);  // same class (48), the thread's last released
  SmallAlloc::release(a);
}

TEST_F(SmallAllocTest, ReallocateKeepsTheContentsAndFollowsReallocsContract) {
  EXPECT_EQ(SmallAlloc::reallocate(nullptr, 0), nullptr);
  auto* p = static_cast<char*>(SmallAlloc::reallocate(nullptr, 20));  // as allocate
  ASSERT_NE(p, nullptr);
  std::memcpy(p, "0123456789abcdefghi", 20);
  EXPECT_EQ(SmallAlloc::reallocate(p, 32), p);  // fits its class: stays
  EXPECT_EQ(SmallAlloc::reallocate(p, 8), p);   // smaller: stays
  auto* q = static_cast<char*>(SmallAlloc::reallocate(p, 500));
  ASSERT_NE(q, nullptr);
  EXPECT_STREQ(q, "0123456789abcdefghi");
  auto* r = static_cast<char*>(SmallAlloc::reallocate(q, SmallAlloc::kMaxSmall + 1));
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(SmallAlloc::owns(r));
  EXPECT_STREQ(r, "0123456789abcdefghi");
  r = static_cast<char*>(SmallAlloc::reallocate(r, SmallAlloc::kMaxSmall * 2));  // malloc's
  EXPECT_STREQ(r, "0123456789abcdefghi");
  EXPECT_EQ(SmallAlloc::reallocate(r, 0), nullptr);  // released
}

TEST_F(SmallAllocTest, BytesInUseCountsTheClassesOfBlocksNotReleased) {
  const std::size_t before = SmallAlloc::bytes_in_use();
  void* a = SmallAlloc::allocate(1);     // class 16
  void* b = SmallAlloc::allocate(1000);  // class 1024
  void* large = SmallAlloc::allocate(SmallAlloc::kMaxSmall + 1);
  EXPECT_EQ(SmallAlloc::bytes_in_use(), before + 16 + 1024);
  SmallAlloc::release(a);
  SmallAlloc::release(large);
  EXPECT_EQ(SmallAlloc::bytes_in_use(), before + 1024);
  SmallAlloc::release(b);
  EXPECT_EQ(SmallAlloc::bytes_in_use(), before);
}

// A queue of blocks from takers to releasers.
struct Handoff {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::pair<unsigned char*, std::size_t>> blocks;
  int takers_left = 0;
};

void fill(unsigned char* p, std::size_t n, unsigned seed) {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(seed + i);
}
bool intact(const unsigned char* p, std::size_t n, unsigned seed) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != static_cast<unsigned char>(seed + i)) return false;
  }
  return true;
}

TEST_F(SmallAllocTest, BlocksTakenOnOneThreadAreReleasedOnAnotherWhileThreadsComeAndGo) {
  constexpr int kTakers = 3;
  constexpr int kReleasers = 3;
  constexpr int kBlocksPerTaker = 60000;
  const std::size_t before = SmallAlloc::bytes_in_use();
  Handoff handoff;
  handoff.takers_left = kTakers;
  std::atomic<int> damaged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kTakers; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::pair<unsigned char*, std::size_t>> own;  // some freed on this thread
      for (int i = 0; i < kBlocksPerTaker; ++i) {
        const std::size_t n =
            1 + static_cast<std::size_t>((i * 37 + t * 11) % (i % 16 == 0 ? 8192 : 1024));
        auto* p = static_cast<unsigned char*>(SmallAlloc::allocate(n));
        fill(p, n, static_cast<unsigned>(n));
        if (i % 4 == 0) {
          own.emplace_back(p, n);
          if (own.size() > 200) {
            for (auto [q, m] : own) {
              if (!intact(q, m, static_cast<unsigned>(m))) damaged.fetch_add(1);
              SmallAlloc::release(q);
            }
            own.clear();
          }
          continue;
        }
        std::lock_guard lock(handoff.mutex);
        handoff.blocks.emplace_back(p, n);
        handoff.ready.notify_one();
      }
      for (auto [q, m] : own) SmallAlloc::release(q);
      std::lock_guard lock(handoff.mutex);
      --handoff.takers_left;
      handoff.ready.notify_all();
    });
  }
  for (int r = 0; r < kReleasers; ++r) {
    threads.emplace_back([&] {
      for (;;) {
        std::unique_lock lock(handoff.mutex);
        handoff.ready.wait(lock,
                           [&] { return !handoff.blocks.empty() || handoff.takers_left == 0; });
        if (handoff.blocks.empty()) return;
        auto [p, n] = handoff.blocks.front();
        handoff.blocks.pop_front();
        lock.unlock();
        if (!intact(p, n, static_cast<unsigned>(n))) damaged.fetch_add(1);
        SmallAlloc::release(p);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(damaged.load(), 0) << "a block was handed out twice";
  // Every thread has exited: what they had counted is folded into the total.
  EXPECT_EQ(SmallAlloc::bytes_in_use(), before);

  // The blocks the exited threads kept went back to the shared lists: taken again here, and
  // a block taken on a thread that is gone is released here.
  void* kept = nullptr;
  std::thread([&] { kept = SmallAlloc::allocate(100); }).join();
  std::vector<void*> again;
  for (int i = 0; i < 5000; ++i) again.push_back(SmallAlloc::allocate(1 + i % 1024));
  for (void* p : again) SmallAlloc::release(p);
  EXPECT_TRUE(SmallAlloc::owns(kept));
  EXPECT_EQ(SmallAlloc::bytes_in_use(), before + 112);
  SmallAlloc::release(kept);
  EXPECT_EQ(SmallAlloc::bytes_in_use(), before);
}

}  // namespace
}  // namespace ringproxy
