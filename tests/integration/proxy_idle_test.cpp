// Idle client connections: parked as a bare socket after a moment of silence (kept-alive ones
// and new ones that have sent nothing), served again when they speak, closed at their
// deadline or at a drain, and cheap while they wait.

#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

constexpr std::size_t kIdle = 300;

class IdleTest : public ProxyTest {
 protected:
  void SetUp() override { start_origins(1); }

  std::string parked() { return metric_text("ringproxy_parked_connections"); }
  bool parked_becomes(std::size_t n) {
    return wait_until([&] { return parked() == std::to_string(n); }, 5s);
  }
  // One GET on the connection, answered 200 with the connection kept.
  static bool get_once(RawSocket& s, const std::string& target) {
    if (!s.send("GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n")) return false;
    const std::string want = "target: " + target + "\n";
    return wait_until(
        [&] {
          s.wait_closed(5ms);
          return contains(s.received(), want);
        },
        5s);
  }
};

TEST_F(IdleTest, KeptAliveConnectionsAreParkedCheaplyAndServedWhenTheySpeakAgain) {
  ASSERT_TRUE(start_proxy(ProxyOptions().server("idle_timeout = \"30s\"")));
  std::vector<RawSocket> clients(kIdle);
  for (std::size_t i = 0; i < kIdle; ++i) {
    ASSERT_TRUE(clients[i].connect(port()));
    ASSERT_TRUE(get_once(clients[i], "/first/" + std::to_string(i))) << clients[i].received();
  }
  // Quiet for a moment: every one is parked, and holds little memory.
  ASSERT_TRUE(parked_becomes(kIdle)) << "parked: " << parked();
  EXPECT_EQ(active_connections(), std::to_string(kIdle));
  const Resources idle = resources();
  ASSERT_TRUE(idle.valid());

  // Each speaks again: served at once by a new session, then parked again.
  for (std::size_t i = 0; i < kIdle; ++i) {
    ASSERT_TRUE(get_once(clients[i], "/second/" + std::to_string(i))) << clients[i].received();
  }
  EXPECT_EQ(origin().requests_seen(), 2 * kIdle);
  ASSERT_TRUE(parked_becomes(kIdle)) << "parked: " << parked();

  // Closed by the client while parked: the proxy lets go of each, and of what each held.
  clients.clear();
  ASSERT_TRUE(parked_becomes(0)) << "parked: " << parked();
  ASSERT_TRUE(wait_until([&] { return active_connections() == "0"; }, 5s));
  const Resources closed = resources();
  ASSERT_TRUE(closed.valid());
  // Per connection: the socket's event-loop record, its wait and the park entry; a whole
  // session would be several kilobytes.
  const long long per_connection = (idle.heap - closed.heap) / static_cast<long long>(kIdle);
  std::cout << "[ idle ] " << per_connection << " bytes of heap per parked connection\n";
  EXPECT_LT(per_connection, 600) << "heap per idle connection";
}

TEST_F(IdleTest, ParkedConnectionIsClosedAtItsIdleTimeout) {
  ASSERT_TRUE(start_proxy(ProxyOptions().server("idle_timeout = \"1500ms\"")));
  RawSocket client;
  ASSERT_TRUE(client.connect(port()));
  ASSERT_TRUE(get_once(client, "/once"));
  const auto answered = Clock::now();
  ASSERT_TRUE(parked_becomes(1));
  ASSERT_TRUE(client.wait_closed(4s)) << "a parked connection outlived its idle timeout";
  const auto elapsed = ms_since(answered);
  EXPECT_GE(elapsed, 1300);
  EXPECT_LE(elapsed, 3000);
  EXPECT_EQ(parked(), "0");
}

TEST_F(IdleTest, SilentNewConnectionIsParkedAndClosedAtItsHeadTimeout) {
  ASSERT_TRUE(start_proxy(ProxyOptions().server("client_header_timeout = \"1500ms\"")));
  RawSocket silent;
  ASSERT_TRUE(silent.connect(port()));
  const auto opened = Clock::now();
  ASSERT_TRUE(parked_becomes(1));
  ASSERT_TRUE(silent.wait_closed(4s));
  const auto elapsed = ms_since(opened);
  EXPECT_GE(elapsed, 1300);  // from the accept, not from the park
  EXPECT_LE(elapsed, 3000);
  EXPECT_EQ(silent.received(), "");
}

TEST_F(IdleTest, ParkedNewConnectionKeepsTheHeadTimeoutFromItsAccept) {
  ASSERT_TRUE(start_proxy(ProxyOptions().server("client_header_timeout = \"1500ms\"")));
  RawSocket slow;
  ASSERT_TRUE(slow.connect(port()));
  const auto opened = Clock::now();
  ASSERT_TRUE(parked_becomes(1));
  // Half a head after the park: the session that takes it over keeps the accept's deadline.
  ASSERT_TRUE(slow.send("GET /late HTTP/1.1\r\n"));
  ASSERT_TRUE(slow.wait_closed(4s));
  const auto elapsed = ms_since(opened);
  EXPECT_GE(elapsed, 1300);
  EXPECT_LE(elapsed, 3000);
  EXPECT_TRUE(slow.received().starts_with("HTTP/1.1 408 ")) << slow.received();
}

TEST_F(IdleTest, SilentNewConnectionThatSpeaksAfterTheParkIsServed) {
  ASSERT_TRUE(start_proxy());
  RawSocket client;
  ASSERT_TRUE(client.connect(port()));
  ASSERT_TRUE(parked_becomes(1));
  ASSERT_TRUE(get_once(client, "/after-park"));
  ASSERT_TRUE(get_once(client, "/again"));
  EXPECT_EQ(origin().requests_seen(), 2u);
}

TEST_F(IdleTest, SigtermClosesParkedConnectionsAtOnce) {
  ASSERT_TRUE(start_proxy(ProxyOptions().server("drain_timeout = \"10s\"")));
  std::vector<RawSocket> clients(20);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    ASSERT_TRUE(clients[i].connect(port()));
    if (i % 2 == 0) {
      ASSERT_TRUE(get_once(clients[i], "/" + std::to_string(i)));
    }
  }
  ASSERT_TRUE(parked_becomes(clients.size()));
  proxy_->signal(SIGTERM);
  const auto signalled = Clock::now();
  const auto code = proxy_->wait_exit(5s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_LT(ms_since(signalled), 2000) << "parked connections held the drain";
  for (auto& c : clients) EXPECT_TRUE(c.wait_closed(1s));
}

}  // namespace
}  // namespace ringproxy::test
