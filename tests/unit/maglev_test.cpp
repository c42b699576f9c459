// Tests for the Maglev lookup table: golden mapping, balance, disruption, weights, walks.
#include "policy/maglev.hpp"

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

TEST(Maglev, GoldenKeyToBackendTable) {
  // Pinned: a change here remaps users in production. Regenerate only on purpose.
  const std::vector<std::size_t> golden = {1, 0, 4, 2, 2, 0, 0, 3, 1, 4,
                                           4, 0, 1, 1, 2, 0, 4, 3, 2, 1};
  MaglevPicker maglev(backends(5));
  const auto ks = keys(20);
  for (std::size_t k = 0; k < ks.size(); ++k) {
    EXPECT_EQ(maglev.pick(ks[k], always, 1), golden[k]) << "key-" << k;
  }
  EXPECT_EQ(maglev.slot_counts(), (std::vector<std::size_t>{13108, 13108, 13107, 13107, 13107}));
}

TEST(Maglev, DeterministicAcrossInstances) {
  MaglevPicker a(backends(10));
  MaglevPicker b(backends(10));
  for (auto key : keys(20000)) {
    ASSERT_EQ(a.pick(key, always, 1), b.pick(key, always, 1));
    ASSERT_EQ(a.pick(key, always, 1), a.home(key));
  }
}

TEST(Maglev, EqualBackendsHoldSlotsWithinOne) {
  MaglevPicker maglev(backends(10));
  const auto counts = maglev.slot_counts();
  EXPECT_LE(*std::max_element(counts.begin(), counts.end()) -
                *std::min_element(counts.begin(), counts.end()),
            1u);
}

TEST(Maglev, BusiestBackendWithin3PercentOfMean) {
  MaglevPicker maglev(backends(10));
  std::vector<std::size_t> count(10, 0);
  const auto ks = keys(1'000'000);
  for (auto key : ks) ++count[*maglev.home(key)];
  const double mean = static_cast<double>(ks.size()) / 10;
  const double busiest = static_cast<double>(*std::max_element(count.begin(), count.end()));
  EXPECT_LE(busiest / mean, 1.03);
}

TEST(Maglev, RemovingABackendMovesUnderOneAndAHalfPercentOfOtherKeys) {
  const auto all = backends(10);
  const auto ks = keys(1'000'000);
  MaglevPicker before(all);
  for (std::size_t removed = 0; removed < all.size(); ++removed) {
    auto rest = all;
    rest.erase(rest.begin() + static_cast<long>(removed));
    MaglevPicker after(rest);
    std::size_t others = 0;
    std::size_t moved = 0;
    // The full million for one removal, a sample for the others.
    const std::size_t n = removed == 3 ? ks.size() : 100'000;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t home = *before.home(ks[k]);
      if (home == removed) continue;
      ++others;
      std::size_t now = *after.home(ks[k]);
      if (now >= removed) ++now;  // back to the index in `all`
      if (now != home) ++moved;
    }
    EXPECT_LT(static_cast<double>(moved) / static_cast<double>(others), 0.015)
        << "removed " << all[removed].identity;
  }
}

TEST(Maglev, ReorderingBackendsMovesNothing) {
  const auto ordered = backends(10);
  auto shuffled = ordered;
  std::mt19937_64 rng(7);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  MaglevPicker a(ordered);
  MaglevPicker b(shuffled);
  for (auto key : keys(200'000)) {
    ASSERT_EQ(ordered[*a.home(key)].identity, shuffled[*b.home(key)].identity);
  }
  // Also on the fallback walk.
  auto not_first = [&](const std::vector<PickerBackend>& list) {
    return [&list](std::size_t i) { return list[i].identity != "10.0.0.1:80"; };
  };
  auto ua = not_first(ordered);
  auto ub = not_first(shuffled);
  for (auto key : keys(20'000)) {
    ASSERT_EQ(ordered[*a.pick(key, ua, 3)].identity, shuffled[*b.pick(key, ub, 3)].identity);
  }
}

TEST(Maglev, WeightTwoGetsTwiceTheShare) {
  auto list = backends(10);
  list[4].weight = 2;
  MaglevPicker maglev(list);
  std::vector<double> count(10, 0);
  for (auto key : keys(1'000'000)) ++count[*maglev.home(key)];
  double others = 0;
  for (std::size_t i = 0; i < 10; ++i) {
    if (i != 4) others += count[i];
  }
  EXPECT_NEAR(count[4] / (others / 9), 2.0, 0.2);
}

TEST(Maglev, SlotsFollowWeights) {
  std::vector<PickerBackend> list = {{"a:1", 1}, {"b:1", 2}, {"c:1", 3}, {"d:1", 10}};
  MaglevPicker maglev(list);
  const auto counts = maglev.slot_counts();
  const double per_weight = 65537.0 / 16;
  for (std::size_t i = 0; i < list.size(); ++i) {
    EXPECT_NEAR(static_cast<double>(counts[i]) / (per_weight * list[i].weight), 1.0, 0.01)
        << list[i].identity;
  }
}

TEST(Maglev, ZeroWeightIsNeverPicked) {
  auto list = backends(4);
  list[2].weight = 0;
  MaglevPicker maglev(list);
  EXPECT_EQ(maglev.slot_counts()[2], 0u);
  auto only_2_or_3 = [](std::size_t i) { return i >= 2; };
  for (auto key : keys(5'000)) {
    ASSERT_EQ(maglev.pick(key, only_2_or_3, 4), 3u);
  }
  int calls = 0;
  auto none = [&](std::size_t) {
    ++calls;
    return false;
  };
  EXPECT_EQ(maglev.pick(1, none, 10), std::nullopt);
  EXPECT_EQ(calls, 3);
}

TEST(Maglev, UnusableBackendMovesOnlyItsKeysAndTheyReturn) {
  MaglevPicker maglev(backends(10));
  const std::size_t down = 6;
  auto usable = [&](std::size_t i) { return i != down; };
  std::map<std::size_t, std::size_t> moved_to;
  std::size_t moved = 0;
  for (auto key : keys(200'000)) {
    const std::size_t home = *maglev.home(key);
    const auto picked = maglev.pick(key, usable, 2);
    ASSERT_TRUE(picked);
    if (home == down) {
      ++moved_to[*picked];
      ++moved;
    } else {
      ASSERT_EQ(*picked, home);
    }
    ASSERT_EQ(maglev.pick(key, always, 2), home);  // usable again: back home
  }
  EXPECT_EQ(moved_to.count(down), 0u);
  // Re-hashing spreads the displaced keys evenly over the nine others.
  EXPECT_EQ(moved_to.size(), 9u);
  for (auto [b, n] : moved_to) {
    EXPECT_NEAR(static_cast<double>(n) / static_cast<double>(moved), 1.0 / 9, 0.02) << b;
  }
}

TEST(Maglev, MaxTriesCountsDistinctBackends) {
  MaglevPicker maglev(backends(10));
  for (auto key : keys(200)) {
    for (std::size_t max_tries : {0u, 1u, 3u, 10u, 50u}) {
      std::vector<std::size_t> looked_at;
      auto none = [&](std::size_t i) {
        looked_at.push_back(i);
        return false;
      };
      EXPECT_EQ(maglev.pick(key, none, max_tries), std::nullopt);
      EXPECT_EQ(looked_at.size(), std::min<std::size_t>(max_tries, 10));
      EXPECT_EQ(std::set<std::size_t>(looked_at.begin(), looked_at.end()).size(), looked_at.size());
      if (!looked_at.empty()) {
        EXPECT_EQ(looked_at.front(), *maglev.home(key));
      }
    }
  }
}

TEST(Maglev, FindsTheOnlyUsableBackendWithEnoughTries) {
  // Re-hashing alone may miss it; the scan after the re-hash budget must not.
  for (int count : {200, 1500}) {  // the seen-set on the stack, then on the heap
    std::vector<PickerBackend> many;
    for (int i = 0; i < count; ++i) many.push_back({"backend-" + std::to_string(i), 1});
    MaglevPicker maglev(many);
    const std::size_t wanted = static_cast<std::size_t>(count) - 66;
    auto only = [&](std::size_t i) { return i == wanted; };
    for (auto key : keys(50)) {
      EXPECT_EQ(maglev.pick(key, only, many.size()), wanted);
    }
  }
}

TEST(Maglev, SmallPrimeTable) {
  MaglevPicker maglev(backends(3), 13);
  EXPECT_EQ(maglev.table_size(), 13u);
  const auto counts = maglev.slot_counts();
  EXPECT_EQ(counts[0] + counts[1] + counts[2], 13u);
  for (auto c : counts) EXPECT_GE(c, 4u);
}

TEST(Maglev, RejectsABadTableSize) {
  EXPECT_THROW(MaglevPicker(backends(3), 65536), std::invalid_argument);  // not prime
  EXPECT_THROW(MaglevPicker(backends(10), 7), std::invalid_argument);     // fewer slots
}

TEST(Maglev, EmptyTablePicksNothing) {
  MaglevPicker maglev({});
  EXPECT_EQ(maglev.backend_count(), 0u);
  EXPECT_EQ(maglev.pick(42, always, 3), std::nullopt);
  EXPECT_EQ(maglev.home(42), std::nullopt);
}

}  // namespace
}  // namespace ringproxy
