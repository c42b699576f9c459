// Graceful shutdown: SIGTERM/SIGINT close the listeners at once, let in-flight requests finish
// (up to drain_timeout), close idle connections and exit 0.

#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <thread>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// One origin; the test sends the signal.
class LifecycleTest : public ProxyTest {
 protected:
  void SetUp() override { start_origins(1); }

  // True when a TCP connect to the proxy's port is refused.
  bool connect_refused() {
    RawSocket probe;
    return !probe.connect(port());
  }
};

TEST_F(LifecycleTest, SigtermDrainsInFlightRequestThenExitsZero) {
  ASSERT_TRUE(start_proxy(ProxyOptions().workers(2).server("drain_timeout = \"10s\"")));
  const std::uint16_t proxy_port = port();

  // An idle keep-alive connection: closed by the drain.
  auto idle = connect();
  ASSERT_TRUE(idle);
  ASSERT_EQ(idle->get("/idle").status, 200);

  HttpResponse in_flight;
  std::thread requester([&] {
    HttpClient client;
    if (!client.connect(proxy_port)) {
      in_flight.error = "connect: " + client.last_error();
      return;
    }
    in_flight = client.get("/slow?delay_ms=1500");
  });
  // Wait until the slow request has reached the origin.
  ASSERT_TRUE(wait_until([&] { return origin().requests_seen() == 2; }, 5s));

  proxy_->signal(SIGTERM);
  const auto signalled = Clock::now();
  EXPECT_TRUE(wait_until([&] { return connect_refused(); }, 500ms))
      << "new connections still accepted after SIGTERM";
  EXPECT_TRUE(idle->wait_closed(1s)) << "idle keep-alive connection left open during drain";

  requester.join();
  EXPECT_EQ(in_flight.status, 200) << in_flight.error;
  EXPECT_EQ(echo_line(in_flight.body, "target"), "/slow?delay_ms=1500");

  auto code = proxy_->wait_exit(10s);
  ASSERT_TRUE(code.has_value()) << "no exit within drain_timeout";
  EXPECT_EQ(*code, 0);
  // It exits once the request is done, not at the end of drain_timeout.
  EXPECT_LT(ms_since(signalled), 4000);
}

// The exit comes no sooner than drain_timeout after the signal, and well before twice it.
TEST_F(LifecycleTest, DrainTimeoutEndsARequestThatRunsLonger) {
  ASSERT_TRUE(start_proxy(ProxyOptions().server("drain_timeout = \"1s\"")));
  const std::uint16_t proxy_port = port();
  HttpResponse in_flight;
  std::thread requester([&] {
    HttpClient client;
    client.set_timeout(10s);
    if (client.connect(proxy_port)) in_flight = client.get("/slower?delay_ms=6000");
  });
  ASSERT_TRUE(wait_until([&] { return origin().requests_seen() == 1; }, 5s));

  const auto signalled = Clock::now();  // before the signal: a lower bound that cannot lie
  proxy_->signal(SIGTERM);
  auto code = proxy_->wait_exit(5s);
  const auto elapsed = ms_since(signalled);
  requester.join();
  ASSERT_TRUE(code.has_value()) << "no exit 5 s after SIGTERM with drain_timeout 1s";
  EXPECT_EQ(*code, 0);
  EXPECT_GE(elapsed, 1000) << "the drain ended before drain_timeout";
  EXPECT_LT(elapsed, 2000) << "the drain ran past twice drain_timeout";
  EXPECT_NE(in_flight.status, 200);  // cut off, not completed
}

TEST_F(LifecycleTest, SigintOnAnIdleProxyExitsZeroPromptly) {
  ASSERT_TRUE(start_proxy(ProxyOptions().server("drain_timeout = \"10s\"")));
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_EQ(client->get("/before-sigint").status, 200);
  proxy_->signal(SIGINT);
  const auto signalled = Clock::now();
  auto code = proxy_->wait_exit(5s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_LT(ms_since(signalled), 2000);  // the idle connection does not hold the drain
  EXPECT_TRUE(client->wait_closed(1s));
}

// SPEC: "POST /reload during a drain answers 503 at once" (the control loop that runs reloads
// has stopped; the request must not wait for the exit).
TEST_F(LifecycleTest, ReloadDuringADrainAnswers503AtOnce) {
  ASSERT_TRUE(start_proxy(ProxyOptions().server("drain_timeout = \"10s\"")));
  const std::uint16_t proxy_port = port();
  HttpClient admin;
  admin.set_timeout(2s);
  ASSERT_TRUE(admin.connect(proxy_->admin_port()));
  ASSERT_EQ(admin.get("/healthz").status, 200);  // a kept-alive admin connection

  HttpResponse in_flight;  // holds the drain open
  std::thread requester([&] {
    HttpClient client;
    if (client.connect(proxy_port)) in_flight = client.get("/slow?delay_ms=2500");
  });
  ASSERT_TRUE(wait_until([&] { return origin().requests_seen() == 1; }, 5s));
  proxy_->signal(SIGTERM);
  ASSERT_TRUE(proxy_->wait_for_log("draining", 2s));

  const auto asked = Clock::now();
  const HttpResponse r = admin.request("POST", "/reload");
  EXPECT_EQ(r.status, 503) << r.error;
  EXPECT_LT(ms_since(asked), 1000);
  requester.join();
  EXPECT_EQ(in_flight.status, 200) << in_flight.error;
  auto code = proxy_->wait_exit(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace ringproxy::test
