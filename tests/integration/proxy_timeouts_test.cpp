// Client-side timeouts: a slow head (slowloris), a silent connection, an idle keep-alive one, a
// client that never reads its response.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

TEST_F(TimeoutsTest, ClientThatNeverReadsIsClosedAfterIdleTimeoutWithBoundedMemory) {
  ASSERT_TRUE(
      start_proxy(ProxyOptions().server("client_header_timeout = \"5s\"\nidle_timeout = \"1s\"")));
  // A client with a small receive buffer asks for 64 MiB and never reads a byte.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  const int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request = "GET /big?bytes=67108864 HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  const auto start = Clock::now();

  // While it stalls, the proxy buffers a relay buffer's worth, not the response.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(active_connections(), "1");
  const Resources stalled = resources();
  ASSERT_TRUE(stalled.valid());
  EXPECT_LT(stalled.heap, baseline_->heap + 2 * 1024 * 1024)
      << "the proxy buffers the response of a client that does not read";

  // Then the write times out (idle_timeout), the connection closes and the backend
  // connection, left mid-body, is not kept.
  ASSERT_TRUE(wait_until([&] { return active_connections() == "0"; }, 5s))
      << "a client that never reads is still held";
  const auto elapsed = ms_since(start);
  EXPECT_GE(elapsed, 900);
  EXPECT_LE(elapsed, 3500);
  EXPECT_EQ(metric_text("ringproxy_upstream_idle_connections"), "0");
  // What the client can still read is a cut-off response, then the end.
  std::string received;
  char buffer[65536];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) received.append(buffer, n);
  ::close(fd);
  EXPECT_TRUE(received.starts_with("HTTP/1.1 200 ")) << received.substr(0, 200);
  EXPECT_LT(received.size(), 67108864u);
}

}  // namespace
}  // namespace ringproxy::test
