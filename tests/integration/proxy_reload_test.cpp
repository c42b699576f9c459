// Hot reload through the real proxy (SIGHUP and POST /reload): reloads under steady keep-alive
// load drop nothing; invalid configs change nothing and say why (file:line); backend state
// (health, breaker) and the hash mapping of untouched backends survive a reload; rate-limit
// buckets survive when their rule is unchanged; a changed server.listen is refused.
// Users are mapped to origins with an X-User header key and the X-Origin header each origin adds.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

constexpr int kUsers = 120;

// 1-based line of the first occurrence of `needle` in `text` (0 if absent).
int line_of(std::string_view text, std::string_view needle) {
  const auto at = text.find(needle);
  if (at == std::string_view::npos) return 0;
  int line = 1;
  for (std::size_t i = 0; i < at; ++i)
    if (text[i] == '\n') ++line;
  return line;
}

// The lines of `text` (without their '\n'), empty ones dropped.
std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    if (end > at) out.emplace_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// "  [[upstream.backend]]" lines for `address` with `weight`.
std::string backend_toml(const std::string& address, int weight = 1) {
  return "  [[upstream.backend]]\n  address = \"" + address +
         "\"\n  weight = " + std::to_string(weight) + "\n";
}

class ReloadTest : public ProxyTest {
 protected:
  // The value of the sample line `name` (exact, with labels) in /metrics; -1 if absent.
  long long metric(const std::string& name) {
    const auto m = admin("GET", "/metrics");
    const std::string text = "\n" + m.body;
    const std::string needle = "\n" + name + " ";
    auto at = text.find(needle);
    if (at == std::string::npos) return -1;
    return std::stoll(text.substr(at + needle.size()));
  }
  long long reloads(std::string_view result) {
    return metric("ringproxy_config_reloads_total{result=\"" + std::string(result) + "\"}");
  }

  // "generation" of /status; -1 when it cannot be read.
  long long status_generation() {
    const auto s = admin("GET", "/status");
    const std::string key = "\"generation\": ";
    auto at = s.body.find(key);
    if (s.status != 200 || at == std::string::npos) return -1;
    return std::stoll(s.body.substr(at + key.size()));
  }

  // The JSON object of backend `address` in /status ("" if absent).
  std::string backend_status(const std::string& address) {
    const auto s = admin("GET", "/status");
    auto at = s.body.find("{\"address\": \"" + address + "\"");
    if (at == std::string::npos) return {};
    return s.body.substr(at, s.body.find('}', at) - at + 1);
  }

  // The config text without its [[upstream]] / [[route]] tables (server, admin, log).
  std::string header_toml(unsigned workers) const {
    return build_config(ProxyOptions().workers(workers).only_tables(""));
  }
};

// ---------------------------------------------------------------------------------------------
// Issue 6, must show 1: reloads under load drop nothing.

TEST_F(ReloadTest, TwentyReloadsUnderKeepAliveLoadFailNoRequestAndCloseNoConnection) {
  start_origins(4);
  const auto addr = [&](std::size_t i) { return origin(i).address(); };
  // A: four backends of weight 1, no routes. B: new weights, o3 removed, and routes (a new
  // "/extra" route before a catch-all).
  const std::string tables_a = "\n[[upstream]]\nname = \"app\"\nhash_key = \"uri\"\n" +
                               backend_toml(addr(0)) + backend_toml(addr(1)) +
                               backend_toml(addr(2)) + backend_toml(addr(3));
  const std::string tables_b = "\n[[upstream]]\nname = \"app\"\nhash_key = \"uri\"\n" +
                               backend_toml(addr(0), 3) + backend_toml(addr(1), 2) +
                               backend_toml(addr(2), 1) +
                               "\n[[route]]\npath_prefix = \"/extra\"\nupstream = \"app\"\n" +
                               "\n[[route]]\npath_prefix = \"/\"\nupstream = \"app\"\n";
  ASSERT_TRUE(start_proxy(ProxyOptions().workers(2).only_tables(tables_a)));
  const std::string config_a = proxy_config_;
  const std::string config_b = header_toml(2) + tables_b;
  ASSERT_EQ(status_generation(), 1);

  // seq is 2p while config p is in force and stable, 2p+1 while reload p+1 runs. A request that
  // saw the same even seq before it was sent and after its answer ran wholly on config p
  // (config p is B when p is odd).
  constexpr int kThreads = 4;
  constexpr int kReloads = 20;
  std::atomic<int> seq{0};
  std::atomic<bool> stop{false};
  std::atomic<long> completed{0};
  std::atomic<int> failed{0};
  std::atomic<int> reconnects{0};
  std::atomic<int> removed_hit_in_b{0};  // answered by o3 wholly under config B
  std::atomic<int> readded_hit_in_a{0};  // answered by o3 wholly under a later config A
  std::mutex mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  const std::string removed = origin(3).name();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client;
      client.set_timeout(5s);
      if (!client.connect(port())) {
        ++failed;
        return;
      }
      for (long i = 0; !stop; ++i) {
        const std::string target =
            (i % 5 == 0 ? "/extra/" : "/load/") + std::to_string(t) + "/" + std::to_string(i);
        const int before = seq.load();
        auto r = client.get(target);
        const int after = seq.load();
        const bool ok = r.status == 200 && echo_line(r.body, "target") == target &&
                        !r.header("X-Origin").empty();
        if (ok) {
          ++completed;
          if (before == after && before % 2 == 0 && r.header("X-Origin") == removed) {
            const int p = before / 2;
            if (p % 2 == 1) ++removed_hit_in_b;
            if (p > 0 && p % 2 == 0) ++readded_hit_in_a;
          }
        } else {
          ++failed;
          std::lock_guard lock(mutex);
          if (failures.size() < 10)
            failures.push_back(target + ": status " + std::to_string(r.status) + " error \"" +
                               r.error + "\" body \"" + r.body.substr(0, 80) + "\"");
        }
        if (!client.is_open()) {
          ++reconnects;
          if (!client.connect(port())) {
            ++failed;
            return;
          }
        }
      }
    });
  }

  // Some traffic before the first reload and between every two.
  auto traffic = [&](long n) {
    const long from = completed.load();
    return wait_until([&] { return completed.load() >= from + n || failed.load() > 0; }, 5s);
  };
  std::vector<std::string> reload_errors;
  EXPECT_TRUE(traffic(50));
  for (int i = 0; i < kReloads; ++i) {
    const bool to_b = i % 2 == 0;
    ASSERT_TRUE(proxy_->write_config(to_b ? config_b : config_a));
    seq = 2 * i + 1;
    auto r = admin("POST", "/reload");
    seq = 2 * i + 2;
    if (r.status != 200 || r.body != "reloaded: generation " + std::to_string(i + 2) + "\n")
      reload_errors.push_back("reload " + std::to_string(i + 1) + ": " + std::to_string(r.status) +
                              " " + r.body + r.error);
    EXPECT_TRUE(traffic(150)) << "no traffic after reload " << i + 1;
  }
  EXPECT_TRUE(traffic(40));
  stop = true;
  for (auto& th : threads) th.join();

  for (const auto& e : reload_errors) ADD_FAILURE() << e;
  EXPECT_EQ(failed.load(), 0) << "of " << completed.load() + failed.load() << " requests";
  for (const auto& f : failures) ADD_FAILURE() << f;
  EXPECT_EQ(reconnects.load(), 0) << "the proxy closed client connections";
  EXPECT_GT(completed.load(), 1000) << "too little load to show anything";
  EXPECT_EQ(removed_hit_in_b.load(), 0) << "the removed backend was still sent requests";
  EXPECT_GT(readded_hit_in_a.load(), 0) << "the re-added backend got no requests";
  EXPECT_EQ(status_generation(), 1 + kReloads);
  EXPECT_EQ(metric("ringproxy_config_generation"), 1 + kReloads);
  EXPECT_EQ(reloads("success"), kReloads);
  EXPECT_EQ(reloads("failure"), 0);
  EXPECT_EQ(proxy_->log_count("reloaded " + proxy_->config_path() + ": generation "),
            static_cast<std::size_t>(kReloads));
}

// ---------------------------------------------------------------------------------------------
// Issue 6, must show 2: invalid configs change nothing.

TEST_F(ReloadTest, InvalidConfigsBySighupAndPostKeepTheOldConfigAndNameTheLine) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(
      ProxyOptions().only_tables(upstream_toml("app", {origin().address()}) +
                                 "\n[[route]]\npath_prefix = \"/old\"\nupstream = \"app\"\n")));
  const std::string good = proxy_config_;
  const std::string path = proxy_->config_path();

  struct Bad {
    std::string what;
    std::string text;
    int line;             // the line the error must name
    std::string message;  // what the error line must say after "FILE:LINE: "
  };
  // Each adds a "/new" route: had it been applied, /new would answer 200 instead of 404.
  std::vector<Bad> bads;
  {
    std::string text = good + "\n[[route]]\npath_prefix = \"/new\nupstream = \"app\"\n";
    bads.push_back(
        {"syntax error", text, line_of(text, "path_prefix = \"/new"), "TOML syntax error"});
  }
  {
    std::string text =
        good + "\n[[route]]\npath_prefix = \"/new\"\nupstream = \"app\"\nretries_typo = 1\n";
    bads.push_back(
        {"unknown key", text, line_of(text, "retries_typo"), "unknown key \"retries_typo\""});
  }
  {
    std::string text = good + upstream_toml("more", {"10.0.0.1"}) +
                       "\n[[route]]\npath_prefix = \"/new\"\nupstream = \"more\"\n";
    bads.push_back({"address without port", text, line_of(text, "\"10.0.0.1\""),
                    "upstream \"more\": backend address \"10.0.0.1\" has no port"});
  }

  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_EQ(client->get("/old/a").status, 200);
  ASSERT_EQ(client->get("/new/a").status, 404);
  const auto local_port = client->local_port();

  int failures = 0;
  for (const Bad& bad : bads) {
    ASSERT_GT(bad.line, 0);
    const std::string where = path + ":" + std::to_string(bad.line) + ": ";
    // The error line: "FILE:LINE: " then (after any context such as "route #2: ") the message.
    auto names_it = [&](std::string_view line) {
      return line.starts_with(where) && contains(line, bad.message);
    };
    auto logged = [&] {
      std::size_t n = 0;
      for (const auto& line : lines_of(proxy_->log())) {
        const auto at = line.find("reload failed: ");
        if (at != std::string::npos && names_it(std::string_view(line).substr(at + 15))) ++n;
      }
      return n;
    };
    for (const bool by_post : {true, false}) {
      SCOPED_TRACE(bad.what + (by_post ? " by POST /reload" : " by SIGHUP"));
      ASSERT_TRUE(proxy_->write_config(bad.text));
      const auto logged_before = logged();
      if (by_post) {
        auto r = admin("POST", "/reload");
        EXPECT_EQ(r.status, 400) << r.body;
        const auto lines = lines_of(r.body);
        ASSERT_FALSE(lines.empty()) << "no errors in the 400 body";
        EXPECT_TRUE(names_it(lines.front()))
            << "400 body: " << r.body << "expected a line starting with \"" << where
            << "\" and saying \"" << bad.message << "\"";
        if (bad.what == "syntax error") {
          EXPECT_EQ(lines.size(), 1u) << "only the syntax error: " << r.body;
        }
      } else {
        proxy_->signal(SIGHUP);
      }
      ++failures;
      EXPECT_TRUE(wait_until([&] { return logged() > logged_before; }, 5s))
          << "no \"reload failed: " << where << "...\" line saying \"" << bad.message
          << "\" in the log";
      EXPECT_TRUE(wait_until([&] { return reloads("failure") == failures; }, 5s))
          << "failure count " << reloads("failure") << ", expected " << failures;
      EXPECT_EQ(reloads("success"), 0);
      EXPECT_EQ(status_generation(), 1);
      EXPECT_EQ(metric("ringproxy_config_generation"), 1);
      // Still the old config, on the same connection and on a new one.
      EXPECT_EQ(client->get("/old/b").status, 200);
      EXPECT_EQ(client->get("/new/b").status, 404) << "the invalid config was applied";
      EXPECT_TRUE(client->is_open());
      EXPECT_EQ(client->local_port(), local_port);
      auto fresh = connect();
      ASSERT_TRUE(fresh);
      EXPECT_EQ(fresh->get("/old/c").status, 200);
    }
  }
  EXPECT_EQ(proxy_->log_count("reloaded "), 0u);

  // A valid config afterwards still reloads: generation 2, /new answers.
  ASSERT_TRUE(
      proxy_->write_config(good + "\n[[route]]\npath_prefix = \"/new\"\nupstream = \"app\"\n"));
  auto r = admin("POST", "/reload");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "reloaded: generation 2\n");
  EXPECT_EQ(client->get("/new/c").status, 200);
  EXPECT_EQ(client->local_port(), local_port);
  EXPECT_EQ(reloads("failure"), failures);
  EXPECT_EQ(reloads("success"), 1);
}

// ---------------------------------------------------------------------------------------------
// Issue 6, must show 3: backend state and the hash mapping survive a reload of another backend.

TEST_F(ReloadTest, HealthBreakerAndMappingSurviveAReloadThatChangesOtherBackends) {
  start_origins(4);
  OriginServer& sick = origin(0);     // health-checked down
  OriginServer& tripped = origin(1);  // breaker open
  OriginServer& kept = origin(2);     // untouched by the first reload, weight 2 -> 1 by the second
  OriginServer& removed = origin(3);  // removed by the first reload
  constexpr auto kInterval = 1500ms;
  const std::string subtables =
      "  [upstream.health_check]\n"
      "  path = \"/healthz\"\n"
      "  interval = \"1500ms\"\n"
      "  timeout = \"200ms\"\n"
      "  healthy_threshold = 2\n"
      "  unhealthy_threshold = 2\n"
      "  [upstream.circuit_breaker]\n"
      "  failure_threshold = 3\n"
      "  open_duration = \"30s\"\n";
  auto tables = [&](bool with_removed, int kept_weight) {
    std::string t = "\n[[upstream]]\nname = \"app\"\nhash_key = \"header:X-User\"\nretries = 1\n";
    t += backend_toml(sick.address()) + backend_toml(tripped.address()) +
         backend_toml(kept.address(), kept_weight);
    if (with_removed) t += backend_toml(removed.address());
    return t + subtables;
  };
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(tables(true, 2))));
  const std::string header = header_toml(1);

  const auto home = map_users(kUsers);  // everyone healthy
  std::map<std::string, int> per_origin;
  for (const auto& [u, o] : home) {
    ASSERT_FALSE(o.empty()) << "user " << u;
    ++per_origin[o];
  }
  ASSERT_EQ(per_origin.size(), 4u);

  // o0 fails its checks: down.
  sick.set_health_status(500);
  const std::string down_line = "backend " + sick.address() + " is down";
  ASSERT_TRUE(proxy_->wait_for_log(down_line, 5s));
  // o1 fails three requests: breaker open.
  int tripped_user = -1;
  for (const auto& [u, o] : home)
    if (o == tripped.name() && tripped_user < 0) tripped_user = u;
  {
    auto client = connect();
    ASSERT_TRUE(client);
    for (int i = 0; i < 3; ++i) {
      auto r = get_as(*client, tripped_user, "/fail?status=500");
      EXPECT_EQ(r.status, 500);
      EXPECT_EQ(r.header("X-Origin"), tripped.name());
    }
  }
  ASSERT_TRUE(contains(backend_status(tripped.address()), "\"breaker\": \"open\""))
      << backend_status(tripped.address());
  ASSERT_TRUE(contains(backend_status(sick.address()), "\"healthy\": false"))
      << backend_status(sick.address());

  // Checks a mapping taken after a reload against `reference` (taken before it): users of
  // `untouched` backends keep their backend; nobody is sent to the sick or tripped one.
  auto check_mapping = [&](const std::map<int, std::string>& reference,
                           const std::map<int, std::string>& now,
                           const std::set<std::string>& untouched) {
    int kept_users = 0;
    for (const auto& [u, was] : reference) {
      const std::string is = now.count(u) ? now.at(u) : "";
      EXPECT_FALSE(is.empty()) << "user " << u << " got no 200";
      EXPECT_NE(is, sick.name()) << "user " << u << " sent to the down backend";
      EXPECT_NE(is, tripped.name()) << "user " << u << " sent through an open breaker";
      if (untouched.contains(was)) {
        EXPECT_EQ(is, was) << "user " << u << " moved off untouched backend " << was;
        ++kept_users;
      }
    }
    return kept_users;
  };
  const auto before = map_users(kUsers);
  check_mapping(home, before, {kept.name(), removed.name()});

  // Reload 1: o3 removed. Checked at once, well within one health interval.
  ASSERT_TRUE(proxy_->write_config(header + tables(false, 2)));
  auto reloaded_at = Clock::now();
  auto r = admin("POST", "/reload");
  ASSERT_EQ(r.status, 200) << r.body;
  auto after = map_users(kUsers);
  auto sick_status = backend_status(sick.address());
  auto tripped_status = backend_status(tripped.address());
  auto took = ms_since(reloaded_at);
  EXPECT_LT(took, std::chrono::milliseconds(kInterval).count())
      << "the checks took longer than one health interval; they prove nothing";
  EXPECT_TRUE(contains(sick_status, "\"healthy\": false")) << sick_status;
  EXPECT_TRUE(contains(tripped_status, "\"breaker\": \"open\"")) << tripped_status;
  EXPECT_GT(check_mapping(before, after, {kept.name()}), 0);
  for (const auto& [u, o] : after) EXPECT_NE(o, removed.name()) << "user " << u;

  // Reload 2: o2's weight 2 -> 1 (its ring points are a subset: only its users may move).
  ASSERT_TRUE(proxy_->write_config(header + tables(false, 1)));
  reloaded_at = Clock::now();
  r = admin("POST", "/reload");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto after2 = map_users(kUsers);
  sick_status = backend_status(sick.address());
  tripped_status = backend_status(tripped.address());
  took = ms_since(reloaded_at);
  EXPECT_LT(took, std::chrono::milliseconds(kInterval).count());
  EXPECT_TRUE(contains(sick_status, "\"healthy\": false")) << sick_status;
  EXPECT_TRUE(contains(tripped_status, "\"breaker\": \"open\"")) << tripped_status;
  EXPECT_TRUE(contains(backend_status(kept.address()), "\"weight\": 1"));
  check_mapping(after, after2, {});
  // Everyone who was not on o2 stays where they were.
  for (const auto& [u, o] : after) {
    if (o != kept.name()) {
      EXPECT_EQ(after2.at(u), o) << "user " << u;
    }
  }

  // The down backend was not rediscovered: one "is down" line, no "is up" since.
  EXPECT_EQ(proxy_->log_count(down_line), 1u);
  EXPECT_EQ(proxy_->log_count("backend " + sick.address() + " is up"), 0u);
  EXPECT_EQ(status_generation(), 3);
}

// ---------------------------------------------------------------------------------------------
// Rate limit buckets across reloads. Rate 0.1/s: no token comes back while a test runs.

class ReloadRateLimitTest : public ReloadTest {
 protected:
  bool reload_to(const std::string& tables) {
    if (!proxy_->write_config(header_toml(1) + tables)) return false;
    auto r = admin("POST", "/reload");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200;
  }
  // Statuses of `n` GETs of `target` on `client`.
  std::vector<int> statuses(HttpClient& client, const std::string& target, int n) {
    std::vector<int> out;
    for (int i = 0; i < n; ++i) {
      auto r = client.get(target);
      out.push_back(r.status);
      if (!client.is_open()) client.connect(port());
    }
    return out;
  }
};

using Statuses = std::vector<int>;

TEST_F(ReloadRateLimitTest, BucketsSurviveAnUnrelatedChangeAndAreFreshWhenTheirRuleChanges) {
  auto tables = [&](int default_burst, int route_burst, std::string_view upstream_extra) {
    return "[rate_limit]\nrate = 0.1\nburst = " + std::to_string(default_burst) + "\n" +
           upstream_toml("app", {origin().address()}, upstream_extra) +
           "\n[[route]]\npath_prefix = \"/r\"\nupstream = \"app\"\n"
           "rate_limit = { rate = 0.1, burst = " +
           std::to_string(route_burst) + " }\n" +
           "\n[[route]]\npath_prefix = \"/\"\nupstream = \"app\"\n";
  };
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(tables(3, 2, ""))));
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(statuses(*client, "/d", 4), (Statuses{200, 200, 200, 429}));
  EXPECT_EQ(statuses(*client, "/r", 3), (Statuses{200, 200, 429}));

  // An unrelated change (the upstream's connect_timeout): both buckets are still empty.
  ASSERT_TRUE(reload_to(tables(3, 2, "connect_timeout = \"2s\"\n")));
  EXPECT_EQ(statuses(*client, "/d", 1), (Statuses{429})) << "the default's bucket was refilled";
  EXPECT_EQ(statuses(*client, "/r", 1), (Statuses{429})) << "the route's bucket was refilled";

  // The route's rule changes: its buckets are new (full at burst 5); the default's are kept.
  // (No two rules here ever have the same numbers: see the next test for that case.)
  ASSERT_TRUE(reload_to(tables(3, 5, "connect_timeout = \"2s\"\n")));
  EXPECT_EQ(statuses(*client, "/r", 6), (Statuses{200, 200, 200, 200, 200, 429}));
  EXPECT_EQ(statuses(*client, "/d", 1), (Statuses{429}));

  // The default's rule changes: fresh at burst 4; the route's (unchanged now) stays empty.
  ASSERT_TRUE(reload_to(tables(4, 5, "connect_timeout = \"2s\"\n")));
  EXPECT_EQ(statuses(*client, "/d", 5), (Statuses{200, 200, 200, 200, 429}));
  EXPECT_EQ(statuses(*client, "/r", 1), (Statuses{429}));
  EXPECT_TRUE(client->is_open());
}

TEST_F(ReloadRateLimitTest, RouteOverrideEqualToTheDefaultKeepsItsOwnBucketsAcrossAReload) {
  // SPEC: "a route's override has its own buckets". Its rule has the default's numbers; a
  // reload must not hand it the default's buckets (nor the default the route's).
  auto tables = [&](std::string_view upstream_extra) {
    return "[rate_limit]\nrate = 0.1\nburst = 3\n" +
           upstream_toml("app", {origin().address()}, upstream_extra) +
           "\n[[route]]\npath_prefix = \"/r\"\nupstream = \"app\"\n"
           "rate_limit = { rate = 0.1, burst = 3 }\n"
           "\n[[route]]\npath_prefix = \"/\"\nupstream = \"app\"\n";
  };
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(tables(""))));
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(statuses(*client, "/d", 4), (Statuses{200, 200, 200, 429}));
  EXPECT_EQ(statuses(*client, "/r", 1), (Statuses{200}));  // its own bucket: 2 tokens left

  ASSERT_TRUE(reload_to(tables("connect_timeout = \"2s\"\n")));
  EXPECT_EQ(statuses(*client, "/d", 1), (Statuses{429}));
  EXPECT_EQ(statuses(*client, "/r", 3), (Statuses{200, 200, 429}))
      << "the route's override lost its own bucket across the reload";
}

// ---------------------------------------------------------------------------------------------
// Not changeable by reload in this version: refused, and the old listener keeps serving.

TEST_F(ReloadTest, ChangedWorkersIsRefusedAndTheOldListenerKeepsServing) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  const std::string good = proxy_config_;
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_EQ(client->get("/before").status, 200);
  const auto local_port = client->local_port();

  struct Change {
    std::string key;
    std::string text;
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  };
  const std::vector<Change> changes = {
      {"server.workers", replaced("workers = 1", "workers = 2")},
  };
  int failures = 0;
  for (const auto& change : changes) {
    for (const bool by_post : {true, false}) {
      SCOPED_TRACE(change.key + (by_post ? " by POST /reload" : " by SIGHUP"));
      ASSERT_TRUE(proxy_->write_config(change.text));
      const std::string log_line = change.key + " changed: this takes a restart";
      const auto logged = proxy_->log_count(log_line);
      if (by_post) {
        auto r = admin("POST", "/reload");
        EXPECT_EQ(r.status, 400) << r.body;
        EXPECT_TRUE(contains(r.body, log_line)) << r.body;
      } else {
        proxy_->signal(SIGHUP);
      }
      ++failures;
      EXPECT_TRUE(wait_until([&] { return proxy_->log_count(log_line) > logged; }, 5s));
      EXPECT_TRUE(wait_until([&] { return reloads("failure") == failures; }, 5s));
      EXPECT_EQ(status_generation(), 1);
      EXPECT_EQ(client->get("/kept").status, 200);
      EXPECT_EQ(client->local_port(), local_port);
      auto fresh = connect();
      ASSERT_TRUE(fresh);
      EXPECT_EQ(fresh->get("/new-connection").status, 200);
    }
  }
  EXPECT_EQ(reloads("success"), 0);

  // The original config reloads fine.
  ASSERT_TRUE(proxy_->write_config(good));
  auto r = admin("POST", "/reload");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(client->get("/after").status, 200);
  EXPECT_EQ(client->local_port(), local_port);
}

TEST_F(ReloadTest, ListenersAddedAreBoundRemovedAreClosedAndKeptOnesUntouched) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  const std::string good = proxy_config_;
  const std::string first = "listen = [\"127.0.0.1:0\"]";
  ASSERT_NE(good.find(first), std::string::npos);
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_EQ(client->get("/before").status, 200);
  const auto local_port = client->local_port();

  // Add a listener (at port 0, on another loopback address: the proxy announces the port it
  // got): it is bound, and the kept one and its connection are untouched.
  const std::string second = "127.0.0.2:0";
  std::string both = good;
  both.replace(both.find(first), first.size(), "listen = [\"127.0.0.1:0\", \"" + second + "\"]");
  ASSERT_TRUE(proxy_->write_config(both));
  auto r = admin("POST", "/reload");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::uint16_t second_port = announced_port("listening on ", "127.0.0.2");
  ASSERT_NE(second_port, 0) << "the added listener was not announced";
  HttpClient on_second;
  ASSERT_TRUE(on_second.connect(second_port, "127.0.0.2"));
  EXPECT_EQ(on_second.get("/second").status, 200);
  EXPECT_EQ(client->get("/kept").status, 200);
  EXPECT_EQ(client->local_port(), local_port);
  auto fresh = connect();
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->get("/first-still-listening").status, 200);

  // Remove the first listener: closed to new connections; its accepted ones live on.
  std::string only_second = good;
  only_second.replace(only_second.find(first), first.size(), "listen = [\"" + second + "\"]");
  ASSERT_TRUE(proxy_->write_config(only_second));
  r = admin("POST", "/reload");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(wait_until(
      [&] {
        HttpClient probe;
        probe.set_timeout(1s);
        return !probe.connect(port());
      },
      5s))
      << "the removed listener still accepts";
  EXPECT_EQ(client->get("/accepted-before-removal").status, 200);
  EXPECT_EQ(on_second.get("/second-again").status, 200);

  // A listener that cannot be bound fails the reload and changes nothing.
  // (the admin port is taken, by the proxy itself)
  std::string bad = good;
  bad.replace(
      bad.find(first), first.size(),
      "listen = [\"" + second + "\", \"127.0.0.1:" + std::to_string(proxy_->admin_port()) + "\"]");
  ASSERT_TRUE(proxy_->write_config(bad));
  r = admin("POST", "/reload");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(contains(r.body, "cannot listen on")) << r.body;
  EXPECT_EQ(on_second.get("/still-second").status, 200);
}

TEST_F(ReloadTest, RemovedBackendGetsNoRequestsAndItsPooledConnectionsClose) {
  start_origins(2);
  ASSERT_TRUE(start_proxy(ProxyOptions().upstream("algorithm = \"round_robin\"")));
  auto client = connect();
  ASSERT_TRUE(client);
  for (int i = 0; i < 6; ++i) ASSERT_EQ(client->get("/warm").status, 200);
  ASSERT_GT(origin(1).requests_seen(), 0u);
  ASSERT_TRUE(wait_until([&] { return origin(1).connections_open() > 0; }, 2s));

  // Remove origin 1's backend line.
  std::string without = proxy_config_;
  const std::string line = "  [[upstream.backend]]\n  address = \"" + origin(1).address() + "\"\n";
  const auto at = without.find(line);
  ASSERT_NE(at, std::string::npos);
  without.erase(at, line.size());
  ASSERT_TRUE(proxy_->write_config(without));
  ASSERT_EQ(admin("POST", "/reload").status, 200);

  const auto seen = origin(1).requests_seen();
  for (int i = 0; i < 6; ++i) ASSERT_EQ(client->get("/after").header("X-Origin"), "o0");
  EXPECT_EQ(origin(1).requests_seen(), seen);
  EXPECT_TRUE(wait_until([&] { return origin(1).connections_open() == 0; }, 3s))
      << "the removed backend's pooled connection stayed open";
}

TEST_F(ReloadTest, AdminListenerMovesOnReload) {
  check_connections_at_end_ = false;  // the admin port the fixture knows has moved
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  const std::uint16_t old_admin = proxy_->admin_port();
  std::string moved = proxy_config_;
  const std::string from = "listen = \"127.0.0.1:0\"";
  ASSERT_NE(moved.find(from), std::string::npos);
  // Another loopback address at port 0: the proxy announces the port it got.
  moved.replace(moved.find(from), from.size(), "listen = \"127.0.0.3:0\"");
  ASSERT_TRUE(proxy_->write_config(moved));
  auto r = admin("POST", "/reload");
  EXPECT_EQ(r.status, 200) << r.body;
  const std::uint16_t new_admin = announced_port("admin listening on ", "127.0.0.3");
  ASSERT_NE(new_admin, 0) << "the moved admin listener was not announced";
  HttpClient on_new;
  ASSERT_TRUE(on_new.connect(new_admin, "127.0.0.3"));
  EXPECT_EQ(on_new.get("/healthz").status, 200);
  EXPECT_TRUE(wait_until(
      [&] {
        HttpClient probe;
        probe.set_timeout(1s);
        return !probe.connect(old_admin);
      },
      5s))
      << "the old admin listener still accepts";
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->get("/proxied").status, 200);
}

}  // namespace
}  // namespace ringproxy::test
