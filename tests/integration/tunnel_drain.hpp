// What every tunnel test expects of SIGTERM: the listeners close at once, open tunnels carry on
// through drain_timeout and are closed when it has passed, and the process exits 0.
#pragma once

#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <thread>
#include <vector>

#include "integration/proxy_fixture.hpp"
#include "support/ws_client.hpp"

namespace ringproxy::test {

// Sends SIGTERM to a proxy whose drain_timeout is 1500ms and checks the drain on `tunnels`.
inline void expect_sigterm_drains_tunnels(ProxyProcess& proxy,
                                          std::vector<std::unique_ptr<WsClient>>& tunnels,
                                          std::chrono::seconds exit_wait) {
  using namespace std::chrono_literals;
  const auto sent = Clock::now();
  proxy.signal(SIGTERM);
  ASSERT_TRUE(proxy.wait_for_log("draining", 5s));
  std::this_thread::sleep_for(500ms);
  for (auto& t : tunnels) {
    ASSERT_TRUE(t->send("during-drain", false)) << t->last_error();
    EXPECT_EQ(t->receive().value_or(""), "during-drain") << t->last_error();
  }
  for (auto& t : tunnels) EXPECT_TRUE(t->wait_closed(5s));
  const auto closed_after = ms_since(sent);
  EXPECT_GE(closed_after, 1400);
  EXPECT_LT(closed_after, 4000);
  EXPECT_EQ(proxy.wait_exit(exit_wait), std::optional<int>(0));
}

}  // namespace ringproxy::test
