// Capacity: 10,000 client connections held at once, every one served, and everything they
// took (sessions, descriptors, heap) given back once they close.

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <string>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

constexpr std::size_t kConnections = 10000;
constexpr std::size_t kWave = 500;  // requests in flight at once (each needs a backend socket)

class CapacityTest : public ProxyTest {};

TEST_F(CapacityTest, TenThousandConcurrentConnectionsAreServedAndGiveEverythingBack) {
  // This process holds the client ends and the proxy (started from here) the server ends.
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max < kConnections + 2000) {
    // Raising the hard limit needs CAP_SYS_RESOURCE (root has it, scripts/test tries too):
    // without it the machine cannot give this test its descriptors.
    rlimit raised{kConnections + 2000, kConnections + 2000};
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      GTEST_SKIP() << "needs " << kConnections + 2000 << " descriptors; the hard limit is "
                   << limit.rlim_max << " and may not be raised here [machine cannot provide]";
    }
    limit = raised;
  }
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);

  start_origins(1, 2);
  ASSERT_TRUE(start_proxy(ProxyOptions().workers(2).server(
      // held silent while the waves go: no header timeout meanwhile
      "max_connections = 12000\nclient_header_timeout = \"120s\"\n")));
  // Every connection opened and held, then every one asks once, a wave at a time, while all
  // stay open; then all close.
  const auto serve_all = [&] {
    std::vector<RawSocket> clients(kConnections);
    for (std::size_t i = 0; i < kConnections; ++i) {
      ASSERT_TRUE(clients[i].connect(port())) << "connection " << i;
    }
    std::string held;
    ASSERT_TRUE(wait_until(
        [&] {
          held = active_connections();
          return held == std::to_string(kConnections);
        },
        10s))
        << "the proxy holds " << held << " connections";

    std::size_t answered = 0;
    std::string first_miss;
    for (std::size_t start = 0; start < kConnections; start += kWave) {
      const std::size_t end = std::min(kConnections, start + kWave);
      for (std::size_t i = start; i < end; ++i) {
        ASSERT_TRUE(clients[i].send("GET /c/" + std::to_string(i) +
                                    " HTTP/1.1\r\nHost: capacity\r\nConnection: close\r\n\r\n"));
      }
      for (std::size_t i = start; i < end; ++i) {
        ASSERT_TRUE(clients[i].wait_closed(10s)) << "connection " << i << " got no full answer";
        if (clients[i].received().starts_with("HTTP/1.1 200 ")) {
          ++answered;
        } else if (first_miss.empty()) {
          first_miss = "connection " + std::to_string(i) + ": \"" +
                       clients[i].received().substr(0, 200) + "\"";
        }
      }
    }
    EXPECT_EQ(answered, kConnections) << "first one not answered 200: " << first_miss;
    clients.clear();
    ASSERT_TRUE(wait_until([&] { return active_connections() == "0"; }, 10s));
  };

  // The first round fills what the proxy keeps for reuse once it has needed it (the event
  // loop's per-descriptor records, idle backend connections): the baseline is taken after it.
  ASSERT_NO_FATAL_FAILURE(serve_all());
  baseline_ = resources();
  ASSERT_TRUE(baseline_->valid());

  // The second round must give everything back: no session, no descriptor beyond the idle
  // backend connections, no heap beyond the first round's.
  ASSERT_NO_FATAL_FAILURE(serve_all());
  expect_resources_back();
}

}  // namespace
}  // namespace ringproxy::test
