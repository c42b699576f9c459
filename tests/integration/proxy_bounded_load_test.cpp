// Bounded loads on the live path: the requests a worker has in flight count against their
// backend's share, and a key whose home is over c x the mean load walks on.

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

class BoundedLoadTest : public ProxyTest {};

// Three backends, c = 1.25: with one request in flight the bound is ceil(1.25 x 2 / 3) = 1 per
// backend, so a second request for the same key, while the first is on its home, goes to
// another backend; once the first is done, home again. Without the bound (c = 0) it stays home.
TEST_F(BoundedLoadTest, AKeyWhoseHomeIsOverItsBoundWalksOnAndComesBack) {
  start_origins(3);
  for (const bool bounded : {true, false}) {
    SCOPED_TRACE(bounded ? "bounded_load = 1.25" : "bounded_load = 0");
    ASSERT_TRUE(start_proxy(ProxyOptions().upstream(
        std::string("hash_key = \"header:X-User\"\nbounded_load = ") + (bounded ? "1.25" : "0"))));
    auto client = connect();
    ASSERT_TRUE(client);
    const HeaderList user = {{"X-User", "bounded-user"}};
    const std::string home = client->get("/home", user).header("X-Origin");
    ASSERT_FALSE(home.empty());
    OriginServer& home_origin = origin(static_cast<std::size_t>(home[1] - '0'));
    const auto seen = home_origin.requests_seen();
    std::atomic<bool> slow_done{false};
    HttpResponse slow;
    const std::uint16_t p = port();
    std::thread slow_thread([&] {
      HttpClient c;
      c.set_timeout(10s);
      if (c.connect(p)) slow = c.get("/slow?delay_ms=800", user);
      slow_done = true;
    });
    const bool in_flight = wait_until([&] { return home_origin.requests_seen() > seen; }, 3s);
    const auto second = client->get("/second", user);
    const bool overlapped = !slow_done;
    slow_thread.join();
    ASSERT_TRUE(in_flight);
    ASSERT_TRUE(overlapped) << "the slow request finished first; nothing was tested";
    EXPECT_EQ(slow.header("X-Origin"), home);
    EXPECT_EQ(second.status, 200);
    if (bounded) {
      EXPECT_NE(second.header("X-Origin"), home) << "the home over its bound took it";
    } else {
      EXPECT_EQ(second.header("X-Origin"), home) << "no bound, yet it moved";
    }
    EXPECT_EQ(client->get("/after", user).header("X-Origin"), home) << "not home again";
    client.reset();
    end_proxy();
    proxy_.reset();
  }
}

}  // namespace
}  // namespace ringproxy::test
