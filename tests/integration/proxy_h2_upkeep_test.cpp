// Upkeep of HTTP/2 backend connections (issue #20): an idle connection is PINGed, one whose
// backend stops answering is dropped and the next request opens a new one; idle connections
// beyond max_idle_per_backend are closed; the h2 upstream metrics count connections, streams
// and PING timeouts. The timings are the fixed defaults (policy/h2_upkeep.hpp: PING after 20 s
// idle, 5 s for its answer), so the first test waits about half a minute.
#include <future>
#include <thread>

#include "h2_upstream_fixture.hpp"

namespace ringproxy::test {
namespace {

class H2UpkeepTest : public H2UpstreamTest {
 protected:
  // The value of the metric line starting with `prefix` (a name and the start of its labels),
  // -1 when there is none.
  long long metric_line(std::string_view prefix) {
    HttpClient client;
    if (!client.connect(proxy_->admin_port())) return -1;
    const std::string body = client.get("/metrics").body;
    const auto at = body.find("\n" + std::string(prefix));
    if (at == std::string::npos) return -1;
    const auto space = body.find(' ', at + 1);
    return space == std::string::npos ? -1 : std::atoll(body.c_str() + space + 1);
  }
  static std::string labels(std::string_view name, std::string_view upstream) {
    return std::string(name) + "{upstream=\"" + std::string(upstream) + "\"";
  }
  // /stats of the origin behind prefix, through the proxy ("" when not a 200).
  std::string stats(const std::string& prefix) {
    auto client = connect();
    if (!client) return "";
    const auto r = client->get(prefix + "/stats");
    return r.status == 200 ? r.body : "";
  }
};

TEST_F(H2UpkeepTest, ASilentBackendConnectionIsDroppedAfterAnUnansweredPing) {
  // "app" goes silent after its first answer (PINGs unanswered); "ok" answers them.
  ScriptOrigin& silent = start_h2_origin({"--silent-after", "1"});
  ScriptOrigin& healthy = start_h2_origin();
  const std::string tables = h2_upstream("h2c", {silent.address()}) +
                             "\n[[upstream]]\nname = \"ok\"\nprotocol = "
                             "\"h2c\"\n  [[upstream.backend]]\n  address = \"" +
                             healthy.address() +
                             "\"\n\n[[route]]\npath_prefix = \"/ok\"\nupstream = "
                             "\"ok\"\n\n[[route]]\nupstream = \"app\"\n";
  ASSERT_TRUE(start_h2_proxy(tables));
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->get("/first").status, 200);
  EXPECT_EQ(client->get("/ok/first").status, 200);
  EXPECT_EQ(metric_line(labels("ringproxy_h2_upstream_connections_active", "app")), 1);
  EXPECT_EQ(metric_line(labels("ringproxy_h2_upstream_connections_active", "ok")), 1);
  EXPECT_EQ(metric_line(labels("ringproxy_h2_upstream_streams_total", "app")), 1);
  // Idle for 20 s: PINGs go out; the silent backend's connection is dropped 5 s later.
  EXPECT_TRUE(wait_until(
      [&] { return metric_line(labels("ringproxy_h2_upstream_ping_timeouts_total", "app")) == 1; },
      40s));
  EXPECT_EQ(metric_line(labels("ringproxy_h2_upstream_connections_active", "app")), 0);
  // The answering backend kept its connection, and saw the PING.
  EXPECT_EQ(metric_line(labels("ringproxy_h2_upstream_ping_timeouts_total", "ok")), 0);
  EXPECT_EQ(metric_line(labels("ringproxy_h2_upstream_connections_active", "ok")), 1);
  const std::string ok_stats = stats("/ok");
  EXPECT_TRUE(contains(ok_stats, "connections=1 ")) << ok_stats;
  EXPECT_FALSE(contains(ok_stats, "pings=0")) << ok_stats;
  // The next request to the silent backend goes on a new connection, and is answered.
  const auto again = client->get("/again");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body, "hello /again");
  EXPECT_EQ(metric_line(labels("ringproxy_h2_upstream_streams_total", "app")), 2);
  EXPECT_EQ(metric_line(labels("ringproxy_h2_upstream_connections_active", "app")), 1);
}

TEST_F(H2UpkeepTest, IdleConnectionsBeyondMaxIdlePerBackendAreClosed) {
  // One stream per connection at the backend: concurrent requests need several connections.
  ScriptOrigin& o = start_h2_origin({"--max-streams", "1"});
  ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {o.address()}, "max_idle_per_backend = 1")));
  constexpr int kClients = 6;
  constexpr int kEach = 8;
  std::atomic<long long> most{0};
  std::atomic<bool> load_done{false};
  auto watcher = std::async(std::launch::async, [&] {
    while (!load_done) {
      const long long n = metric_line(labels("ringproxy_h2_upstream_connections_active", "app"));
      if (n > most) most = n;
      std::this_thread::sleep_for(20ms);
    }
  });
  std::vector<std::future<int>> done;
  for (int c = 0; c < kClients; ++c) {
    done.push_back(std::async(std::launch::async, [this] {
      HttpClient client;
      client.set_timeout(20s);
      if (!client.connect(port())) return 0;
      int ok = 0;
      for (int i = 0; i < kEach; ++i) ok += client.get("/slow?ms=150").status == 200;
      return ok;
    }));
  }
  int ok = 0;
  for (auto& d : done) ok += d.get();
  load_done = true;
  watcher.get();
  EXPECT_EQ(ok, kClients * kEach);
  EXPECT_GE(most.load(), 2) << "the load did not open several connections";
  EXPECT_EQ(metric_line(labels("ringproxy_h2_upstream_streams_total", "app")), kClients * kEach);
  // Idle now: all but one closed within the upkeep's tick (1 s), long before the 60 s idle end.
  EXPECT_TRUE(wait_until(
      [&] { return metric_line(labels("ringproxy_h2_upstream_connections_active", "app")) == 1; },
      5s))
      << metric_line(labels("ringproxy_h2_upstream_connections_active", "app"));
  // The pool still serves (on the kept connection, or one more that the cap closes again).
  EXPECT_EQ(connect()->get("/after").status, 200);
  EXPECT_TRUE(wait_until(
      [&] { return metric_line(labels("ringproxy_h2_upstream_connections_active", "app")) == 1; },
      5s));
}

}  // namespace
}  // namespace ringproxy::test
