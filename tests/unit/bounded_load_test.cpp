// Tests for consistent hashing with bounded loads, alone and composed with both pickers.
#include "policy/bounded_load.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "policy/hash_key.hpp"
#include "policy/hash_ring.hpp"
#include "policy/maglev.hpp"

namespace ringproxy {
namespace {

TEST(BoundedLoad, ZeroFactorIsOff) {
  EXPECT_TRUE(within_bounded_load(1000, 1000, 10, 0.0));
  EXPECT_TRUE(within_bounded_load(0, 0, 1, 0.0));
}

// backend_load + 1 <= ceil(c * (total_load + 1) / backends)
struct BoundCase {
  std::int64_t backend_load;
  std::int64_t total_load;
  std::size_t backends;
  double c;
  bool within;
};

TEST(BoundedLoad, CapacityCountsTheNewRequest) {
  const BoundCase cases[] = {
      {0, 0, 4, 1.25, true},   // ceil(1.25 * 1 / 4) = 1
      {1, 1, 4, 1.25, false},  // ceil(1.25 * 2 / 4) = 1
      {2, 7, 4, 1.25, true},   // ceil(1.25 * 8 / 4) = ceil(2.5) = 3
      {3, 7, 4, 1.25, false},  //
      {4, 7, 4, 2.0, false},   // ceil(2 * 8 / 4) = 4
      {3, 7, 4, 2.0, true},    //
      {10, 9, 1, 1.1, true},   // 1.1 * 10 is 11.000000000000002 in doubles; the cap is 11
      {11, 9, 1, 1.1, false},  // not 12
      {99, 99, 10, 1.5, false}, {14, 99, 10, 1.5, true},  // ceil(1.5 * 100 / 10) = 15
      {15, 99, 10, 1.5, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(within_bounded_load(c.backend_load, c.total_load, c.backends, c.c), c.within)
        << c.backend_load << "/" << c.total_load << " over " << c.backends << " c=" << c.c;
  }
}

TEST(BoundedLoad, TheLeastLoadedBackendAlwaysQualifies) {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 10000; ++trial) {
    const std::size_t n = 1 + rng() % 20;
    std::vector<std::int64_t> load(n);
    std::int64_t total = 0;
    for (auto& l : load) total += (l = static_cast<std::int64_t>(rng() % 50));
    const std::int64_t least = *std::min_element(load.begin(), load.end());
    ASSERT_TRUE(within_bounded_load(least, total, n, 1.01));
  }
}

// Requests arrive and finish at random (a deterministic PRNG), about 100 in flight over
// 10 backends; a quarter of them carry one hot key so that its home overflows. Every arrival
// is picked with the bounded-load predicate; the backend it lands on must then carry no more
// than ceil(c x mean), the mean counting the new request. (Finishing requests lower the mean
// under backends that were full; the bound is on admission, as in Mirrokni et al.)
template <class Picker>
void simulate(double c) {
  const std::size_t n = 10;
  std::vector<PickerBackend> list;
  for (std::size_t i = 1; i <= n; ++i) list.push_back({"10.0.0." + std::to_string(i) + ":80", 1});
  const Picker picker(list);
  std::vector<std::uint64_t> keys;
  for (int k = 0; k < 1000; ++k) keys.push_back(hash_key_bytes("user-" + std::to_string(k)));
  const std::uint64_t hot = hash_key_bytes("hot-user");

  std::vector<std::int64_t> load(n, 0);
  std::int64_t total = 0;
  std::vector<std::size_t> in_flight;  // backend of each request in flight
  std::mt19937_64 rng(2024);
  std::size_t diverted = 0;
  for (int step = 0; step < 200'000; ++step) {
    const bool arrive = in_flight.empty() || rng() % 200 >= in_flight.size();
    if (!arrive) {
      const std::size_t i = rng() % in_flight.size();
      --load[in_flight[i]];
      --total;
      in_flight[i] = in_flight.back();
      in_flight.pop_back();
      continue;
    }
    const std::uint64_t key = rng() % 4 == 0 ? hot : keys[rng() % keys.size()];
    auto usable = [&](std::size_t i) { return within_bounded_load(load[i], total, n, c); };
    const auto picked = picker.pick(key, usable, n);
    ASSERT_TRUE(picked) << "step " << step;
    const std::size_t home = *picker.home(key);
    if (usable(home)) {
      ASSERT_EQ(*picked, home) << "a key leaves its home only when the home is full";
    } else {
      ++diverted;
    }
    ++load[*picked];
    ++total;
    in_flight.push_back(*picked);
    const double bound = std::ceil(c * static_cast<double>(total) / static_cast<double>(n));
    ASSERT_LE(static_cast<double>(load[*picked]), bound) << "step " << step;
  }
  EXPECT_GT(diverted, 1000u) << "the hot key must have hit the bound";
}

TEST(BoundedLoad, SimulatedRunRingFactor125) {
  simulate<HashRingPicker>(1.25);
}
TEST(BoundedLoad, SimulatedRunRingFactor2) {
  simulate<HashRingPicker>(2.0);
}
TEST(BoundedLoad, SimulatedRunMaglevFactor125) {
  simulate<MaglevPicker>(1.25);
}
TEST(BoundedLoad, SimulatedRunMaglevFactor2) {
  simulate<MaglevPicker>(2.0);
}

}  // namespace
}  // namespace ringproxy
