// The console's history rings: samples from counter readings at injected times, no sleeps.
#include "policy/traffic_history.hpp"

#include <gtest/gtest.h>

#include "admin/console_history.hpp"

namespace ringproxy {
namespace {

using namespace std::chrono_literals;
const auto kT0 = std::chrono::steady_clock::time_point{} + 1000s;

TEST(TrafficHistory, FirstReadingIsTheBaseThenEachIntervalIsOneSample) {
  TrafficHistory h(10);
  h.record(kT0, {100, 10, 3});
  EXPECT_EQ(h.size(), 0u);
  h.record(kT0 + 1s, {150, 15, 4});  // 50 requests, 5 failures in 1 s
  h.record(kT0 + 3s, {250, 15, 0});  // 100 requests in 2 s, none failed
  const auto s = h.samples();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_DOUBLE_EQ(s[0].requests_per_s, 50.0);
  EXPECT_DOUBLE_EQ(s[0].error_rate, 0.1);
  EXPECT_EQ(s[0].in_flight, 4);
  EXPECT_DOUBLE_EQ(s[1].requests_per_s, 50.0);
  EXPECT_DOUBLE_EQ(s[1].error_rate, 0.0);
  EXPECT_EQ(s[1].in_flight, 0);
}

TEST(TrafficHistory, KeepsTheLastCapacitySamplesOldestFirst) {
  TrafficHistory h(3);
  for (std::uint64_t i = 0; i <= 5; ++i) h.record(kT0 + i * 1s, {i * i, 0, 0});
  const auto s = h.samples();  // intervals 3, 4, 5: 2i - 1 requests each
  ASSERT_EQ(s.size(), 3u);
  EXPECT_DOUBLE_EQ(s[0].requests_per_s, 5.0);
  EXPECT_DOUBLE_EQ(s[1].requests_per_s, 7.0);
  EXPECT_DOUBLE_EQ(s[2].requests_per_s, 9.0);
}

TEST(TrafficHistory, ACounterThatFellStartedOverAndStaleReadingsAreIgnored) {
  TrafficHistory h(5);
  h.record(kT0, {1000, 0, 0});
  h.record(kT0 + 1s, {20, 4, 0});   // restarted: 20 requests, 4 failed
  h.record(kT0 + 1s, {99, 99, 9});  // no time passed: ignored
  h.record(kT0, {99, 99, 9});       // earlier: ignored
  const auto s = h.samples();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_DOUBLE_EQ(s[0].requests_per_s, 20.0);
  EXPECT_DOUBLE_EQ(s[0].error_rate, 0.2);
  h.record(kT0 + 2s, {30, 4, 0});  // the base is the last accepted reading
  EXPECT_DOUBLE_EQ(h.samples().back().requests_per_s, 10.0);
}

TEST(TrafficHistory, ErrorRateIsCappedAtOne) {
  TrafficHistory h(2);
  h.record(kT0, {0, 0, 0});
  h.record(kT0 + 1s, {1, 3, 0});  // retried failures can outnumber requests counted
  EXPECT_DOUBLE_EQ(h.samples()[0].error_rate, 1.0);
}

TEST(ConsoleHistory, KeepsEachBackendApartAndTheLastReloadsNewestFirst) {
  ConsoleHistory c(4);
  c.record("app 10.0.0.1:80", kT0, {0, 0, 0});
  c.record("app 10.0.0.2:80", kT0, {0, 0, 0});
  c.record("app 10.0.0.1:80", kT0 + 1s, {7, 0, 1});
  c.record("app 10.0.0.2:80", kT0 + 1s, {3, 3, 0});
  EXPECT_DOUBLE_EQ(c.backend("app 10.0.0.1:80").at(0).requests_per_s, 7.0);
  EXPECT_DOUBLE_EQ(c.backend("app 10.0.0.2:80").at(0).error_rate, 1.0);
  EXPECT_TRUE(c.backend("other 10.0.0.1:80").empty());
  c.record_rate_limited(kT0, 5);
  c.record_rate_limited(kT0 + 2s, 9);
  EXPECT_DOUBLE_EQ(c.rate_limited().at(0).requests_per_s, 2.0);
  for (std::uint64_t g = 1; g <= ConsoleHistory::kReloads + 2; ++g) {
    c.record_reload({std::chrono::system_clock::now(), g % 2 == 0, g, g % 2 ? "bad" : ""});
  }
  const auto reloads = c.reloads();
  ASSERT_EQ(reloads.size(), ConsoleHistory::kReloads);
  EXPECT_EQ(reloads.front().generation, ConsoleHistory::kReloads + 2);
  EXPECT_EQ(reloads.back().generation, 3u);
  EXPECT_FALSE(reloads.back().ok);
  EXPECT_EQ(reloads.back().error, "bad");
}

}  // namespace
}  // namespace ringproxy
