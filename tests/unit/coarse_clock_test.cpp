// coarse_now: never ahead of steady_clock, so that a check of a deadline against it can only
// err late.
#include "net/coarse_clock.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace ringproxy {
namespace {

using std::chrono::steady_clock;

TEST(CoarseClock, IsNeverAheadOfSteadyClock) {
  for (int i = 0; i < 100000; ++i) {
    const auto coarse = coarse_now();
    ASSERT_LE(coarse, steady_clock::now()) << "iteration " << i;
  }
}

}  // namespace
}  // namespace ringproxy
