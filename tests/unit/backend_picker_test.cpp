#include "policy/backend_picker.hpp"

#include <gtest/gtest.h>

#include <map>

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

}  // namespace
}  // namespace ringproxy
