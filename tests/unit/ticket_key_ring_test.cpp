// Session ticket keys: two generations, rotated by age on an injected clock.
#include "policy/ticket_key_ring.hpp"

#include <gtest/gtest.h>

namespace ringproxy {
namespace {

using namespace std::chrono_literals;

// Keys named 1, 2, 3... in turn.
TicketKeyRing ring(TicketKeyRing::Clock::duration every) {
  return TicketKeyRing(every, [n = 0](TicketKey& k) mutable {
    k = TicketKey{};
    k.name[0] = static_cast<unsigned char>(++n);
  });
}

TEST(TicketKeyRing, RotatesByAgeAndKeepsThePreviousKeyToOpen) {
  auto keys = ring(12h);
  const TicketKeyRing::Clock::time_point t0{};
  EXPECT_EQ(keys.sealing_key(t0).name[0], 1);
  EXPECT_EQ(keys.sealing_key(t0 + 11h).name[0], 1);
  bool renew = true;
  const unsigned char one[16] = {1};
  const unsigned char two[16] = {2};
  const unsigned char three[16] = {3};
  ASSERT_TRUE(keys.find(one, t0 + 11h, &renew));
  EXPECT_FALSE(renew);
  // 12 h on: key 2 seals; key 1 still opens its tickets, which are renewed.
  EXPECT_EQ(keys.sealing_key(t0 + 12h).name[0], 2);
  ASSERT_TRUE(keys.find(one, t0 + 12h, &renew));
  EXPECT_TRUE(renew);
  ASSERT_TRUE(keys.find(two, t0 + 12h, &renew));
  EXPECT_FALSE(renew);
  EXPECT_FALSE(keys.find(three, t0 + 12h, &renew));
  // Another 12 h: key 1 is forgotten (a full handshake follows for its tickets).
  EXPECT_EQ(keys.sealing_key(t0 + 24h).name[0], 3);
  EXPECT_FALSE(keys.find(one, t0 + 24h, &renew));
  EXPECT_TRUE(keys.find(two, t0 + 24h, &renew));
  EXPECT_TRUE(renew);
  EXPECT_EQ(keys.rotations(), 3u);
}

TEST(TicketKeyRing, OpeningAlsoRotatesWhenDue) {
  auto keys = ring(1h);
  const TicketKeyRing::Clock::time_point t0{};
  keys.sealing_key(t0);
  bool renew = false;
  const unsigned char one[16] = {1};
  ASSERT_TRUE(keys.find(one, t0 + 2h, &renew));
  EXPECT_TRUE(renew);  // key 2 took over at the lookup
}

}  // namespace
}  // namespace ringproxy
