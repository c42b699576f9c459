// Backend resilience through the real server: active health checks, circuit breakers, the
// concurrency cap, retries, and the 503 a client gets when no backend can take its request.
// Users are mapped to origins with an X-User header key and the X-Origin header each origin adds.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

constexpr int kUsers = 120;

// Seconds in a Retry-After header, -1 if it is not a plain integer.
long long retry_after_of(const HttpResponse& r) {
  const std::string v = r.header("Retry-After");
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::atoll(v.c_str());
}

// The proxy in front of origins it starts per test; upstreams are written whole so that the
// [upstream.health_check] / [upstream.circuit_breaker] sub-tables can follow the backends.
class ResilienceTest : public ProxyTest {
 protected:
  std::vector<std::string> addresses_of(std::initializer_list<std::size_t> which) {
    std::vector<std::string> out;
    for (auto i : which) out.push_back(origin(i).address());
    return out;
  }
  std::vector<std::string> all_addresses() {
    std::vector<std::string> out;
    for (const auto& o : origins_) out.push_back(o->address());
    return out;
  }

  // An [[upstream]] hashed on X-User over `addresses`, with `lines` in the table and
  // `subtables` (e.g. "[upstream.health_check]\n...") after the backends.
  static std::string keyed_upstream(std::string_view name,
                                    const std::vector<std::string>& addresses,
                                    std::string_view lines, std::string_view subtables) {
    std::string extra = "hash_key = \"header:X-User\"\n";
    extra += lines;
    return upstream_toml(name, addresses, extra) + std::string(subtables) + "\n";
  }

  bool start_app(std::string_view lines, std::string_view subtables, unsigned workers = 1) {
    return start_proxy(ProxyOptions().workers(workers).only_tables(
        keyed_upstream("app", all_addresses(), lines, subtables)));
  }

  // The origin name that answered each user over one keep-alive connection; "" when the answer
  // was not a 200.
  // Users whose home (in `mapping`) is `origin_name`.
  static std::vector<int> users_of(const std::map<int, std::string>& mapping,
                                   const std::string& origin_name) {
    std::vector<int> out;
    for (const auto& [u, o] : mapping)
      if (o == origin_name) out.push_back(u);
    return out;
  }

  // Checks `during` against `before`: users homed on `gone` answered elsewhere, all others kept
  // their backend. Returns how many moved.
  static int expect_only_users_of_moved(const std::map<int, std::string>& before,
                                        const std::map<int, std::string>& during,
                                        const std::string& gone) {
    int moved = 0;
    for (const auto& [u, was] : before) {
      const std::string now = during.count(u) ? during.at(u) : "";
      EXPECT_FALSE(now.empty()) << "user " << u << " got no 200";
      if (was == gone) {
        EXPECT_NE(now, gone) << "user " << u << " still sent to " << gone;
        ++moved;
      } else {
        EXPECT_EQ(now, was) << "user " << u << " moved off live backend " << was;
      }
    }
    return moved;
  }
};

// ---------------------------------------------------------------------------------------------
// Active health checks

constexpr std::string_view kFastHealthCheck =
    "  [upstream.health_check]\n"
    "  path = \"/healthz\"\n"
    "  interval = \"200ms\"\n"
    "  timeout = \"100ms\"\n"
    "  healthy_threshold = 2\n"
    "  unhealthy_threshold = 2\n";

// The thresholds are shown by counts of the checks the origin answered, not by time: one failed
// check (unhealthy_threshold - 1) leaves the backend up, two mark it down; one pass
// (healthy_threshold - 1) leaves it down, two bring it up. A backend's checks finish in order,
// so once the origin has answered check k + 1, the proxy has recorded check k.
TEST_F(ResilienceTest, SickBackendIsMarkedDownByItsThresholdItsUsersAloneMoveAndThenReturn) {
  start_origins(4);
  OriginServer& sick = origin(1);
  ASSERT_TRUE(start_app("", kFastHealthCheck));
  const auto before = map_users(kUsers);
  std::set<std::string> used;
  for (const auto& [u, o] : before) {
    ASSERT_FALSE(o.empty()) << "user " << u;
    used.insert(o);
  }
  ASSERT_EQ(used.size(), 4u);
  ASSERT_FALSE(users_of(before, sick.name()).empty());
  EXPECT_EQ(proxy_->log_count(" is down"), 0u) << "a healthy backend was marked down";
  // Waits until `sick` has answered `more` checks after the `from`-th.
  auto checks_after = [&](std::size_t from, std::size_t more) {
    return wait_until([&] { return sick.health_checks_seen() >= from + more; }, 5s);
  };
  const std::string down_line = "backend " + sick.address() + " is down";
  const std::string up_line = "backend " + sick.address() + " is up";

  // unhealthy_threshold - 1 failures, then passes: never down.
  auto seen = sick.health_checks_seen();
  sick.script_health_checks({500});
  ASSERT_TRUE(checks_after(seen, 4));
  EXPECT_EQ(proxy_->log_count(" is down"), 0u) << "down after one failed check of two";
  // Exactly unhealthy_threshold failures, then passes: down, then up again.
  sick.script_health_checks({500, 500});
  ASSERT_TRUE(proxy_->wait_for_log(down_line, 5s)) << "not down after two failed checks";
  EXPECT_TRUE(contains(proxy_->log(), "status 500")) << "the reason names the status";
  ASSERT_TRUE(proxy_->wait_for_log(up_line, 5s));

  // Down for good: its users alone move; everyone else stays put.
  sick.set_health_status(500);
  ASSERT_TRUE(wait_until([&] { return proxy_->log_count(down_line) == 2; }, 5s));
  EXPECT_EQ(proxy_->log_count(" is down"), 2u) << "only the sick backend goes down";
  const auto during = map_users(kUsers);
  EXPECT_GT(expect_only_users_of_moved(before, during, sick.name()), 0);

  // healthy_threshold - 1 passes among failures: still down.
  seen = sick.health_checks_seen();
  sick.script_health_checks({200});
  ASSERT_TRUE(checks_after(seen, 4));
  EXPECT_EQ(proxy_->log_count(up_line), 1u) << "up after one passed check of two";
  // Exactly healthy_threshold passes: up; healthy from then on, every user is back home.
  sick.script_health_checks({200, 200});
  ASSERT_TRUE(wait_until([&] { return proxy_->log_count(up_line) == 2; }, 5s))
      << "not up after two passed checks";
  sick.set_health_status(200);
  std::map<int, std::string> after;
  EXPECT_TRUE(wait_until(
      [&] {
        after = map_users(kUsers);
        return after == before;
      },
      5s));
  EXPECT_EQ(after, before);

  // The checks came an interval apart: 200 ms with 10% jitter, never under 180 ms.
  const auto times = sick.health_check_times();
  ASSERT_GE(times.size(), 10u);
  for (std::size_t i = 1; i < times.size(); ++i) {
    const auto gap =
        std::chrono::duration_cast<std::chrono::milliseconds>(times[i] - times[i - 1]).count();
    EXPECT_GE(gap, 180) << "checks " << i - 1 << " and " << i;
  }
}

TEST_F(ResilienceTest, HealthCheckIsOneGetOfThePathWithItsUserAgentCheckedAtOnce) {
  // o0 serves the clients (upstream "app", no checks); o1 is only ever probed: it is the sole
  // backend of a second upstream that no request is routed to.
  add_origin("served");
  OriginServer& probed = add_origin("probed");
  const std::string tables = keyed_upstream("app", addresses_of({0}), "", "") +
                             keyed_upstream("probe", addresses_of({1}), "",
                                            "  [upstream.health_check]\n"
                                            "  path = \"/custom/probe-here\"\n"
                                            "  interval = \"5s\"\n"
                                            "  timeout = \"1s\"\n");
  const auto started = Clock::now();
  // Two workers: still one checker per backend for the whole process.
  ASSERT_TRUE(start_proxy(ProxyOptions().workers(2).only_tables(tables)));

  // Checked at once, long before the 5 s interval.
  ASSERT_TRUE(wait_until([&] { return probed.requests_seen() >= 1; }, 3s));
  EXPECT_LE(ms_since(started), 2500);
  const RecordedRequest check = probed.last_request();
  EXPECT_EQ(check.method, "GET");
  EXPECT_EQ(check.target, "/custom/probe-here");
  EXPECT_EQ(check.header("User-Agent"), "ringproxy-health");
  EXPECT_EQ(check.header("Host"), probed.address());

  auto client = connect();
  ASSERT_TRUE(client);
  for (int u = 0; u < 10; ++u) EXPECT_EQ(get_as(*client, u, "/c").header("X-Origin"), "served");
  std::this_thread::sleep_for(500ms);  // room for a second (wrong) checker to show up
  EXPECT_EQ(probed.requests_seen(), 1u) << "one check per interval per backend, not per worker";
  EXPECT_NE(origin(0).last_request().header("User-Agent"), "ringproxy-health");
}

TEST_F(ResilienceTest, HealthCheckExpectedStatusAndTimeoutDecide) {
  add_origin("served");
  OriginServer& wrong_status = add_origin("wrong-status");
  OriginServer& slow = add_origin("slow");
  const std::string tables = keyed_upstream("app", addresses_of({0}), "", "") +
                             keyed_upstream("strict", addresses_of({1}), "",
                                            "  [upstream.health_check]\n"
                                            "  path = \"/healthz\"\n"
                                            "  interval = \"200ms\"\n"
                                            "  timeout = \"100ms\"\n"
                                            "  healthy_threshold = 1\n"
                                            "  unhealthy_threshold = 1\n"
                                            "  expected_status = \"204\"\n") +
                             keyed_upstream("sluggish", addresses_of({2}), "",
                                            "  [upstream.health_check]\n"
                                            "  path = \"/healthz?delay_ms=400\"\n"
                                            "  interval = \"200ms\"\n"
                                            "  timeout = \"100ms\"\n"
                                            "  unhealthy_threshold = 1\n");
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(tables)));

  // 200 is outside "204": down; 204 is inside: up.
  ASSERT_TRUE(proxy_->wait_for_log("backend " + wrong_status.address() + " is down", 3s));
  EXPECT_TRUE(contains(proxy_->log(), "status 200"));
  wrong_status.set_health_status(204);
  EXPECT_TRUE(proxy_->wait_for_log("backend " + wrong_status.address() + " is up", 3s));

  // A check slower than its timeout fails.
  ASSERT_TRUE(proxy_->wait_for_log("backend " + slow.address() + " is down", 3s));
  EXPECT_TRUE(contains(proxy_->log(), "timed out after 100ms"));
  EXPECT_EQ(proxy_->log_count("backend " + origin(0).address() + " is down"), 0u);
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker

// The open time is 2 s so that the checks inside it fit on a slow (sanitizer) build.
TEST_F(ResilienceTest, BreakerTripsAfterExactlyFailureThresholdAndATrialClosesIt) {
  start_origins(3);
  ASSERT_TRUE(start_app("",
                        "  [upstream.circuit_breaker]\n"
                        "  failure_threshold = 3\n"
                        "  open_duration = \"2s\"\n"
                        "  half_open_requests = 1\n"));
  const auto before = map_users(kUsers);
  OriginServer& sick = origin(0);
  const auto homed = users_of(before, sick.name());
  ASSERT_FALSE(homed.empty());
  const int user = homed.front();
  auto client = connect();
  ASSERT_TRUE(client);

  // failure_threshold - 1 failures leave it closed; each 500 is relayed as sent, never retried.
  for (int i = 0; i < 3; ++i) {
    const auto seen = total_requests_seen();
    auto r = get_as(*client, user, "/sick?status=500");
    EXPECT_EQ(r.status, 500) << "failure " << i << ": " << r.error;
    EXPECT_EQ(r.header("X-Origin"), sick.name()) << "failure " << i << " went elsewhere";
    EXPECT_EQ(echo_line(r.body, "origin"), sick.name()) << "the origin's body, as sent";
    EXPECT_EQ(echo_line(r.body, "target"), "/sick?status=500");
    EXPECT_EQ(total_requests_seen(), seen + 1) << "a 5xx must not be retried";
  }
  const auto tripped = Clock::now();

  // Open: the user is served elsewhere, and only the sick backend's users move.
  auto r = get_as(*client, user, "/ok");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.header("X-Origin"), sick.name()) << "breaker did not open after 3 failures";
  const std::string stand_in = r.header("X-Origin");
  const auto during = map_users(kUsers);
  EXPECT_GT(expect_only_users_of_moved(before, during, sick.name()), 0);
  ASSERT_LT(ms_since(tripped), 1800) << "too slow to observe the open state";

  // It stays away for the whole open_duration...
  while (ms_since(tripped) < 1700) {
    auto probe = get_as(*client, user, "/ok");
    ASSERT_EQ(probe.status, 200);
    ASSERT_EQ(probe.header("X-Origin"), stand_in) << "back after " << ms_since(tripped) << " ms";
    std::this_thread::sleep_for(20ms);
  }
  // ...then one trial goes to it. This one fails: open again, for twice as long (4 s).
  std::this_thread::sleep_until(tripped + 2200ms);
  r = get_as(*client, user, "/sick?status=500");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.header("X-Origin"), sick.name()) << "no trial after open_duration";
  const auto reopened = Clock::now();
  r = get_as(*client, user, "/ok");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("X-Origin"), stand_in) << "a failed trial must reopen the breaker";
  while (ms_since(reopened) < 3600) {
    auto probe = get_as(*client, user, "/ok");
    ASSERT_EQ(probe.status, 200);
    ASSERT_EQ(probe.header("X-Origin"), stand_in)
        << "second open period not doubled: back after " << ms_since(reopened) << " ms";
    std::this_thread::sleep_for(20ms);
  }

  // Half-open again: one slow trial is in flight; with half_open_requests = 1 the next request
  // for the same user goes to the stand-in.
  std::this_thread::sleep_until(reopened + 4200ms);
  const auto sick_seen = sick.requests_seen();
  HttpResponse trial;
  std::thread trial_thread([&] {
    HttpClient c;
    c.set_timeout(5s);
    if (c.connect(port())) trial = get_as(c, user, "/trial?delay_ms=400");
  });
  const bool trial_arrived = wait_until([&] { return sick.requests_seen() > sick_seen; }, 2s);
  auto second = get_as(*client, user, "/ok");
  trial_thread.join();
  ASSERT_TRUE(trial_arrived) << "no trial reached the backend after the doubled open time";
  EXPECT_EQ(trial.status, 200) << trial.error;
  EXPECT_EQ(trial.header("X-Origin"), sick.name());
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.header("X-Origin"), stand_in) << "a second trial was let through";

  // The trial succeeded: closed, the user and every other one is home again, and stays.
  for (int i = 0; i < 5; ++i) {
    r = get_as(*client, user, "/ok");
    EXPECT_EQ(r.header("X-Origin"), sick.name()) << "request " << i << " after the trial";
  }
  EXPECT_EQ(map_users(kUsers), before);
  // Every transition is logged: opened (twice: the first trip and the failed trial), a trial
  // sent while half-open, and closed by the successful trial.
  EXPECT_EQ(proxy_->log_count("opened for"), 2u) << proxy_->log();
  EXPECT_GE(proxy_->log_count("is half-open: sending a trial request"), 2u);
  EXPECT_EQ(proxy_->log_count("closed: the trial succeeded"), 1u);
}

// ---------------------------------------------------------------------------------------------
// Retries

// Client threads send keep-alive requests for many users for ~2 s; one origin is stopped
// halfway. Every request must still get a 200.
void run_killed_backend_under_load(OriginServer& victim, std::uint16_t proxy_port) {
  constexpr int kThreads = 3;
  std::atomic<bool> stop{false};
  std::atomic<bool> killed{false};
  std::atomic<int> ok{0};
  std::atomic<int> ok_after_kill{0};
  std::atomic<int> failed{0};
  std::atomic<int> reconnects{0};
  std::mutex mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client;
      client.set_timeout(5s);
      if (!client.connect(proxy_port)) {
        ++failed;
        return;
      }
      for (int i = 0; !stop; ++i) {
        const int user = (t * 37 + i) % kUsers;
        auto r = client.get("/load", {{"X-User", user_name(user)}});
        if (r.status == 200) {
          ++ok;
          if (killed) ++ok_after_kill;
        } else {
          ++failed;
          std::lock_guard lock(mutex);
          if (failures.size() < 10)
            failures.push_back(user_name(user) + ": status " + std::to_string(r.status) +
                               " error \"" + r.error + "\" body \"" + r.body.substr(0, 80) + "\"");
        }
        if (!client.is_open()) {
          ++reconnects;
          if (!client.connect(proxy_port)) return;
        }
      }
    });
  }
  std::this_thread::sleep_for(1s);
  const auto victim_seen = victim.requests_seen();
  victim.stop();
  killed = true;
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& th : threads) th.join();

  EXPECT_GT(victim_seen, 0u) << "the victim had no share of the load";
  EXPECT_GT(ok_after_kill.load(), 100) << "too little load after the kill";
  EXPECT_EQ(failed.load(), 0) << "of " << ok.load() + failed.load() << " requests";
  for (const auto& f : failures) ADD_FAILURE() << f;
  EXPECT_EQ(reconnects.load(), 0) << "the proxy closed client connections";
}

TEST_F(ResilienceTest, BackendKilledUnderSteadyLoadFailsNoRequest) {
  start_origins(4);
  ASSERT_TRUE(start_app("retries = 1\n", "", 2));
  run_killed_backend_under_load(origin(2), port());
}

TEST_F(ResilienceTest, BackendKilledUnderSteadyLoadWithABreakerFailsNoRequest) {
  start_origins(4);
  ASSERT_TRUE(start_app("retries = 1\n",
                        "  [upstream.circuit_breaker]\n"
                        "  failure_threshold = 3\n"
                        "  open_duration = \"300ms\"\n",
                        2));
  run_killed_backend_under_load(origin(2), port());
}

TEST_F(ResilienceTest, ConnectFailureMovesOnOnlyWhenRetriesAllowIt) {
  // One live origin and one dead port. With retries = 0 the users homed on the dead port get
  // 502; with retries = 1 the same users are served by the live one.
  add_origin("live");
  const ReservedPort dead_port;  // refuses connections for the whole test
  const std::string dead = dead_port.address();
  auto start_with = [&](int retries) {
    return start_proxy(ProxyOptions().only_tables(keyed_upstream(
        "app", {origin(0).address(), dead}, "retries = " + std::to_string(retries) + "\n", "")));
  };
  ASSERT_TRUE(start_with(0));
  std::vector<int> stranded;  // users homed on the dead port
  {
    auto client = connect();
    ASSERT_TRUE(client);
    for (int u = 0; u < kUsers && stranded.size() < 2; ++u) {
      auto r = get_as(*client, u, "/x");
      if (r.status == 502) {
        stranded.push_back(u);
      } else {
        EXPECT_EQ(r.status, 200) << "user " << u << ": " << r.error;
      }
    }
  }
  ASSERT_EQ(stranded.size(), 2u) << "no user is homed on the dead backend";
  proxy_.reset();

  // Two retries: within the per-second floor of any retry budget.
  ASSERT_TRUE(start_with(1));
  auto client = connect();
  ASSERT_TRUE(client);
  for (int u : stranded) {
    auto r = get_as(*client, u, "/x");
    EXPECT_EQ(r.status, 200) << "user " << u << ": " << r.error;
    EXPECT_EQ(r.header("X-Origin"), "live") << "user " << u;
  }
}

TEST_F(ResilienceTest, DeadBackendWithoutBreakerOrHealthCheckCostsClientsNothing) {
  // One live origin and a dead port; retries = 1, no breaker, no health check: every request
  // homed on the dead port (about half) needs its one retry, and must get it.
  add_origin("live");
  const ReservedPort dead_port;  // refuses connections for the whole test
  const std::string dead = dead_port.address();
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(
      keyed_upstream("app", {origin(0).address(), dead}, "retries = 1\n", ""))));
  auto client = connect();
  ASSERT_TRUE(client);
  int failed = 0;
  std::string first_failure;
  constexpr int kRequests = 200;
  for (int i = 0; i < kRequests; ++i) {
    auto r = get_as(*client, i % kUsers, "/x");
    if (r.status != 200 && failed++ == 0)
      first_failure =
          "request #" + std::to_string(i) + ": status " + std::to_string(r.status) + " " + r.error;
  }
  EXPECT_EQ(failed, 0) << "of " << kRequests << " requests; the first failure: " << first_failure;
}

TEST_F(ResilienceTest, EofBeforeAnyResponseByteIsRetriedForGetOnly) {
  start_origins(2);
  ASSERT_TRUE(start_app("retries = 1\n", ""));
  auto client = connect();
  ASSERT_TRUE(client);

  // close=1: each origin reads the request and closes without a byte. GET goes on to the other
  // backend (which does the same), then 502.
  auto seen = total_requests_seen();
  auto r = get_as(*client, 7, "/x?close=1");
  EXPECT_EQ(r.status, 502) << r.error;
  EXPECT_EQ(origin(0).requests_seen(), 1u) << "GET not tried once on each backend";
  EXPECT_EQ(origin(1).requests_seen(), 1u) << "GET not tried once on each backend";
  EXPECT_EQ(total_requests_seen(), seen + 2);

  // Warm the pool so the POST goes out on a kept-alive upstream connection, then POST: it reached
  // the backend, so it must not be replayed anywhere, not even on a fresh connection.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(get_as(*client, 7, "/warm").status, 200);
  seen = total_requests_seen();
  r = client->request("POST", "/x?close=1", {{"X-User", user_name(7)}}, "");
  if (!client->is_open()) client->connect(port());
  EXPECT_EQ(r.status, 502) << r.error;
  EXPECT_EQ(total_requests_seen(), seen + 1)
      << "a POST was delivered more than once: o0 saw " << origin(0).requests_seen() << ", o1 "
      << origin(1).requests_seen() << " requests in all";
}

// ---------------------------------------------------------------------------------------------
// No backend can take the request

TEST_F(ResilienceTest, AllBreakersOpenGive503WithRetryAfterAtOnce) {
  const ReservedPort dead_a, dead_b;  // refuse connections for the whole test
  const std::vector<std::string> dead = {dead_a.address(), dead_b.address()};
  ASSERT_TRUE(
      start_proxy(ProxyOptions().only_tables(keyed_upstream("app", dead, "retries = 1\n",
                                                            "  [upstream.circuit_breaker]\n"
                                                            "  failure_threshold = 2\n"
                                                            "  open_duration = \"3s\"\n"))));
  auto client = connect();
  ASSERT_TRUE(client);
  // Each request tries both backends (home, then one retry): two requests open both breakers.
  for (int i = 0; i < 2; ++i) {
    auto r = get_as(*client, 1, "/x");
    EXPECT_EQ(r.status, 502) << "request " << i << ": " << r.error;
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client->is_open());
    const auto sent = Clock::now();
    auto r = get_as(*client, 1 + i, "/x");
    const auto took = ms_since(sent);
    EXPECT_EQ(r.status, 503) << "request " << i << ": " << r.error;
    EXPECT_LT(took, 300) << "503 took " << took << " ms (the slow request holds the slot 800 ms)";
    const auto retry_after = retry_after_of(r);
    EXPECT_GE(retry_after, 2) << "Retry-After: \"" << r.header("Retry-After") << "\"";
    EXPECT_LE(retry_after, 3) << "Retry-After: \"" << r.header("Retry-After") << "\"";
    EXPECT_TRUE(r.keep_alive);
  }
  // Retry-After counts down to the half-open time.
  std::this_thread::sleep_for(1200ms);
  auto r = get_as(*client, 1, "/x");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(retry_after_of(r), 2) << "Retry-After: \"" << r.header("Retry-After") << "\"";
}

TEST_F(ResilienceTest, AllBackendsHealthCheckedDownGive503WithRetryAfterAtOnce) {
  start_origins(2);
  for (std::size_t i = 0; i < 2; ++i) origin(i).set_health_status(503);
  ASSERT_TRUE(start_app("",
                        "  [upstream.health_check]\n"
                        "  interval = \"5s\"\n"
                        "  timeout = \"1s\"\n"
                        "  unhealthy_threshold = 1\n"));
  for (std::size_t i = 0; i < 2; ++i)
    ASSERT_TRUE(proxy_->wait_for_log("backend " + origin(i).address() + " is down", 3s));
  auto client = connect();
  ASSERT_TRUE(client);
  const auto seen = total_requests_seen();
  for (int i = 0; i < 5; ++i) {
    const auto sent = Clock::now();
    auto r = get_as(*client, i, "/x");
    const auto took = ms_since(sent);
    EXPECT_EQ(r.status, 503) << r.error;
    EXPECT_LT(took, 300) << "503 took " << took << " ms (the slow request holds the slot 800 ms)";
    EXPECT_GE(retry_after_of(r), 1) << "Retry-After: \"" << r.header("Retry-After") << "\"";
  }
  // No client request reached a backend (the next checks are 5 s away).
  EXPECT_EQ(total_requests_seen(), seen);
}

// ---------------------------------------------------------------------------------------------
// max_concurrent

constexpr std::string_view kOneAtATime =
    "  [upstream.circuit_breaker]\n"
    "  failure_threshold = 5\n"
    "  open_duration = \"10s\"\n"
    "  max_concurrent = 1\n";

TEST_F(ResilienceTest, MaxConcurrentSendsASecondRequestForTheSameUserElsewhere) {
  start_origins(3);
  ASSERT_TRUE(start_app("", kOneAtATime, 2));
  const auto before = map_users(kUsers);
  OriginServer& busy = origin(0);
  const auto homed = users_of(before, busy.name());
  ASSERT_FALSE(homed.empty());
  const int user = homed.front();

  const auto seen = busy.requests_seen();
  auto client = connect();  // before the thread: a failed ASSERT must not skip its join
  ASSERT_TRUE(client);
  std::atomic<bool> slow_done{false};
  HttpResponse slow;
  std::thread slow_thread([&] {
    HttpClient c;
    c.set_timeout(5s);
    if (c.connect(port())) slow = get_as(c, user, "/slow?delay_ms=800");
    slow_done = true;
  });
  const bool in_flight = wait_until([&] { return busy.requests_seen() > seen; }, 3s);
  auto second = get_as(*client, user, "/fast");
  const bool overlapped = !slow_done;
  slow_thread.join();
  ASSERT_TRUE(in_flight);
  ASSERT_TRUE(overlapped) << "the slow request finished first; nothing was tested";
  EXPECT_EQ(slow.status, 200) << slow.error;
  EXPECT_EQ(slow.header("X-Origin"), busy.name());
  EXPECT_EQ(second.status, 200) << second.error;
  EXPECT_NE(second.header("X-Origin"), busy.name()) << "max_concurrent = 1 let a second in";
  EXPECT_FALSE(second.header("X-Origin").empty());

  // The slot is free again: home.
  EXPECT_EQ(get_as(*client, user, "/fast").header("X-Origin"), busy.name());
}

TEST_F(ResilienceTest, MaxConcurrentCountsAResponseStillStreaming) {
  start_origins(3);
  ASSERT_TRUE(start_app("", kOneAtATime, 2));
  const auto before = map_users(kUsers);
  OriginServer& busy = origin(0);
  const auto homed = users_of(before, busy.name());
  ASSERT_FALSE(homed.empty());
  const int user = homed.front();

  // The head comes at once, the body in four 64 KiB pieces 300 ms apart: in flight ~900 ms.
  const auto seen = busy.requests_seen();
  auto client = connect();  // before the thread: a failed ASSERT must not skip its join
  ASSERT_TRUE(client);
  std::atomic<bool> slow_done{false};
  StreamResult slow;
  std::thread slow_thread([&] {
    HttpClient c;
    c.set_timeout(5s);
    if (c.connect(port()))
      slow = c.download("/drip?bytes=262144&drip_ms=300", {{"X-User", user_name(user)}});
    slow_done = true;
  });
  const bool in_flight = wait_until([&] { return busy.requests_seen() > seen; }, 3s);
  std::this_thread::sleep_for(100ms);  // let the head reach the client
  auto second = get_as(*client, user, "/fast");
  const bool overlapped = !slow_done;
  slow_thread.join();
  ASSERT_TRUE(in_flight);
  ASSERT_TRUE(overlapped) << "the streaming response finished first; nothing was tested";
  EXPECT_EQ(slow.status, 200) << slow.error;
  EXPECT_TRUE(slow.complete && slow.pattern_ok);
  EXPECT_EQ(slow.header("X-Origin"), busy.name());
  EXPECT_EQ(second.status, 200) << second.error;
  EXPECT_NE(second.header("X-Origin"), busy.name())
      << "max_concurrent = 1 let a second request in while a response was still streaming";
}

TEST_F(ResilienceTest, MaxConcurrentWithOneBackendGives503WithRetryAfter) {
  start_origins(1);
  ASSERT_TRUE(start_app("", kOneAtATime, 2));
  auto client = connect();  // before the thread: a failed ASSERT must not skip its join
  ASSERT_TRUE(client);
  std::atomic<bool> slow_done{false};
  HttpResponse slow;
  std::thread slow_thread([&] {
    HttpClient c;
    c.set_timeout(5s);
    if (c.connect(port())) slow = get_as(c, 1, "/slow?delay_ms=800");
    slow_done = true;
  });
  const bool in_flight = wait_until([&] { return origin(0).requests_seen() >= 1; }, 3s);
  const auto sent = Clock::now();
  auto second = get_as(*client, 1, "/fast");
  const auto took = ms_since(sent);
  const bool overlapped = !slow_done;
  slow_thread.join();
  ASSERT_TRUE(in_flight);
  ASSERT_TRUE(overlapped) << "the slow request finished first; nothing was tested";
  EXPECT_EQ(slow.status, 200) << slow.error;
  EXPECT_EQ(second.status, 503) << second.error;
  EXPECT_GE(retry_after_of(second), 1) << "Retry-After: \"" << second.header("Retry-After") << "\"";
  // It did not wait for the slot: answered while the slow request still held it (overlapped)
  // and sooner than the 800 ms the slot is held.
  EXPECT_LT(took, 800) << "503 took " << took << " ms (the slow request holds the slot 800 ms)";
  EXPECT_EQ(origin(0).requests_seen(), 1u);
  EXPECT_EQ(get_as(*client, 1, "/fast").status, 200) << "the slot was not given back";
}

// SPEC: a backend listed in two upstreams is two backends: each upstream's breaker settings
// apply to it there, and one upstream's open breaker does not stop the other's requests.
TEST_F(ResilienceTest, ABackendInTwoUpstreamsHasABreakerInEach) {
  start_origins(1);
  const std::string shared = origin(0).address();
  const std::string tables =
      upstream_toml("patient", {shared}) +
      "  [upstream.circuit_breaker]\n  failure_threshold = 100\n  open_duration = \"30s\"\n" +
      upstream_toml("touchy", {shared}) +
      "  [upstream.circuit_breaker]\n  failure_threshold = 1\n  open_duration = \"30s\"\n" +
      "\n[[route]]\npath_prefix = \"/touchy\"\nupstream = \"touchy\"\n" +
      "\n[[route]]\npath_prefix = \"/\"\nupstream = \"patient\"\n";
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(tables)));
  auto client = connect();
  ASSERT_TRUE(client);
  auto get = [&](std::string_view target) {
    auto r = client->get(target);
    if (!client->is_open()) client->connect(port());
    return r;
  };
  EXPECT_EQ(get("/touchy/x?status=500").status, 500);
  EXPECT_EQ(get("/touchy/y").status, 503) << "touchy's breaker did not open";
  // The log line names the upstream: the same address is a backend of both.
  EXPECT_TRUE(proxy_->wait_for_log("breaker for " + shared + " of upstream touchy opened", 2s))
      << proxy_->log();
  EXPECT_EQ(proxy_->log_count("of upstream patient opened"), 0u) << proxy_->log();
  for (int i = 0; i < 3; ++i) {
    const auto r = get("/patient/" + std::to_string(i));
    EXPECT_EQ(r.status, 200) << "touchy's open breaker leaked into patient";
  }
  // patient's failures count against its own threshold, not touchy's (already open) one.
  EXPECT_EQ(get("/patient/fail?status=500").status, 500);
  EXPECT_EQ(get("/patient/after").status, 200);
  HttpClient admin;
  ASSERT_TRUE(admin.connect(proxy_->admin_port()));
  const std::string status = admin.get("/status").body;
  EXPECT_TRUE(contains(status, "\"breaker\": \"open\"")) << status;
  EXPECT_TRUE(contains(status, "\"breaker\": \"closed\"")) << status;
}

}  // namespace
}  // namespace ringproxy::test
