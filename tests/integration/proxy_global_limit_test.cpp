// Global rate limits (scope = "global") through two real proxies sharing a real redis-server:
// one client spread over both instances is held to one bucket (rate x t + burst + one lease
// per instance) where local limits admit about twice as much; with Redis killed requests are
// answered within redis_timeout by the local tier ("allow") or with 503 ("deny"), and once
// Redis is back the global limit holds again within a second. Reload switches scope.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.hpp"
#include "support/redis_server.hpp"

namespace ringproxy::test {
namespace {

constexpr int kRate = 50;
constexpr int kBurst = 50;
constexpr int kLease = 5;  // lease = 0.1 of burst

// What a load run saw.
struct LoadResult {
  int ok = 0;       // 200s
  int limited = 0;  // 429s
  int refused = 0;  // 503s
  int failed = 0;   // anything else (errors, other statuses)
  long long max_latency_ms = 0;
  double seconds = 0;
};

// `per_port` keep-alive clients on each port send GET requests back to back for `duration`.
LoadResult run_load(const std::vector<std::uint16_t>& ports, int per_port,
                    std::chrono::milliseconds duration) {
  std::atomic<int> ok{0}, limited{0}, refused{0}, failed{0};
  std::atomic<long long> max_latency{0};
  const auto start = Clock::now();
  const auto end = start + duration;
  std::vector<std::thread> threads;
  for (std::uint16_t port : ports) {
    for (int i = 0; i < per_port; ++i) {
      threads.emplace_back([&, port] {
        HttpClient client;
        client.set_timeout(5s);
        while (Clock::now() < end) {
          if (!client.is_open() && !client.connect(port)) {
            ++failed;
            continue;
          }
          const auto sent = Clock::now();
          const HttpResponse r = client.get("/x");
          const long long ms = ms_since(sent);
          long long seen = max_latency.load();
          while (ms > seen && !max_latency.compare_exchange_weak(seen, ms)) {
          }
          if (r.status == 200) {
            ++ok;
          } else if (r.status == 429) {
            ++limited;
          } else if (r.status == 503) {
            ++refused;
          } else {
            ++failed;
          }
          if (!r.keep_alive) client.close();
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  LoadResult out{ok,     limited,     refused,
                 failed, max_latency, std::chrono::duration<double>(Clock::now() - start).count()};
  return out;
}

std::string describe(const LoadResult& r) {
  return std::to_string(r.ok) + " x 200, " + std::to_string(r.limited) + " x 429, " +
         std::to_string(r.refused) + " x 503, " + std::to_string(r.failed) + " failed, max " +
         std::to_string(r.max_latency_ms) + " ms, over " + std::to_string(r.seconds) + " s";
}

// Two proxies (the fixture's and second_) over one origin, and a redis-server.
class GlobalLimitTest : public ProxyTest {
 protected:
  void SetUp() override {
    redis_ = RedisServer::start();
    ASSERT_TRUE(redis_) << "redis-server (scripts/deps installs it) did not start";
    start_origins(1, 2);
  }

  void TearDown() override {
    if (second_) {
      if (second_->running()) second_->signal(SIGTERM);
      EXPECT_EQ(second_->wait_exit(kExitWait), std::optional<int>(0))
          << "the second proxy did not exit 0 after SIGTERM";
      EXPECT_TRUE(second_->wait_output_end(5s));
      const std::string log = second_->log();
      for (std::string_view report : kSanitizerReports) {
        EXPECT_EQ(log.find(report), std::string::npos) << "sanitizer report in the second "
                                                          "proxy's log:\n"
                                                       << log;
      }
      if (HasFailure()) std::cerr << "---- second proxy log ----\n" << log << "\n";
      second_.reset();
    }
    ProxyTest::TearDown();
    redis_.reset();
  }

  // The [rate_limit] table: rate 50, burst 50, lease 0.1 (or `lease`), with `extra` lines.
  std::string limit_table(std::string_view scope, std::string_view extra = "",
                          std::string_view lease = "0.1") const {
    return "[rate_limit]\nrate = " + std::to_string(kRate) +
           ".0\nburst = " + std::to_string(kBurst) + "\nscope = \"" + std::string(scope) +
           "\"\nredis = \"" + redis_->address() + "\"\nlease = " + std::string(lease) + "\n" +
           std::string(extra) + "\n";
  }

  // Starts both proxies with the same [rate_limit] table (two workers each).
  bool start_both(const std::string& rate_limit) {
    ProxyOptions options;
    options.workers(2).only_tables(rate_limit + upstream_toml("app", {origin().address()}));
    if (!start_proxy(options)) return false;
    second_ = ProxyProcess::start(kProxyBinary, build_config(options));
    return second_ != nullptr && second_->port() != 0;
  }
  std::vector<std::uint16_t> both_ports() const { return {port(), second_->port()}; }

  // An unlabelled metric of the fixture's proxy as a number (-1 when unreadable).
  long long metric(std::string_view name) {
    const std::string text = metric_text(name);
    return text.empty() ? -1 : std::atoll(text.c_str());
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<ProxyProcess> second_;
};

TEST_F(GlobalLimitTest, OneClientOverTwoInstancesGetsOneBucketWhereLocalLimitsGiveTwo) {
  // redis_timeout is generous and errors deny: this test is about the shared bucket, and a
  // slow machine must not let the local tier admit more.
  ASSERT_TRUE(start_both(limit_table("global",
                                     "redis_timeout = \"500ms\"\n"
                                     "on_redis_error = \"deny\"")));
  const LoadResult global = run_load(both_ports(), 2, 4s);
  std::cout << "global: " << describe(global) << "\n";
  const double bound = kBurst + kRate * global.seconds + 2 * kLease;
  const double nominal = kBurst + kRate * 4 + 2 * kLease;  // 260
  EXPECT_LE(global.ok, bound) << describe(global);
  EXPECT_GE(global.ok, 0.9 * nominal) << describe(global);
  EXPECT_EQ(global.failed, 0) << describe(global);
  EXPECT_EQ(global.refused, 0) << describe(global);
  EXPECT_GT(global.limited, 0) << describe(global);
  // Leases: Redis ran the script for a small share of the requests.
  const long long scripts = redis_->calls("evalsha") + redis_->calls("eval");
  EXPECT_GT(scripts, 0);
  EXPECT_LT(scripts, (global.ok + global.limited) / 4) << describe(global);
  EXPECT_NE(redis_->command({"EXISTS", "ringproxy:default:{a:127.0.0.1}"}), "");

  // The same with scope = "local": each instance admits its own burst and rate.
  second_->signal(SIGTERM);
  ASSERT_EQ(second_->wait_exit(kExitWait), std::optional<int>(0));
  second_.reset();
  end_proxy();
  proxy_.reset();
  ASSERT_TRUE(start_both(limit_table("local")));
  const LoadResult local = run_load(both_ports(), 2, 4s);
  std::cout << "local: " << describe(local) << "\n";
  EXPECT_LE(local.ok, 2 * (kBurst + kRate * local.seconds)) << describe(local);
  EXPECT_GE(local.ok, 0.9 * 2 * (kBurst + kRate * 4)) << describe(local);
  EXPECT_GT(local.ok, 1.7 * global.ok)
      << "local " << describe(local) << "; global " << describe(global);
}

TEST_F(GlobalLimitTest, WorkersSpendingSlicesOfBigLeasesStillShareOneBucket) {
  // lease = 0.5: 25 tokens a lease, so each instance's two workers cut slices of it (25 /
  // (8 x 2) = 1 token besides the request's own) and spend them without the lease book's lock.
  // The bound is that of any lease size: burst + rate x t + a lease per instance. (A bigger
  // lease admits less here: an emptied bucket is asked again only once it holds a whole lease.)
  ASSERT_TRUE(start_both(limit_table("global",
                                     "redis_timeout = \"500ms\"\n"
                                     "on_redis_error = \"deny\"",
                                     "0.5")));
  const LoadResult global = run_load(both_ports(), 2, 3s);
  std::cout << "global, leases of half the burst: " << describe(global) << "\n";
  const double bound = kBurst + kRate * global.seconds + 2 * (kBurst / 2);
  const double nominal = kBurst + kRate * 3;  // what the shared bucket grants in 3 s: 200
  EXPECT_LE(global.ok, bound) << describe(global);
  EXPECT_GE(global.ok, 0.6 * nominal) << describe(global);
  EXPECT_EQ(global.failed, 0) << describe(global);
  EXPECT_EQ(global.refused, 0) << describe(global);
  EXPECT_GT(global.limited, 0) << describe(global);
}

TEST_F(GlobalLimitTest, RedisDownTheLocalTierAnswersWithinRedisTimeoutAndTheLimitHoldsWhenBack) {
  ASSERT_TRUE(start_both(limit_table("global", "redis_timeout = \"50ms\"")));
  const LoadResult up = run_load(both_ports(), 2, 1s);
  EXPECT_LE(up.ok, kBurst + kRate * up.seconds + 2 * kLease) << describe(up);

  redis_->kill();
  const LoadResult down = run_load(both_ports(), 2, 1500ms);
  std::cout << "redis down: " << describe(down) << "\n";
  // Every request answered, none held past redis_timeout (plus a slow machine's slack), and
  // the local tier (each instance's own bucket of the same rule) lets some through.
  EXPECT_EQ(down.failed, 0) << describe(down);
  EXPECT_EQ(down.refused, 0) << describe(down);
  EXPECT_GT(down.ok, 0) << describe(down);
  EXPECT_LT(down.max_latency_ms, 50 + 250) << describe(down);
  EXPECT_GT(metric("ringproxy_redis_errors_total"), 0);

  // Back (empty: every bucket full again). Within a second the links reconnect; from then on
  // the two instances share one bucket again: at most burst + rate x t + a lease each, where
  // the local tiers alone would admit twice that.
  ASSERT_TRUE(redis_->restart());
  const auto back = Clock::now();
  const LoadResult settling = run_load(both_ports(), 2, 1s);
  EXPECT_EQ(settling.failed, 0) << describe(settling);
  ASSERT_TRUE(wait_until([&] { return ms_since(back) >= 1000; }, 2s));
  const LoadResult again = run_load(both_ports(), 2, 2s);
  std::cout << "redis back: " << describe(again) << "\n";
  EXPECT_LE(again.ok, kBurst + kRate * again.seconds + 2 * kLease) << describe(again);
  EXPECT_GE(again.ok, 0.8 * kRate * 2) << describe(again);
  EXPECT_EQ(again.failed, 0) << describe(again);
  EXPECT_NE(redis_->command({"EXISTS", "ringproxy:default:{a:127.0.0.1}"}), "");
}

TEST_F(GlobalLimitTest, RedisDownWithDenyAnswers503WithinRedisTimeoutUntilItIsBack) {
  ASSERT_TRUE(start_both(limit_table("global",
                                     "redis_timeout = \"50ms\"\n"
                                     "on_redis_error = \"deny\"")));
  redis_->kill();
  const LoadResult down = run_load({port()}, 1, 500ms);
  EXPECT_GT(down.refused, 0) << describe(down);
  EXPECT_EQ(down.failed, 0) << describe(down);
  EXPECT_LT(down.max_latency_ms, 50 + 250) << describe(down);

  ASSERT_TRUE(redis_->restart());
  auto client = connect(5s);
  ASSERT_TRUE(client);
  int status = 0;
  const auto back = Clock::now();
  EXPECT_TRUE(wait_until(
      [&] {
        status = client->get("/x").status;
        return status == 200;
      },
      1s))
      << "still " << status << " " << ms_since(back) << " ms after Redis came back";
}

TEST_F(GlobalLimitTest, RedisSlowNoRequestWaitsLongerThanRedisTimeout) {
  ASSERT_TRUE(start_both(limit_table("global",
                                     "key = \"header:X-Client\"\n"
                                     "redis_timeout = \"50ms\"")));
  auto client = connect(5s);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->get("/x", {{"X-Client", "warm"}}).status, 200);  // the link is up
  EXPECT_GT(metric("ringproxy_redis_latency_seconds_count"), 0);

  // Redis holds every command for a second (CLIENT PAUSE, in force once it answers): each new
  // client's first request waits for its lease at most redis_timeout, then the local tier
  // admits it.
  ASSERT_EQ(redis_->command({"CLIENT", "PAUSE", "1000"}), "OK");
  const auto paused = Clock::now();
  long long slowest = 0;
  for (int i = 0; i < 8; ++i) {
    const auto sent = Clock::now();
    const HttpResponse r = client->get("/x", {{"X-Client", "new-" + std::to_string(i)}});
    slowest = std::max(slowest, ms_since(sent));
    EXPECT_EQ(r.status, 200) << "request " << i;
  }
  EXPECT_LT(ms_since(paused), 1000) << "the requests did not all fall within the pause";
  EXPECT_LT(slowest, 50 + 250);
  // Redis answers again: a new client gets a lease from it.
  EXPECT_TRUE(wait_until(
      [&] {
        client->get("/x", {{"X-Client", "after"}});
        return redis_->command({"EXISTS", "ringproxy:default:{h:after}"}) == "1";
      },
      3s));
}

TEST_F(GlobalLimitTest, ReloadSwitchesScopeAndLease) {
  ASSERT_TRUE(start_both(limit_table("local")));
  auto client = connect(5s);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->get("/x").status, 200);
  EXPECT_EQ(redis_->command({"DBSIZE"}), "0");  // local: Redis untouched

  ASSERT_TRUE(proxy_->write_config(proxy_config_.replace(
      proxy_config_.find("scope = \"local\""), 15, "scope = \"global\"\nredis_timeout = \"1s\"")));
  proxy_->signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return metric("ringproxy_config_generation") == 2; }, 5s));
  EXPECT_EQ(client->get("/x").status, 200);
  EXPECT_EQ(redis_->command({"EXISTS", "ringproxy:default:{a:127.0.0.1}"}), "1");
  // The key expires when its bucket is full again (5 tokens at 50/s: 100 ms), so idle clients
  // leave Redis.
  const long long ttl =
      std::atoll(redis_->command({"PTTL", "ringproxy:default:{a:127.0.0.1}"}).c_str());
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 1001);
  // A lease of 0.1 x 50 = 5 tokens was taken: the bucket holds burst - 5.
  const long long leased = redis_->calls("evalsha") + redis_->calls("eval");
  EXPECT_GE(leased, 1);
  EXPECT_LE(leased, 2);  // the lease, and perhaps the next one asked for early
}

}  // namespace
}  // namespace ringproxy::test
