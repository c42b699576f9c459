// Tests for the ketama-style hash ring: golden mapping, balance, minimal disruption, walks.
#include "policy/hash_ring.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "policy/hash_key.hpp"

namespace ringproxy {
namespace {

// "10.0.0.1:80" .. "10.0.0.n:80", weight 1.
std::vector<PickerBackend> backends(std::size_t n) {
  std::vector<PickerBackend> out;
  for (std::size_t i = 1; i <= n; ++i) out.push_back({"10.0.0." + std::to_string(i) + ":80", 1});
  return out;
}

// XXH3 of "key-0" .. "key-(n-1)", as hash_request_key would give for those key strings.
std::vector<std::uint64_t> keys(std::size_t n) {
  std::vector<std::uint64_t> out;
  out.reserve(n);
  char buf[32] = "key-";
  for (std::size_t k = 0; k < n; ++k) {
    char* end = std::to_chars(buf + 4, buf + sizeof buf, k).ptr;
    out.push_back(hash_key_bytes(std::string_view(buf, static_cast<std::size_t>(end - buf))));
  }
  return out;
}

const auto always = [](std::size_t) { return true; };

TEST(HashRing, GoldenKeyToBackendTable) {
  // Pinned: a change here remaps users in production. Regenerate only on purpose.
  const std::vector<std::size_t> golden = {2, 3, 0, 1, 1, 1, 0, 1, 1, 0,
                                           1, 1, 0, 2, 1, 2, 1, 1, 3, 4};
  HashRingPicker ring(backends(5));
  const auto ks = keys(20);
  for (std::size_t k = 0; k < ks.size(); ++k) {
    EXPECT_EQ(ring.pick(ks[k], always, 1), golden[k]) << "key-" << k;
  }
}

TEST(HashRing, DeterministicAcrossInstances) {
  HashRingPicker a(backends(10));
  HashRingPicker b(backends(10));
  for (auto key : keys(20000)) {
    ASSERT_EQ(a.pick(key, always, 1), b.pick(key, always, 1));
    ASSERT_EQ(a.pick(key, always, 1), a.home(key));
  }
}

TEST(HashRing, PointCountIsVirtualNodesTimesWeight) {
  auto list = backends(3);
  list[1].weight = 3;
  list[2].weight = 0;
  EXPECT_EQ(HashRingPicker(list, 100).point_count(), 400u);
}

TEST(HashRing, BusiestBackendWithin15PercentOfMeanAt160VirtualNodes) {
  HashRingPicker ring(backends(10), 160);
  std::vector<std::size_t> count(10, 0);
  const auto ks = keys(1'000'000);
  for (auto key : ks) ++count[*ring.home(key)];
  const double mean = static_cast<double>(ks.size()) / 10;
  const double busiest = static_cast<double>(*std::max_element(count.begin(), count.end()));
  EXPECT_LE(busiest / mean, 1.15);
  for (auto c : count) EXPECT_GT(c, 0u);
}

TEST(HashRing, RemovingABackendMovesNoOtherKey) {
  const auto all = backends(10);
  const auto ks = keys(1'000'000);
  HashRingPicker before(all);
  for (std::size_t removed = 0; removed < all.size(); ++removed) {
    auto rest = all;
    rest.erase(rest.begin() + static_cast<long>(removed));
    HashRingPicker after(rest);
    std::size_t moved = 0;
    // The full million for one removal, a sample for the others.
    const std::size_t n = removed == 3 ? ks.size() : 50'000;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t home = *before.home(ks[k]);
      if (home == removed) continue;
      std::size_t now = *after.home(ks[k]);
      if (now >= removed) ++now;  // back to the index in `all`
      if (now != home) ++moved;
    }
    EXPECT_EQ(moved, 0u) << "removed " << all[removed].identity;
  }
}

TEST(HashRing, ReorderingBackendsMovesNothing) {
  const auto ordered = backends(10);
  auto shuffled = ordered;
  std::mt19937_64 rng(7);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  HashRingPicker a(ordered);
  HashRingPicker b(shuffled);
  for (auto key : keys(200'000)) {
    ASSERT_EQ(ordered[*a.home(key)].identity, shuffled[*b.home(key)].identity);
  }
}

TEST(HashRing, WeightTwoGetsTwiceTheShare) {
  auto list = backends(10);
  list[4].weight = 2;
  HashRingPicker ring(list);
  std::vector<double> count(10, 0);
  for (auto key : keys(1'000'000)) ++count[*ring.home(key)];
  double others = 0;
  for (std::size_t i = 0; i < 10; ++i) {
    if (i != 4) others += count[i];
  }
  const double ratio = count[4] / (others / 9);
  EXPECT_NEAR(ratio, 2.0, 0.2);
}

TEST(HashRing, ZeroWeightIsNeverPicked) {
  auto list = backends(4);
  list[2].weight = 0;
  HashRingPicker ring(list);
  auto not_0 = [](std::size_t i) { return i != 0; };
  for (auto key : keys(10'000)) {
    ASSERT_NE(ring.pick(key, always, 4), 2u);
    ASSERT_NE(ring.pick(key, not_0, 4), 2u);
  }
  // Only three backends can ever be looked at.
  int calls = 0;
  auto none = [&](std::size_t) {
    ++calls;
    return false;
  };
  EXPECT_EQ(ring.pick(1, none, 10), std::nullopt);
  EXPECT_EQ(calls, 3);
}

TEST(HashRing, UnusableBackendMovesOnlyItsKeysAndTheyReturn) {
  HashRingPicker ring(backends(10));
  const std::size_t down = 6;
  auto usable = [&](std::size_t i) { return i != down; };
  std::map<std::size_t, std::size_t> moved_to;
  for (auto key : keys(200'000)) {
    const std::size_t home = *ring.home(key);
    const auto picked = ring.pick(key, usable, 2);
    ASSERT_TRUE(picked);
    if (home == down) {
      ++moved_to[*picked];
    } else {
      ASSERT_EQ(*picked, home);
    }
    ASSERT_EQ(ring.pick(key, always, 2), home);  // usable again: back home
  }
  EXPECT_EQ(moved_to.count(down), 0u);
  EXPECT_GE(moved_to.size(), 5u);  // spread over the ring, not dumped on one neighbour
}

TEST(HashRing, WalkGoesWhereTheRingWithoutThatBackendWould) {
  // Skipping an unusable backend's points is exactly removing them from the ring.
  const auto all = backends(8);
  HashRingPicker ring(all);
  for (std::size_t down = 0; down < all.size(); ++down) {
    auto rest = all;
    rest.erase(rest.begin() + static_cast<long>(down));
    HashRingPicker without(rest);
    auto usable = [&](std::size_t i) { return i != down; };
    for (auto key : keys(5'000)) {
      std::size_t expected = *without.home(key);
      if (expected >= down) ++expected;
      ASSERT_EQ(ring.pick(key, usable, 2), expected);
    }
  }
}

TEST(HashRing, MaxTriesCountsDistinctBackends) {
  HashRingPicker ring(backends(10));
  for (auto key : keys(200)) {
    for (std::size_t max_tries : {0u, 1u, 3u, 10u, 50u}) {
      std::vector<std::size_t> looked_at;
      auto none = [&](std::size_t i) {
        looked_at.push_back(i);
        return false;
      };
      EXPECT_EQ(ring.pick(key, none, max_tries), std::nullopt);
      EXPECT_EQ(looked_at.size(), std::min<std::size_t>(max_tries, 10));
      EXPECT_EQ(std::set<std::size_t>(looked_at.begin(), looked_at.end()).size(), looked_at.size());
      if (!looked_at.empty()) {
        EXPECT_EQ(looked_at.front(), *ring.home(key));
      }
    }
  }
}

TEST(HashRing, FindsTheOnlyUsableBackendWithEnoughTries) {
  for (int count : {200, 1500}) {  // the seen-set on the stack, then on the heap
    std::vector<PickerBackend> many;
    for (int i = 0; i < count; ++i) many.push_back({"backend-" + std::to_string(i), 1});
    HashRingPicker ring(many, 20);
    const std::size_t wanted = static_cast<std::size_t>(count) - 66;
    auto only = [&](std::size_t i) { return i == wanted; };
    for (auto key : keys(20)) {
      EXPECT_EQ(ring.pick(key, only, many.size()), wanted);
    }
  }
}

TEST(HashRing, EmptyRingPicksNothing) {
  HashRingPicker ring({});
  EXPECT_EQ(ring.backend_count(), 0u);
  EXPECT_EQ(ring.pick(42, always, 3), std::nullopt);
  EXPECT_EQ(ring.home(42), std::nullopt);
}

TEST(HashRing, ExtremeKeysWrapAround) {
  HashRingPicker ring(backends(3));
  EXPECT_TRUE(ring.pick(0, always, 1));
  EXPECT_TRUE(ring.pick(~std::uint64_t{0}, always, 1));
}

TEST(HashRing, ZeroVirtualNodesIsRejected) {
  EXPECT_THROW(HashRingPicker(backends(3), 0), std::invalid_argument);
}

}  // namespace
}  // namespace ringproxy
