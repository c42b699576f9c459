// Capacity: 10,000 client connections held at once, every one served, and everything they
// took (sessions, descriptors) given back once they close.

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>
#include <string>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

constexpr std::size_t kConnections = 10000;
constexpr std::size_t kWave = 500;  // requests in flight at once (each needs a backend socket)

std::size_t open_descriptors(pid_t pid) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

class CapacityTest : public ProxyTest {};

TEST_F(CapacityTest, TenThousandConcurrentConnectionsAreServedAndGiveEverythingBack) {
  // This process holds the client ends and the proxy (started from here) the server ends.
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max < kConnections + 2000) {
    GTEST_SKIP() << "needs " << kConnections + 2000 << " descriptors; the hard limit is "
                 << limit.rlim_max;
  }
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);

  start_origins(1, 2);
  ASSERT_TRUE(start_proxy(ProxyOptions().workers(2).server(
      // held silent while the waves go: no header timeout meanwhile
      "max_connections = 12000\nclient_header_timeout = \"120s\"\n")));
  {
    auto warm = connect();
    ASSERT_TRUE(warm);
    ASSERT_EQ(warm->get("/warm").status, 200);
  }
  ASSERT_TRUE(wait_until([&] { return active_connections() == "0"; }, 3s));
  const std::size_t baseline = open_descriptors(proxy_->pid());

  // Every connection opened and held.
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

  // Then every one asks once, a wave at a time, while all stay open.
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

  // Everything given back: no session left, and no descriptor beyond the baseline but the
  // idle upstream connections the pool keeps (at most max_idle_per_backend per worker).
  ASSERT_TRUE(wait_until([&] { return active_connections() == "0"; }, 10s));
  const std::size_t pooled_at_most = 2 * 64;
  std::size_t now = 0;
  EXPECT_TRUE(wait_until(
      [&] {
        now = open_descriptors(proxy_->pid());
        return now <= baseline + pooled_at_most;
      },
      5s))
      << now << " descriptors open, " << baseline << " at the start";
}

}  // namespace
}  // namespace ringproxy::test
