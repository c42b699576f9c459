// Tests for the [rate_limit] keys of global limits: scope, redis, redis_timeout, on_redis_error,
// lease; their defaults, their errors with lines, and a route override's inheritance.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config_loader.hpp"

namespace ringproxy {
namespace {

using ::testing::ElementsAre;

const std::string kUpstream =
    "\n[[upstream]]\nname = \"app\"\nbackend = [{address = \"127.0.0.1:9001\"}]\n";

std::vector<std::string> errors_of(const std::string& text) {
  ConfigLoadResult result = load_config_text(text, "x.toml");
  std::vector<std::string> out;
  for (const auto& e : result.errors) out.push_back(e.to_string());
  return out;
}

Config load_ok(const std::string& text) {
  ConfigLoadResult result = load_config_text(text, "x.toml");
  for (const auto& e : result.errors) ADD_FAILURE() << e.to_string();
  return result.config.value_or(Config{});
}

TEST(GlobalLimitConfig, DefaultsAreLocalWithRedisOnLocalhost) {
  Config c = load_ok("[rate_limit]\nrate = 5\n" + kUpstream);
  ASSERT_TRUE(c.rate_limit);
  const GlobalLimitConfig& g = c.rate_limit->global;
  EXPECT_EQ(g.scope, LimitScope::local);
  EXPECT_EQ(g.redis, (HostPort{"127.0.0.1", 6379}));
  EXPECT_EQ(g.redis_timeout, Duration(5));
  EXPECT_EQ(g.on_redis_error, RedisErrorPolicy::allow);
  EXPECT_DOUBLE_EQ(g.lease, 0.1);
}

TEST(GlobalLimitConfig, EveryKeyAndARouteOverrideInheritsThemUnlessItSetsThem) {
  Config c = load_ok(R"([rate_limit]
scope = "global"
redis = "redis.internal:6380"
redis_timeout = "20ms"
on_redis_error = "deny"
lease = 0.25
)" + kUpstream + R"(
[[route]]
path_prefix = "/a"
upstream = "app"
rate_limit = { rate = 10.0, burst = 20 }

[[route]]
path_prefix = "/b"
upstream = "app"
rate_limit = { rate = 10.0, burst = 20, scope = "local", lease = 0.5 }
)");
  ASSERT_TRUE(c.rate_limit);
  const GlobalLimitConfig& g = c.rate_limit->global;
  EXPECT_EQ(g.scope, LimitScope::global);
  EXPECT_EQ(g.redis, (HostPort{"redis.internal", 6380}));
  EXPECT_EQ(g.redis_timeout, Duration(20));
  EXPECT_EQ(g.on_redis_error, RedisErrorPolicy::deny);
  EXPECT_DOUBLE_EQ(g.lease, 0.25);
  ASSERT_EQ(c.routes.size(), 2u);
  ASSERT_TRUE(c.routes[0].rate_limit);
  EXPECT_EQ(c.routes[0].rate_limit->global, g);
  ASSERT_TRUE(c.routes[1].rate_limit);
  EXPECT_EQ(c.routes[1].rate_limit->global.scope, LimitScope::local);
  EXPECT_DOUBLE_EQ(c.routes[1].rate_limit->global.lease, 0.5);
  EXPECT_EQ(c.routes[1].rate_limit->global.redis, g.redis);
}

TEST(GlobalLimitConfig, BadValuesAreErrorsWithTheirLines) {
  EXPECT_THAT(errors_of(R"([rate_limit]
scope = "cluster"
redis = "localhost"
redis_timeout = "0ms"
on_redis_error = "ignore"
lease = 0
)" + kUpstream),
              ElementsAre("x.toml:2: rate_limit.scope: must be \"local\" or \"global\", got "
                          "\"cluster\"",
                          "x.toml:3: rate_limit.redis: \"localhost\" has no port",
                          "x.toml:4: rate_limit.redis_timeout: must be at least 1ms, got \"0ms\"",
                          "x.toml:5: rate_limit.on_redis_error: must be \"allow\" or \"deny\", "
                          "got \"ignore\"",
                          "x.toml:6: rate_limit.lease: must be greater than 0 and at most 1, "
                          "got 0"));
  EXPECT_THAT(errors_of("[rate_limit]\nredis = \"127.0.0.1:0\"\nlease = 1.5\n" + kUpstream),
              ElementsAre("x.toml:2: rate_limit.redis: \"127.0.0.1:0\" has port 0",
                          "x.toml:3: rate_limit.lease: must be greater than 0 and at most 1, got "
                          "1.5"));
  EXPECT_THAT(errors_of("[rate_limit]\nscope = 1\n" + kUpstream),
              ElementsAre("x.toml:2: rate_limit.scope: expected a string, got an integer"));
}

TEST(GlobalLimitConfig, RouteOverrideKeysAreCheckedWithTheRouteInTheirLabel) {
  EXPECT_THAT(errors_of(kUpstream + R"(
[[route]]
upstream = "app"
rate_limit = { rate = 1.0, scope = "everywhere" }
)"),
              ElementsAre("x.toml:8: route #1: rate_limit.scope: must be \"local\" or "
                          "\"global\", got \"everywhere\""));
}

}  // namespace
}  // namespace ringproxy
