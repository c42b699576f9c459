// Client-side timeouts: a slow head (slowloris), a silent connection, an idle keep-alive one.

#include <gtest/gtest.h>

#include <string>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// One origin; client_header_timeout 1 s, idle_timeout as the test needs.
class TimeoutsTest : public ProxyTest {
 protected:
  void SetUp() override { start_origins(1); }
};

TEST_F(TimeoutsTest, SlowlorisClientIsClosedAfterClientHeaderTimeout) {
  ASSERT_TRUE(start_proxy(ProxyOptions().server("client_header_timeout = \"1s\"")));
  RawSocket slow;
  ASSERT_TRUE(slow.connect(port()));
  const std::string head = "GET /slowloris HTTP/1.1\r\nHost: localhost\r\nX-Drip: " +
                           std::string(200, 'd');  // never finished
  const auto start = Clock::now();
  bool closed = false;
  // One byte every 200 ms; the waits between bytes also watch for the close.
  for (std::size_t i = 0; i < head.size() && !closed && ms_since(start) < 6000; ++i) {
    if (!slow.send(head.substr(i, 1))) {
      closed = true;
      break;
    }
    closed = slow.wait_closed(200ms);
  }
  const auto elapsed = ms_since(start);
  ASSERT_TRUE(closed) << "still open after " << elapsed << " ms of dripping";
  EXPECT_GE(elapsed, 900);
  EXPECT_LE(elapsed, 2000);
  EXPECT_EQ(origin().requests_seen(), 0u);
  // Whatever was sent back is at most a 408.
  if (!slow.received().empty()) {
    EXPECT_TRUE(slow.received().starts_with("HTTP/1.1 408")) << slow.received();
  }
}

TEST_F(TimeoutsTest, ClientThatSendsNothingIsClosedWithoutAnAnswer) {
  ASSERT_TRUE(start_proxy(ProxyOptions().server("client_header_timeout = \"1s\"")));
  RawSocket silent;
  ASSERT_TRUE(silent.connect(port()));
  const auto start = Clock::now();
  ASSERT_TRUE(silent.wait_closed(4s)) << "a silent connection was not closed";
  const auto elapsed = ms_since(start);
  EXPECT_GE(elapsed, 900);
  EXPECT_LE(elapsed, 2000);
  EXPECT_EQ(silent.received(), "");
}

TEST_F(TimeoutsTest, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  ASSERT_TRUE(
      start_proxy(ProxyOptions().server("client_header_timeout = \"5s\"\nidle_timeout = \"1s\"")));
  RawSocket client;
  ASSERT_TRUE(client.connect(port()));
  ASSERT_TRUE(client.send("GET /before-idle HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  // The response arrives and the connection stays open, then idles out.
  ASSERT_TRUE(wait_until(
      [&] {
        client.wait_closed(10ms);
        return contains(client.received(), "target: /before-idle\n");
      },
      5s))
      << client.received();
  EXPECT_FALSE(contains(client.received(), "Connection: close"));
  const auto start = Clock::now();
  ASSERT_TRUE(client.wait_closed(4s)) << "the idle connection was not closed";
  const auto elapsed = ms_since(start);
  EXPECT_GE(elapsed, 800);
  EXPECT_LE(elapsed, 2500);  // well under client_header_timeout (5 s)
  EXPECT_EQ(origin().requests_seen(), 1u);
}

}  // namespace
}  // namespace ringproxy::test
