// Upkeep of a backend's HTTP/2 connections with the time passed in: PING after idling, drop
// when the PING goes unanswered (any bytes read extend the wait), close past max_idle, and
// keep at most max_idle_connections idle ones (the most recently used).
#include "policy/h2_upkeep.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace ringproxy {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

const TimePoint t0 = TimePoint() + 1000s;

H2ConnectionTimes idle_since(TimePoint t) {
  H2ConnectionTimes c;
  c.idle_since = t;
  c.last_read = t;
  return c;
}

std::vector<H2Upkeep> plan(const std::vector<H2ConnectionTimes>& c, TimePoint now,
                           const H2UpkeepLimits& limits = {}) {
  std::vector<H2Upkeep> out(c.size(), H2Upkeep::keep);
  plan_h2_upkeep(c, now, limits, out);
  return out;
}

TEST(H2Upkeep, AnIdleConnectionIsPingedAfterPingAfterAndNotBefore) {
  const H2UpkeepLimits limits;
  const std::vector<H2ConnectionTimes> c{idle_since(t0)};
  EXPECT_EQ(plan(c, t0 + limits.ping_after - 1ms)[0], H2Upkeep::keep);
  EXPECT_EQ(plan(c, t0 + limits.ping_after)[0], H2Upkeep::ping);
}

TEST(H2Upkeep, BytesReadPutThePingOff) {
  H2ConnectionTimes c = idle_since(t0);
  c.last_read = t0 + 15s;
  EXPECT_EQ(plan({c}, t0 + 25s)[0], H2Upkeep::keep);
  EXPECT_EQ(plan({c}, t0 + 35s)[0], H2Upkeep::ping);
}

TEST(H2Upkeep, AConnectionWithStreamsIsNotPinged) {
  H2ConnectionTimes c = idle_since(t0);
  c.streams = 1;
  EXPECT_EQ(plan({c}, t0 + 59s)[0], H2Upkeep::keep);
}

TEST(H2Upkeep, OnePingAtATime) {
  H2ConnectionTimes c = idle_since(t0);
  c.ping_sent = t0 + 20s;
  EXPECT_EQ(plan({c}, t0 + 24s)[0], H2Upkeep::keep);
}

TEST(H2Upkeep, AnUnansweredPingDropsTheConnectionAfterPingTimeout) {
  const H2UpkeepLimits limits;
  H2ConnectionTimes c = idle_since(t0);
  c.ping_sent = t0 + 20s;
  EXPECT_EQ(plan({c}, t0 + 20s + limits.ping_timeout - 1ms)[0], H2Upkeep::keep);
  EXPECT_EQ(plan({c}, t0 + 20s + limits.ping_timeout)[0], H2Upkeep::close_dead);
  // Streams placed on it meanwhile do not save it: the socket is dead.
  c.streams = 3;
  EXPECT_EQ(plan({c}, t0 + 20s + limits.ping_timeout)[0], H2Upkeep::close_dead);
}

TEST(H2Upkeep, AnyBytesReadExtendThePingsWait) {
  H2ConnectionTimes c = idle_since(t0);
  c.ping_sent = t0 + 20s;
  c.streams = 1;
  c.last_read = t0 + 23s;  // a stream's DATA, the ACK queued behind it
  EXPECT_EQ(plan({c}, t0 + 26s)[0], H2Upkeep::keep);
  EXPECT_EQ(plan({c}, t0 + 28s)[0], H2Upkeep::close_dead);
}

TEST(H2Upkeep, AnsweredPingsRepeatEveryPingAfterUntilMaxIdle) {
  // The ACK moves last_read: the next PING is ping_after later; at max_idle it closes.
  H2ConnectionTimes c = idle_since(t0);
  c.last_read = t0 + 20s;
  EXPECT_EQ(plan({c}, t0 + 39s)[0], H2Upkeep::keep);
  EXPECT_EQ(plan({c}, t0 + 40s)[0], H2Upkeep::ping);
  c.last_read = t0 + 40s;
  EXPECT_EQ(plan({c}, t0 + 59s)[0], H2Upkeep::keep);
  EXPECT_EQ(plan({c}, t0 + 60s)[0], H2Upkeep::close_idle);
}

TEST(H2Upkeep, GoingAwayWithNoStreamLeftCloses) {
  H2ConnectionTimes c = idle_since(t0);
  c.usable = false;
  EXPECT_EQ(plan({c}, t0 + 1s)[0], H2Upkeep::close_idle);
  c.streams = 2;
  EXPECT_EQ(plan({c}, t0 + 1s)[0], H2Upkeep::keep);
}

TEST(H2Upkeep, AConnectingConnectionIsLeftToItsConnectDeadline) {
  H2ConnectionTimes c = idle_since(t0);
  c.open = false;
  EXPECT_EQ(plan({c}, t0 + 100s)[0], H2Upkeep::keep);
}

TEST(H2Upkeep, IdleConnectionsBeyondTheCapCloseTheLongestIdleFirst) {
  H2UpkeepLimits limits;
  limits.max_idle_connections = 1;
  H2ConnectionTimes busy = idle_since(t0);
  busy.streams = 4;
  const std::vector<H2ConnectionTimes> c{idle_since(t0 + 1s), busy, idle_since(t0 + 3s),
                                         idle_since(t0 + 2s)};
  const auto out = plan(c, t0 + 4s, limits);
  EXPECT_EQ(out[0], H2Upkeep::close_over);
  EXPECT_EQ(out[1], H2Upkeep::keep);  // busy: not idle, not counted
  EXPECT_EQ(out[2], H2Upkeep::keep);  // the most recently used idle one stays
  EXPECT_EQ(out[3], H2Upkeep::close_over);
}

TEST(H2Upkeep, AZeroCapClosesEveryIdleConnectionAndTheDefaultKeepsThemAll) {
  const std::vector<H2ConnectionTimes> c{idle_since(t0), idle_since(t0)};
  H2UpkeepLimits none;
  none.max_idle_connections = 0;
  EXPECT_EQ(plan(c, t0 + 1s, none), std::vector<H2Upkeep>(2, H2Upkeep::close_over));
  EXPECT_EQ(plan(c, t0 + 1s), std::vector<H2Upkeep>(2, H2Upkeep::keep));
}

TEST(H2Upkeep, ConnectionsTheRulesCloseAreNotCountedAgainstTheCap) {
  H2UpkeepLimits limits;
  limits.max_idle_connections = 1;
  H2ConnectionTimes dead = idle_since(t0 + 30s);
  dead.ping_sent = t0 + 20s;
  const std::vector<H2ConnectionTimes> c{dead, idle_since(t0 + 30s)};
  const auto out = plan(c, t0 + 36s, limits);
  EXPECT_EQ(out[0], H2Upkeep::close_dead);
  EXPECT_EQ(out[1], H2Upkeep::keep);
}

}  // namespace
}  // namespace ringproxy
