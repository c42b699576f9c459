// Placement of HTTP/2 streams over a backend's connections: pack on few, open another past
// MAX_CONCURRENT_STREAMS, skip connections going away, queue past the connection cap.
#include "policy/h2_placement.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace ringproxy {
namespace {

using Kind = H2Placement::Kind;

TEST(H2Placement, NoConnectionOpensOne) {
  const std::vector<H2ConnectionLoad> none;
  EXPECT_EQ(place_h2_stream(none, 4).kind, Kind::open_new);
}

TEST(H2Placement, StreamsPackOnTheFirstConnectionWithRoom) {
  const std::vector<H2ConnectionLoad> c{{10, 100, true}, {0, 100, true}};
  const H2Placement p = place_h2_stream(c, 4);
  EXPECT_EQ(p.kind, Kind::existing);
  EXPECT_EQ(p.index, 0u);
}

TEST(H2Placement, AFullConnectionPassesTheStreamOn) {
  const std::vector<H2ConnectionLoad> c{{100, 100, true}, {3, 100, true}};
  const H2Placement p = place_h2_stream(c, 4);
  EXPECT_EQ(p.kind, Kind::existing);
  EXPECT_EQ(p.index, 1u);
}

TEST(H2Placement, TheBackendsLimitOpensAnotherConnection) {
  const std::vector<H2ConnectionLoad> c{{2, 2, true}};
  EXPECT_EQ(place_h2_stream(c, 4).kind, Kind::open_new);
}

TEST(H2Placement, ConnectionsGoingAwayTakeNoNewStream) {
  const std::vector<H2ConnectionLoad> c{{0, 100, false}, {1, 100, false}};
  EXPECT_EQ(place_h2_stream(c, 1).kind, Kind::open_new);
  const std::vector<H2ConnectionLoad> d{{0, 100, false}, {5, 100, true}};
  const H2Placement p = place_h2_stream(d, 1);
  EXPECT_EQ(p.kind, Kind::existing);
  EXPECT_EQ(p.index, 1u);
}

TEST(H2Placement, PastTheConnectionCapTheLeastLoadedQueuesIt) {
  const std::vector<H2ConnectionLoad> c{{5, 2, true}, {3, 2, true}, {9, 1, false}};
  const H2Placement p = place_h2_stream(c, 2);
  EXPECT_EQ(p.kind, Kind::queue);
  EXPECT_EQ(p.index, 1u);
}

}  // namespace
}  // namespace ringproxy
