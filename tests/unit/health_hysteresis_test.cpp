// Tests for health check hysteresis, expected-status ranges and the jittered check interval.
#include "policy/health_hysteresis.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ringproxy {
namespace {

using namespace std::chrono_literals;
using Transition = HealthHysteresis::Transition;

TEST(HealthHysteresis, StartsHealthy) {
  HealthHysteresis h(2, 3);
  EXPECT_TRUE(h.healthy());
  EXPECT_EQ(h.consecutive_passes(), 0u);
  EXPECT_EQ(h.consecutive_failures(), 0u);
  EXPECT_EQ(h.record(true), Transition::none);  // passes while healthy change nothing
  EXPECT_TRUE(h.healthy());
}

TEST(HealthHysteresis, FallsAfterUnhealthyThresholdAndRisesAfterHealthyThreshold) {
  HealthHysteresis h(2, 3);
  EXPECT_EQ(h.record(false), Transition::none);
  EXPECT_EQ(h.consecutive_failures(), 1u);
  EXPECT_EQ(h.record(false), Transition::none);
  EXPECT_TRUE(h.healthy());
  EXPECT_EQ(h.record(false), Transition::became_unhealthy);
  EXPECT_FALSE(h.healthy());
  EXPECT_EQ(h.consecutive_failures(), 0u);
  EXPECT_EQ(h.record(false), Transition::none);  // further failures: still down, no transition
  EXPECT_EQ(h.record(true), Transition::none);
  EXPECT_EQ(h.consecutive_passes(), 1u);
  EXPECT_FALSE(h.healthy());
  EXPECT_EQ(h.record(true), Transition::became_healthy);
  EXPECT_TRUE(h.healthy());
  EXPECT_EQ(h.consecutive_passes(), 0u);
  EXPECT_EQ(h.record(true), Transition::none);
}

TEST(HealthHysteresis, APassResetsTheFailureRunAndAFailureThePassRun) {
  HealthHysteresis h(2, 3);
  h.record(false);
  h.record(false);
  EXPECT_EQ(h.record(true), Transition::none);  // 2 failures, then a pass: the run restarts
  EXPECT_EQ(h.consecutive_failures(), 0u);
  h.record(false);
  h.record(false);
  EXPECT_TRUE(h.healthy());
  EXPECT_EQ(h.record(false), Transition::became_unhealthy);
  EXPECT_EQ(h.record(true), Transition::none);
  EXPECT_EQ(h.record(false), Transition::none);  // the pass run restarts
  EXPECT_EQ(h.consecutive_passes(), 0u);
  EXPECT_EQ(h.record(true), Transition::none);
  EXPECT_EQ(h.record(true), Transition::became_healthy);
}

TEST(HealthHysteresis, ThresholdsOfOneFlipOnEveryChange) {
  HealthHysteresis h(1, 1);
  EXPECT_EQ(h.record(false), Transition::became_unhealthy);
  EXPECT_EQ(h.record(false), Transition::none);
  EXPECT_EQ(h.record(true), Transition::became_healthy);
  EXPECT_EQ(h.record(true), Transition::none);
  EXPECT_EQ(h.record(false), Transition::became_unhealthy);
}

TEST(HealthHysteresis, ZeroThresholdsCountAsOne) {
  HealthHysteresis h(0, 0);
  EXPECT_EQ(h.healthy_threshold(), 1u);
  EXPECT_EQ(h.unhealthy_threshold(), 1u);
  EXPECT_EQ(h.record(false), Transition::became_unhealthy);
  EXPECT_EQ(h.record(true), Transition::became_healthy);
}

TEST(HealthHysteresis, AlternatingResultsNeverFlap) {
  for (bool start_down : {false, true}) {
    HealthHysteresis h(2, 2);
    if (start_down) {
      h.record(false);
      ASSERT_EQ(h.record(false), Transition::became_unhealthy);
    }
    for (int i = 0; i < 100; ++i) {
      ASSERT_EQ(h.record(i % 2 == 0), Transition::none) << i;
      ASSERT_EQ(h.healthy(), !start_down);
    }
  }
}

TEST(HealthHysteresis, TransitionCountsMatchTheThresholds) {
  // Table: a sequence of results and the transitions it must produce.
  struct Case {
    unsigned rise, fall;
    std::string results;   // '+' pass, '-' fail
    std::string expected;  // per result: '.' none, 'D' down, 'U' up
  };
  const Case cases[] = {
      {2, 3, "---++", "..D.U"},
      {2, 3, "--+---+-++", ".....D...U"},
      {3, 1, "-+++-++-+++", "D..UD.....U"},
      {1, 2, "-+--+", "...DU"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.results);
    HealthHysteresis h(c.rise, c.fall);
    std::string got;
    for (char r : c.results) {
      switch (h.record(r == '+')) {
        case Transition::none:
          got += '.';
          break;
        case Transition::became_unhealthy:
          got += 'D';
          break;
        case Transition::became_healthy:
          got += 'U';
          break;
      }
    }
    EXPECT_EQ(got, c.expected);
  }
}

TEST(StatusRange, Parse) {
  EXPECT_EQ(parse_status_range("200-399"), (StatusRange{200, 399}));
  EXPECT_EQ(parse_status_range("200"), (StatusRange{200, 200}));
  EXPECT_EQ(parse_status_range("100-599"), (StatusRange{100, 599}));
  EXPECT_EQ(parse_status_range("204-204"), (StatusRange{204, 204}));
  for (const char* bad :
       {"", "-", "200-", "-399", "399-200", "99", "600", "200-600", "2000", "0200", "20a", " 200",
        "200 ", "200 - 399", "200,204", "+200", "200-399-499", "2xx", "200--399"}) {
    EXPECT_FALSE(parse_status_range(bad).has_value()) << bad;
  }
}

TEST(StatusRange, ContainsAndToString) {
  StatusRange r{200, 399};
  EXPECT_FALSE(status_expected(199, r));
  EXPECT_TRUE(status_expected(200, r));
  EXPECT_TRUE(status_expected(302, r));
  EXPECT_TRUE(status_expected(399, r));
  EXPECT_FALSE(status_expected(400, r));
  EXPECT_FALSE(status_expected(500, r));
  EXPECT_FALSE(status_expected(0, r));  // e.g. no status at all
  EXPECT_EQ(r.to_string(), "200-399");
  EXPECT_EQ((StatusRange{204, 204}).to_string(), "204");
  EXPECT_TRUE(status_expected(204, StatusRange{204, 204}));
  EXPECT_FALSE(status_expected(200, StatusRange{204, 204}));
}

TEST(HealthJitter, StaysWithinTenPercent) {
  const std::chrono::nanoseconds interval = 2s;
  EXPECT_EQ(jittered_interval(interval, 0), 1800ms);  // random 0: the shortest
  std::uint64_t span = 2 * 200'000'000ull + 1;
  EXPECT_EQ(jittered_interval(interval, span - 1), 2200ms);  // the longest
  EXPECT_EQ(jittered_interval(interval, span), 1800ms);      // taken modulo the span
  EXPECT_EQ(jittered_interval(interval, span / 2), 2s);
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  std::chrono::nanoseconds lo = interval, hi = interval;
  for (int i = 0; i < 10000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    auto d = jittered_interval(interval, x);
    ASSERT_GE(d, 1800ms);
    ASSERT_LE(d, 2200ms);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, 1810ms);  // spread over the whole range
  EXPECT_GT(hi, 2190ms);
}

TEST(HealthJitter, EdgeIntervals) {
  EXPECT_EQ(jittered_interval(0ns, 12345), 0ns);
  EXPECT_EQ(jittered_interval(-5ns, 12345), -5ns);
  EXPECT_EQ(jittered_interval(9ns, 12345), 9ns);  // under 10ns: no room for jitter
  EXPECT_EQ(jittered_interval(10ns, 0), 9ns);
  EXPECT_EQ(jittered_interval(10ns, 2), 11ns);
  auto max = std::chrono::nanoseconds::max();
  auto top = static_cast<std::uint64_t>(max.count() / 10) * 2;  // the longest offset
  EXPECT_EQ(jittered_interval(max, top), max);                  // saturates, no overflow
  EXPECT_EQ(jittered_interval(max, 0), max - max / 10);
}

}  // namespace
}  // namespace ringproxy
