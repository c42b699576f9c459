#include "policy/backend_picker.hpp"

#include "policy/hash_key.hpp"
#include "policy/hash_ring.hpp"
#include "policy/maglev.hpp"

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <string>
#include <vector>

namespace ringproxy {
namespace {

TEST(RoundRobinPicker, RotatesInProportionToWeights) {
  RoundRobinPicker picker({1, 2, 1});
  std::map<std::size_t, int> share;
  for (std::uint64_t seq = 0; seq < 400; ++seq) {
    auto b = picker.pick(
        seq, [](std::size_t) { return true; }, 3);
    ASSERT_TRUE(b);
    ++share[*b];
  }
  EXPECT_EQ(share[0], 100);
  EXPECT_EQ(share[1], 200);
  EXPECT_EQ(share[2], 100);
}

TEST(RoundRobinPicker, SmoothOrderInterleaves) {
  RoundRobinPicker picker({5, 1, 1});
  std::vector<std::size_t> order;
  for (std::uint64_t seq = 0; seq < 7; ++seq) {
    order.push_back(*picker.pick(
        seq, [](std::size_t) { return true; }, 3));
  }
  // nginx's smooth weighted round-robin: a a b a c a a
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 0, 1, 0, 2, 0, 0}));
}

TEST(RoundRobinPicker, SkipsUnusableAndHonoursTryCap) {
  RoundRobinPicker picker({1, 1, 1, 1});
  auto only_3 = [](std::size_t i) { return i == 3; };
  EXPECT_EQ(picker.pick(0, only_3, 4), 3u);
  EXPECT_EQ(picker.pick(0, only_3, 2), std::nullopt);  // looked at 0 and 1 only
  EXPECT_EQ(picker.pick(
                0, [](std::size_t) { return false; }, 4),
            std::nullopt);
}

TEST(RoundRobinPicker, EachBackendLookedAtOnceEvenWithWeights) {
  RoundRobinPicker picker({3, 1});
  int calls = 0;
  auto none = [&](std::size_t) {
    ++calls;
    return false;
  };
  EXPECT_EQ(picker.pick(7, none, 10), std::nullopt);
  EXPECT_EQ(calls, 2);
}

TEST(RoundRobinPicker, ManyBackendsBeyondTheSmallSet) {
  std::vector<unsigned> weights(100, 1);
  RoundRobinPicker picker(weights);
  EXPECT_EQ(picker.pick(
                5, [](std::size_t i) { return i == 99; }, 100),
            99u);
  EXPECT_EQ(picker.backend_count(), 100u);
}

TEST(RoundRobinPicker, EmptyPickerPicksNothing) {
  RoundRobinPicker picker({});
  EXPECT_EQ(picker.pick(
                0, [](std::size_t) { return true; }, 1),
            std::nullopt);
}

std::vector<PickerBackend> backends(std::size_t n, unsigned weight = 1) {
  std::vector<PickerBackend> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back({"10.0.0." + std::to_string(i) + ":80", weight});
  return out;
}

double sum(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0);
}

// The share of keys that land on each backend when every one is usable, measured.
std::vector<double> measured(const BackendPicker& picker, int keys) {
  std::vector<double> out(picker.backend_count(), 0.0);
  for (int k = 0; k < keys; ++k) {
    const auto home = picker.pick(
        hash_key_bytes("key-" + std::to_string(k)), [](std::size_t) { return true; }, 1);
    out[*home] += 1.0 / keys;
  }
  return out;
}

TEST(PickerShares, SumToOneAndEqualWeightsGetAboutEqualShares) {
  const HashRingPicker ring(backends(10));
  const MaglevPicker maglev(backends(10));
  const RoundRobinPicker round_robin(std::vector<unsigned>(10, 1));
  for (const BackendPicker* picker :
       {static_cast<const BackendPicker*>(&ring), static_cast<const BackendPicker*>(&maglev),
        static_cast<const BackendPicker*>(&round_robin)}) {
    const std::vector<double> shares = picker->shares();
    ASSERT_EQ(shares.size(), 10u);
    EXPECT_NEAR(sum(shares), 1.0, 1e-9);
    // 160 points per backend: within about a third of the mean (ketama's known spread).
    for (double share : shares) EXPECT_NEAR(share, 0.1, 0.035);
  }
  // Maglev's table is balanced to within one slot per backend.
  for (double share : maglev.shares()) EXPECT_NEAR(share, 0.1, 1.0 / 65537 * 2);
  for (double share : round_robin.shares()) EXPECT_DOUBLE_EQ(share, 0.1);
}

TEST(PickerShares, FollowWeightsAndMatchWhereKeysLand) {
  std::vector<PickerBackend> weighted = backends(3);
  weighted[2].weight = 2;
  weighted.push_back({"10.0.0.9:80", 0});  // never picked: no share
  const HashRingPicker ring(weighted);
  const MaglevPicker maglev(weighted);
  const RoundRobinPicker round_robin({1, 1, 2, 0});
  for (const BackendPicker* picker :
       {static_cast<const BackendPicker*>(&ring), static_cast<const BackendPicker*>(&maglev),
        static_cast<const BackendPicker*>(&round_robin)}) {
    const std::vector<double> shares = picker->shares();
    ASSERT_EQ(shares.size(), 4u);
    EXPECT_NEAR(sum(shares), 1.0, 1e-9);
    EXPECT_NEAR(shares[2], 0.5, 0.06);
    EXPECT_EQ(shares[3], 0.0);
  }
  // The ring's and Maglev's shares are where keys go: 200,000 keys agree within 1%.
  for (const BackendPicker* picker :
       {static_cast<const BackendPicker*>(&ring), static_cast<const BackendPicker*>(&maglev)}) {
    const std::vector<double> shares = picker->shares();
    const std::vector<double> seen = measured(*picker, 200000);
    for (std::size_t i = 0; i < shares.size(); ++i) EXPECT_NEAR(seen[i], shares[i], 0.01) << i;
  }
}

TEST(PickerShares, AnEmptyPickerHasNoShares) {
  const HashRingPicker ring(std::vector<PickerBackend>{});
  EXPECT_TRUE(ring.shares().empty());
  const HashRingPicker unweighted(backends(2, 0));
  EXPECT_EQ(unweighted.shares(), (std::vector<double>{0.0, 0.0}));
}

}  // namespace
}  // namespace ringproxy
