// What a reload changes in the live state, each shown by a request or a scrape that tells the
// old setting from the new one: breaker settings and max_concurrent, server.max_connections, a
// restarted health checker's starting state, a backend whose checks are removed, a backend id
// as its identity on the ring; and backend_healthy / circuit_breaker_state in their other states.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

constexpr int kUsers = 120;

class ReloadStateTest : public ProxyTest {
 protected:
  // Writes the config with `tables` and reloads by POST /reload; true on 200.
  bool reload_tables(const std::string& tables, std::string_view server_lines = "") {
    const std::string text = build_config(ProxyOptions().server(server_lines).only_tables(tables));
    if (!proxy_->write_config(text)) return false;
    const auto r = admin("POST", "/reload");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200;
  }
  // The value of a labelled sample in /metrics; -1 if absent.
  long long metric(const std::string& name) {
    const std::string text = "\n" + admin("GET", "/metrics").body;
    const std::string needle = "\n" + name + " ";
    const auto at = text.find(needle);
    if (at == std::string::npos) return -1;
    return std::stoll(text.substr(at + needle.size()));
  }
  static std::string labels(const std::string& backend) {
    return "{upstream=\"app\",backend=\"" + backend + "\"}";
  }
  // The JSON object of backend `address` in /status ("" if absent).
  std::string backend_status(const std::string& address) {
    const auto s = admin("GET", "/status");
    const auto at = s.body.find("{\"address\": \"" + address + "\"");
    if (at == std::string::npos) return {};
    return s.body.substr(at, s.body.find('}', at) - at + 1);
  }
  // Starts a GET of `target` on its own connection in a thread; join() before the test ends.
  std::thread slow_get(std::string target, HttpResponse* out) {
    const std::uint16_t p = port();
    return std::thread([p, target = std::move(target), out] {
      HttpClient c;
      c.set_timeout(10s);
      if (c.connect(p)) *out = c.get(target);
    });
  }
};

std::string breaker_table(int threshold, std::string_view open, int half_open, int max_concurrent) {
  return "  [upstream.circuit_breaker]\n  failure_threshold = " + std::to_string(threshold) +
         "\n  open_duration = \"" + std::string(open) +
         "\"\n  half_open_requests = " + std::to_string(half_open) +
         "\n  max_concurrent = " + std::to_string(max_concurrent) + "\n";
}

// Each breaker setting and max_concurrent, changed by a reload, is the one in force: before,
// failure_threshold 100, open 30 s, one trial, no cap; after, 2, 1 s, two trials, cap 2. With
// one backend, a refusal is a 503 at once. circuit_breaker_state reads 2 open, 1 half-open.
TEST_F(ReloadStateTest, BreakerSettingsAndMaxConcurrentChangedByAReloadApply) {
  start_origins(1);
  const std::string address = origin().address();
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(
      upstream_toml("app", {address}, "retries = 0") + breaker_table(100, "30s", 1, 0))));
  auto client = connect();
  ASSERT_TRUE(client);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(client->get("/fail?status=500").status, 500);
  EXPECT_EQ(client->get("/ok").status, 200) << "threshold 100 opened after 2 failures";
  ASSERT_TRUE(
      reload_tables(upstream_toml("app", {address}, "retries = 0") + breaker_table(2, "1s", 2, 2)));

  // max_concurrent 2: two slow requests in flight, a third is refused at once.
  {
    const auto seen = origin().requests_seen();
    HttpResponse a, b;
    std::thread ta = slow_get("/slow-a?delay_ms=800", &a);
    std::thread tb = slow_get("/slow-b?delay_ms=800", &b);
    const bool both = wait_until([&] { return origin().requests_seen() >= seen + 2; }, 3s);
    const auto third = client->get("/third");
    ta.join();
    tb.join();
    ASSERT_TRUE(both) << "the two slow requests did not both reach the origin";
    EXPECT_EQ(third.status, 503) << "max_concurrent = 2 from the reload let a third in";
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(b.status, 200);
  }
  // failure_threshold 2 and open_duration 1 s.
  for (int i = 0; i < 2; ++i) EXPECT_EQ(client->get("/fail?status=500").status, 500);
  const auto opened = Clock::now();
  const auto refused = client->get("/while-open");
  EXPECT_EQ(refused.status, 503) << "failure_threshold = 2 from the reload did not open it";
  EXPECT_EQ(refused.header("Retry-After"), "1") << "open_duration 1s from the reload";
  EXPECT_EQ(metric("ringproxy_circuit_breaker_state" + labels(address)), 2) << "open";

  // half_open_requests 2: after the open time, two trials at once reach the backend.
  std::this_thread::sleep_until(opened + 1100ms);
  const auto seen = origin().requests_seen();
  HttpResponse a, b;
  std::thread ta = slow_get("/trial-a?delay_ms=800", &a);
  const bool first = wait_until([&] { return origin().requests_seen() >= seen + 1; }, 3s);
  std::thread tb = slow_get("/trial-b?delay_ms=800", &b);
  const bool second = wait_until([&] { return origin().requests_seen() >= seen + 2; }, 3s);
  const long long half_open = metric("ringproxy_circuit_breaker_state" + labels(address));
  ta.join();
  tb.join();
  EXPECT_TRUE(first) << "no trial after the reloaded open_duration";
  EXPECT_TRUE(second) << "half_open_requests = 2 from the reload let one trial through"
                      << " (second: " << b.status << ")";
  EXPECT_EQ(half_open, 1) << "half-open with trials in flight";
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(metric("ringproxy_circuit_breaker_state" + labels(address)), 0) << "closed again";
}

// server.max_connections changed by a reload is the one in force, up and down.
TEST_F(ReloadStateTest, MaxConnectionsChangedByAReloadApplies) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("max_connections = 1")));
  auto first = connect();
  ASSERT_TRUE(first);
  ASSERT_EQ(first->get("/first").status, 200);
  // A connection over the limit is answered 503 without a request, then closed.
  auto refused_with = [&] {
    HttpClient c;
    c.set_timeout(5s);
    if (!c.connect(port())) return -1;
    return c.read_response().status;
  };
  EXPECT_EQ(refused_with(), 503) << "max_connections = 1 let a second in";

  const std::string tables = upstream_toml("app", {origin().address()});
  ASSERT_TRUE(reload_tables(tables, "max_connections = 2"));
  auto second = connect();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->get("/second").status, 200) << "max_connections = 2 from the reload";
  EXPECT_EQ(refused_with(), 503) << "max_connections = 2 let a third in";

  ASSERT_TRUE(reload_tables(tables, "max_connections = 3"));
  auto third = connect();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->get("/third").status, 200) << "max_connections = 3 from the reload";
  EXPECT_EQ(first->get("/first-again").status, 200);
}

std::string checks(std::string_view interval, int rise = 2, int fall = 2) {
  return "  [upstream.health_check]\n  path = \"/healthz\"\n  interval = \"" +
         std::string(interval) +
         "\"\n  timeout = \"100ms\"\n  healthy_threshold = " + std::to_string(rise) +
         "\n  unhealthy_threshold = " + std::to_string(fall) + "\n";
}

// A reload that changes the check settings restarts the checkers. The restarted checker of a
// backend that is down starts down (failing checks do not mark it down a second time; passing
// ones bring it up after healthy_threshold); a backend the reload adds starts healthy and is
// checked at once (one failed check, under unhealthy_threshold 2, never takes it down).
// backend_healthy reads 0 while it is down.
TEST_F(ReloadStateTest, RestartedCheckersKeepADownBackendDownAndStartNewBackendsHealthy) {
  start_origins(3);
  OriginServer& sick = origin(0);
  OriginServer& added = origin(2);
  const std::vector<std::string> two = {origin(0).address(), origin(1).address()};
  const std::string keyed = "hash_key = \"header:X-User\"";
  const std::vector<std::string> three = {origin(0).address(), origin(1).address(),
                                          added.address()};
  sick.set_health_status(500);
  ASSERT_TRUE(
      start_proxy(ProxyOptions().only_tables(upstream_toml("app", two, keyed) + checks("200ms"))));
  const std::string down_line = "backend " + sick.address() + " is down";
  ASSERT_TRUE(proxy_->wait_for_log(down_line, 5s));
  EXPECT_EQ(metric("ringproxy_backend_healthy" + labels(sick.address())), 0);
  EXPECT_EQ(metric("ringproxy_backend_healthy" + labels(origin(1).address())), 1);

  added.script_health_checks({500});  // its first check fails, the rest pass
  ASSERT_TRUE(reload_tables(upstream_toml("app", three, keyed) + checks("100ms")));
  EXPECT_TRUE(contains(backend_status(added.address()), "\"healthy\": true"));
  // Three checks each after the reload: the restarted checker has recorded two failures.
  const auto sick_checks = sick.health_checks_seen();
  ASSERT_TRUE(wait_until(
      [&] {
        return sick.health_checks_seen() >= sick_checks + 3 && added.health_checks_seen() >= 3;
      },
      5s));
  EXPECT_EQ(proxy_->log_count(down_line), 1u) << "the restarted checker started it healthy";
  EXPECT_TRUE(contains(backend_status(sick.address()), "\"healthy\": false"));
  EXPECT_EQ(metric("ringproxy_backend_healthy" + labels(sick.address())), 0);
  EXPECT_EQ(proxy_->log_count("backend " + added.address() + " is"), 0u)
      << "the added backend did not start healthy";
  EXPECT_EQ(metric("ringproxy_backend_healthy" + labels(added.address())), 1);

  sick.set_health_status(200);
  EXPECT_TRUE(proxy_->wait_for_log("backend " + sick.address() + " is up", 5s))
      << "the restarted checker never brought it up";
  EXPECT_EQ(metric("ringproxy_backend_healthy" + labels(sick.address())), 1);
}

// A reload that removes an upstream's checks makes its down backend healthy; checks added back
// by the next reload start from healthy (a passing backend is not brought "up" again).
TEST_F(ReloadStateTest, ABackendWhoseChecksAReloadRemovesIsHealthy) {
  start_origins(2);
  OriginServer& sick = origin(0);
  const std::vector<std::string> both = {origin(0).address(), origin(1).address()};
  const std::string keyed = "hash_key = \"header:X-User\"";
  sick.set_health_status(500);
  ASSERT_TRUE(start_proxy(
      ProxyOptions().only_tables(upstream_toml("app", both, keyed) + checks("200ms", 2, 1))));
  ASSERT_TRUE(proxy_->wait_for_log("backend " + sick.address() + " is down", 5s));

  ASSERT_TRUE(reload_tables(upstream_toml("app", both, keyed)));
  sick.set_health_status(200);
  EXPECT_TRUE(contains(backend_status(sick.address()), "\"healthy\": true"))
      << backend_status(sick.address());
  std::set<std::string> served;
  for (const auto& [u, o] : map_users(kUsers)) served.insert(o);
  EXPECT_TRUE(served.contains(sick.name())) << "the unchecked backend got no user";

  ASSERT_TRUE(reload_tables(upstream_toml("app", both, keyed) + checks("100ms", 2, 1)));
  EXPECT_TRUE(contains(backend_status(sick.address()), "\"healthy\": true"))
      << backend_status(sick.address());
  const auto seen = sick.health_checks_seen();
  ASSERT_TRUE(wait_until([&] { return sick.health_checks_seen() >= seen + 3; }, 5s));
  EXPECT_EQ(proxy_->log_count("backend " + sick.address() + " is up"), 0u)
      << "checks added back started it down";
  EXPECT_EQ(metric("ringproxy_backend_healthy" + labels(sick.address())), 1);
}

// A backend's id, not its address, is its place on the ring: swapping the addresses of two ids
// swaps their users, and the third backend's users stay.
TEST_F(ReloadStateTest, ABackendIdIsItsIdentityOnTheRing) {
  start_origins(3);
  auto tables = [&](std::size_t for_a, std::size_t for_b) {
    std::string t = "\n[[upstream]]\nname = \"app\"\nhash_key = \"header:X-User\"\n";
    const std::pair<const char*, std::size_t> ids[] = {{"a", for_a}, {"b", for_b}, {"c", 2}};
    for (const auto& [id, i] : ids)
      t += "  [[upstream.backend]]\n  id = \"" + std::string(id) + "\"\n  address = \"" +
           origin(i).address() + "\"\n";
    return t;
  };
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(tables(0, 1))));
  const auto before = map_users(kUsers);
  ASSERT_TRUE(reload_tables(tables(1, 0)));
  const auto after = map_users(kUsers);
  const std::map<std::string, std::string> swapped = {{"o0", "o1"}, {"o1", "o0"}, {"o2", "o2"}};
  int moved = 0;
  for (const auto& [u, was] : before) {
    ASSERT_TRUE(swapped.contains(was)) << "user " << u << ": \"" << was << "\"";
    EXPECT_EQ(after.at(u), swapped.at(was)) << "user " << u;
    if (was != "o2") ++moved;
  }
  EXPECT_GT(moved, 0);
}

}  // namespace
}  // namespace ringproxy::test
