// Request bodies and the backend side of the path: the upstream pool under concurrent
// keep-alive load.

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

using namespace std::string_literals;

// The default pool keeps what the load opened: 200 concurrent keep-alive clients open about
// 200 backend connections once, not a stream of new ones; upstream_connects_total counts them.
class UpstreamPoolTest : public ProxyTest {};

TEST_F(UpstreamPoolTest, DefaultPoolKeepsWhatTheLoadOpens) {
  constexpr int kClients = 200;
  start_origins(1, 2);
  ASSERT_TRUE(start_proxy());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      HttpClient client;
      if (!client.connect(port())) {
        ++failed;
        return;
      }
      while (!stop) {
        const HttpResponse r = client.get("/pool");
        (r.status == 200 ? ok : failed)++;
        if (r.status != 200) return;
      }
    });
  }
  std::this_thread::sleep_for(1500ms);  // warm-up: every client has a backend connection
  const std::size_t warm = origin().connections_accepted();
  const int warm_ok = ok.load();
  std::this_thread::sleep_for(2500ms);
  stop = true;
  for (auto& t : clients) t.join();
  const std::size_t end = origin().connections_accepted();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load() - warm_ok, kClients) << "too few requests after the warm-up to tell";
  EXPECT_LE(end, static_cast<std::size_t>(kClients) + 4)
      << "backend connections reopened: " << warm << " after the warm-up, " << end << " at the end";
  HttpClient admin;
  ASSERT_TRUE(admin.connect(proxy_->admin_port()));
  const HttpResponse metrics = admin.get("/metrics");
  const std::string line =
      "ringproxy_upstream_connects_total{upstream=\"app\",backend=\"" + origin().address() + "\"} ";
  const auto at = metrics.body.find(line);
  ASSERT_NE(at, std::string::npos) << metrics.body;
  EXPECT_EQ(std::stoul(metrics.body.substr(at + line.size())), end);
}

}  // namespace
}  // namespace ringproxy::test
