// The admin listener: /healthz, /status, /metrics after known traffic, POST /reload and SIGHUP.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// One origin, the proxy, and a client for the admin port.
class AdminTest : public ProxyTest {
 protected:
  void SetUp() override { start_origins(1); }

  HttpResponse admin(std::string_view method, std::string_view target) {
    HttpClient client;
    if (!client.connect(proxy_->admin_port())) {
      HttpResponse r;
      r.error = client.last_error();
      return r;
    }
    return client.request(method, target);
  }

  // The value of the sample line `name` (exact, with labels) in a metrics text; -1 if absent.
  static long long sample(const std::string& metrics, const std::string& name) {
    const std::string needle = "\n" + name + " ";
    auto at = metrics.find(needle);
    if (at == std::string::npos) return -1;
    return std::stoll(metrics.substr(at + needle.size()));
  }
};

TEST_F(AdminTest, HealthzAndStatus) {
  ASSERT_TRUE(start_proxy());
  auto h = admin("GET", "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");
  auto s = admin("GET", "/status");
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s.header("Content-Type"), "application/json");
  for (const char* key :
       {"\"generation\": 1", "\"upstreams\"", "\"name\": \"app\"", "\"address\": \"",
        "\"weight\": 1", "\"healthy\": true", "\"breaker\": \"closed\"", "\"in_flight\": 0",
        "\"requests\": 0", "\"failures\": 0"}) {
    EXPECT_TRUE(contains(s.body, key)) << key << " in " << s.body;
  }
  EXPECT_EQ(admin("GET", "/nope").status, 404);
  EXPECT_EQ(admin("POST", "/status").status, 405);
}

TEST_F(AdminTest, MetricsCountKnownTrafficExactly) {
  ASSERT_TRUE(start_proxy(ProxyOptions().workers(2)));
  auto client = connect();
  ASSERT_TRUE(client);
  for (int i = 0; i < 7; ++i) ASSERT_EQ(client->get("/ok").status, 200);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(client->get("/x?status=503").status, 503);
  HttpClient other;
  ASSERT_TRUE(other.connect(port()));
  other.send_raw("BROKEN\r\n\r\n");
  EXPECT_EQ(other.read_response().status, 400);

  // A response is counted once it has been written, so the client may read it a moment
  // before the counter moves (on another worker): wait for all 11, then check exactly.
  std::string text;
  EXPECT_TRUE(wait_until(
      [&] {
        const auto m = admin("GET", "/metrics");
        text = "\n" + m.body;
        return m.status == 200 && sample(text, "ringproxy_request_duration_seconds_count") >= 11;
      },
      5s))
      << text;
  EXPECT_EQ(sample(text, "ringproxy_requests_total{upstream=\"app\",code=\"200\"}"), 7);
  EXPECT_EQ(sample(text, "ringproxy_requests_total{upstream=\"app\",code=\"503\"}"), 3);
  EXPECT_EQ(sample(text, "ringproxy_requests_total{upstream=\"\",code=\"400\"}"), 1);
  EXPECT_EQ(sample(text, "ringproxy_request_duration_seconds_count"), 11);
  EXPECT_EQ(sample(text, "ringproxy_request_duration_seconds_bucket{le=\"+Inf\"}"), 11);
  EXPECT_EQ(sample(text, "ringproxy_rate_limited_total"), 0);
  EXPECT_EQ(sample(text, "ringproxy_config_generation"), 1);
  EXPECT_EQ(sample(text, "ringproxy_config_reloads_total{result=\"success\"}"), 0);
  EXPECT_EQ(sample(text, "ringproxy_backend_requests_total{upstream=\"app\",backend=\"" +
                             origin().address() + "\"}"),
            10);
  // Counted by each of the two workers on its own, summed at the scrape.
  EXPECT_EQ(sample(text, "ringproxy_backend_in_flight{upstream=\"app\",backend=\"" +
                             origin().address() + "\"}"),
            0);
  EXPECT_GT(sample(text, "ringproxy_heap_bytes"), 0);
  EXPECT_EQ(sample(text, "ringproxy_backend_healthy{upstream=\"app\",backend=\"" +
                             origin().address() + "\"}"),
            1);
  EXPECT_EQ(sample(text, "ringproxy_circuit_breaker_state{upstream=\"app\",backend=\"" +
                             origin().address() + "\"}"),
            0);
  EXPECT_GE(sample(text, "ringproxy_active_connections"), 1);
  for (const char* type :
       {"# TYPE ringproxy_requests_total counter",
        "# TYPE ringproxy_request_duration_seconds histogram",
        "# TYPE ringproxy_active_connections gauge", "# TYPE ringproxy_parked_connections gauge",
        "# TYPE ringproxy_upstream_idle_connections gauge",
        "# TYPE ringproxy_pooled_buffer_bytes gauge"}) {
    EXPECT_TRUE(contains(text, type)) << type;
  }
}

TEST_F(AdminTest, ScrapesUnderLoadFromTwoWorkersSeeCountersOnlyGrow) {
  // Two workers serve four keep-alive clients while the admin worker sums their counters for
  // /metrics and /status: every scrape answers, and the request count never goes back.
  ASSERT_TRUE(start_proxy(ProxyOptions().workers(2)));
  constexpr int kClients = 4;
  constexpr int kRequests = 300;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      HttpClient client;
      if (!client.connect(port())) return;
      for (int i = 0; i < kRequests; ++i) {
        if (client.get("/load/" + std::to_string(i)).status == 200) ++ok;
      }
    });
  }
  long long last = 0;
  int scrapes = 0;
  while (ok.load() < kClients * kRequests && scrapes < 2000) {
    const auto m = admin("GET", "/metrics");
    ASSERT_EQ(m.status, 200);
    const long long n =
        sample("\n" + m.body, "ringproxy_requests_total{upstream=\"app\",code=\"200\"}");
    // Absent (-1) until a first response is counted; then it only grows.
    if (last > 0) EXPECT_GE(n, last) << "requests_total went back at scrape " << scrapes;
    last = std::max(last, n);
    ASSERT_EQ(admin("GET", "/status").status, 200);
    ++scrapes;
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_GT(scrapes, 1);
}

TEST_F(AdminTest, ReloadByPostAndSighupAndFailedReloadsChangeNothing) {
  ASSERT_TRUE(start_proxy());
  const std::string good = proxy_config_;
  // A reload that adds a route: generation 2, the route answers.
  ASSERT_TRUE(
      proxy_->write_config(good + "\n[[route]]\npath_prefix = \"/only\"\nupstream = \"app\"\n"));
  auto r = admin("POST", "/reload");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(contains(r.body, "generation 2"));
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->get("/only/x").status, 200);
  EXPECT_EQ(client->get("/elsewhere").status, 404);  // routes now exist and this one matches none

  // Invalid configs, by POST and by SIGHUP: 400 with line numbers, old config kept.
  const std::string bad_key = good + "\n[[route]]\nupstream = \"app\"\npath_prefx = \"/b\"\n";
  ASSERT_TRUE(proxy_->write_config(bad_key));
  r = admin("POST", "/reload");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(contains(r.body, "unknown key \"path_prefx\"")) << r.body;
  EXPECT_TRUE(contains(r.body, proxy_->config_path() + ":")) << r.body;
  ASSERT_TRUE(proxy_->write_config(good + "\nthis is not toml\n"));
  proxy_->signal(SIGHUP);
  EXPECT_TRUE(proxy_->wait_for_log("reload failed", 5s));
  EXPECT_TRUE(wait_until(
      [&] {
        auto m = admin("GET", "/metrics");
        return contains(m.body, "ringproxy_config_reloads_total{result=\"failure\"} 2");
      },
      5s));
  auto s = admin("GET", "/status");
  EXPECT_TRUE(contains(s.body, "\"generation\": 2")) << s.body;
  EXPECT_EQ(client->get("/only/y").status, 200);  // still generation 2's routes
  EXPECT_TRUE(client->is_open());

  // A good SIGHUP: generation 3.
  ASSERT_TRUE(proxy_->write_config(good));
  proxy_->signal(SIGHUP);
  EXPECT_TRUE(proxy_->wait_for_log("generation 3", 5s));
  EXPECT_EQ(client->get("/elsewhere").status, 200);  // no routes again: all to "app"
}

// The numbers after each `"key": ` in text, in order.
std::vector<double> numbers_after(const std::string& text, const std::string& key) {
  std::vector<double> out;
  const std::string needle = "\"" + key + "\": ";
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    out.push_back(std::strtod(text.c_str() + at + needle.size(), nullptr));
  }
  return out;
}

// /status gives each backend's share of the key space (weights 1, 1, 2: about 1/4, 1/4, 1/2
// on the ring; exactly so for round robin) and when the generation in force was loaded.
TEST_F(AdminTest, StatusHasEachBackendsShareAndTheLoadTime) {
  start_origins(2);  // three in all
  const std::string tables =
      upstream_toml("ring", {origin(0).address(), origin(1).address()}) +
      "  [[upstream.backend]]\n  address = \"" + origin(2).address() + "\"\n  weight = 2\n" +
      upstream_toml("rr", {origin(0).address(), origin(1).address()},
                    "algorithm = \"round_robin\"") +
      upstream_toml("maglev", {origin(0).address(), origin(1).address(), origin(2).address()},
                    "algorithm = \"maglev\"");
  const auto before = std::time(nullptr);
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(tables)));
  const std::string body = admin("GET", "/status").body;
  const std::vector<double> shares = numbers_after(body, "share");
  ASSERT_EQ(shares.size(), 8u) << body;
  EXPECT_NEAR(shares[0] + shares[1] + shares[2], 1.0, 1e-9) << body;
  // Ring points depend on the origins' (random) ports: about their weights' shares.
  EXPECT_NEAR(shares[0], 0.25, 0.1) << body;
  EXPECT_NEAR(shares[1], 0.25, 0.1) << body;
  EXPECT_NEAR(shares[2], 0.5, 0.1) << body;
  EXPECT_DOUBLE_EQ(shares[3], 0.5) << body;
  EXPECT_DOUBLE_EQ(shares[4], 0.5) << body;
  EXPECT_NEAR(shares[5] + shares[6] + shares[7], 1.0, 1e-9) << body;
  EXPECT_NEAR(shares[5], 1.0 / 3, 0.01) << body;

  // "loaded_at": "YYYY-MM-DDTHH:MM:SSZ", within the test's run.
  const std::string key = "\"loaded_at\": \"";
  const auto at = body.find(key);
  ASSERT_NE(at, std::string::npos) << body;
  const std::string stamp = body.substr(at + key.size(), 20);
  std::tm tm{};
  ASSERT_NE(strptime(stamp.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm), nullptr) << stamp;
  const std::time_t loaded = timegm(&tm);
  EXPECT_GE(loaded, before - 1) << stamp;
  EXPECT_LE(loaded, std::time(nullptr) + 1) << stamp;
}

}  // namespace
}  // namespace ringproxy::test
