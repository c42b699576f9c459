// The HTTP/2 flood budgets, with time passed in (no clock, no sleeps).
#include "policy/h2_flood_guard.hpp"

#include <gtest/gtest.h>

namespace ringproxy {
namespace {

using namespace std::chrono_literals;
const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;

TEST(H2FloodGuard, EachBudgetAllowsItsBurstThenTrips) {
  const H2FloodLimits limits;
  for (std::size_t kind = 0; kind < static_cast<std::size_t>(H2Event::count_); ++kind) {
    SCOPED_TRACE(kind);
    H2FloodGuard guard(limits);
    const auto event = static_cast<H2Event>(kind);
    for (std::uint64_t i = 0; i < limits.rules[kind].burst; ++i) {
      ASSERT_TRUE(guard.allow(event, t0)) << i;
    }
    EXPECT_FALSE(guard.allow(event, t0));
    EXPECT_TRUE(guard.flooded());
    EXPECT_EQ(guard.count(event), limits.rules[kind].burst + 1);
  }
}

TEST(H2FloodGuard, ASteadyRateBelowTheBudgetNeverTrips) {
  H2FloodGuard guard;
  // Ten resets a second for an hour: a browser cancelling streams, not a flood.
  auto now = t0;
  for (int i = 0; i < 36000; ++i) {
    ASSERT_TRUE(guard.allow(H2Event::reset, now)) << i;
    now += 100ms;
  }
  EXPECT_FALSE(guard.flooded());
}

TEST(H2FloodGuard, OnceFloodedItStaysFlooded) {
  H2FloodLimits limits;
  limits.rules[static_cast<std::size_t>(H2Event::ping)] = {2, 1.0};
  H2FloodGuard guard(limits);
  EXPECT_TRUE(guard.allow(H2Event::ping, t0));
  EXPECT_TRUE(guard.allow(H2Event::ping, t0));
  EXPECT_FALSE(guard.allow(H2Event::ping, t0));
  EXPECT_FALSE(guard.allow(H2Event::settings, t0 + 1h));
}

TEST(H2FloodGuard, HeaderBlocksAreBoundedInBytesAndContinuationFrames) {
  H2FloodLimits limits;
  limits.max_header_block = 1000;
  limits.max_continuations = 3;
  H2FloodGuard bytes(limits);
  EXPECT_TRUE(bytes.header_block_start(600));
  EXPECT_TRUE(bytes.continuation(400));
  EXPECT_FALSE(bytes.continuation(1));
  H2FloodGuard frames(limits);
  EXPECT_TRUE(frames.header_block_start(0));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(frames.continuation(0));
  EXPECT_FALSE(frames.continuation(0));
  // A new block starts the count again.
  H2FloodGuard fresh(limits);
  EXPECT_TRUE(fresh.header_block_start(900));
  EXPECT_TRUE(fresh.header_block_start(900));
  EXPECT_TRUE(fresh.continuation(50));
}

}  // namespace
}  // namespace ringproxy
