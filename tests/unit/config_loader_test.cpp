// Tests for the config loader: the demo file, defaults, every error path, line numbers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/config_loader.hpp"

namespace ringproxy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Drops the newline that follows R"( so that the first line of a literal is line 1.
std::string toml(std::string_view text) {
  if (!text.empty() && text.front() == '\n') text.remove_prefix(1);
  return std::string(text);
}

// The errors of loading text as "x.toml", as "FILE:LINE: MESSAGE" strings.
std::vector<std::string> errors_of(const std::string& text) {
  ConfigLoadResult result = load_config_text(text, "x.toml");
  std::vector<std::string> out;
  for (const auto& e : result.errors) out.push_back(e.to_string());
  EXPECT_EQ(result.config.has_value(), out.empty());
  return out;
}

// A valid upstream to append to snippets that test other tables.
const std::string kUpstream =
    "\n[[upstream]]\nname = \"app\"\nbackend = [{address = \"127.0.0.1:9001\"}]\n";

Config load_ok(const std::string& text) {
  ConfigLoadResult result = load_config_text(text, "x.toml");
  for (const auto& e : result.errors) ADD_FAILURE() << e.to_string();
  EXPECT_TRUE(result.ok());
  return result.config.value_or(Config{});
}

std::filesystem::path demo_config_path() {
  // This file is tests/unit/config_loader_test.cpp; the demo is conf/ringproxy.toml.
  auto root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  if (std::filesystem::exists(root / "conf/ringproxy.toml")) return root / "conf/ringproxy.toml";
  for (auto dir = std::filesystem::current_path(); !dir.empty(); dir = dir.parent_path()) {
    if (std::filesystem::exists(dir / "conf/ringproxy.toml")) return dir / "conf/ringproxy.toml";
    if (dir == dir.parent_path()) break;
  }
  return "conf/ringproxy.toml";
}

TEST(ConfigLoader, DemoConfigLoads) {
  std::string path = demo_config_path().string();
  ConfigLoadResult result = load_config_file(path);
  for (const auto& e : result.errors) ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(result.ok());
  const Config& c = *result.config;
  EXPECT_EQ(c.path, path);
  EXPECT_THAT(c.server.listen, ElementsAre(HostPort{"127.0.0.1", 8080}));
  EXPECT_EQ(c.server.workers, 0u);
  ASSERT_TRUE(c.admin.listen.has_value());
  EXPECT_EQ(*c.admin.listen, (HostPort{"127.0.0.1", 9901}));
  EXPECT_EQ(c.log.level, LogLevel::info);
  EXPECT_EQ(c.log.access_log, "off");
  ASSERT_EQ(c.upstreams.size(), 1u);
  EXPECT_EQ(c.upstreams[0].name, "demo");
  ASSERT_EQ(c.upstreams[0].backends.size(), 3u);
  EXPECT_EQ(c.upstreams[0].backends[0].address, (HostPort{"127.0.0.1", 9001}));
  EXPECT_EQ(c.upstreams[0].backends[1].address, (HostPort{"127.0.0.1", 9002}));
  EXPECT_EQ(c.upstreams[0].backends[2].address, (HostPort{"127.0.0.1", 9003}));
  for (const auto& b : c.upstreams[0].backends) EXPECT_EQ(b.weight, 1u);
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].path_prefix, "/");
  EXPECT_FALSE(c.routes[0].host.has_value());
  EXPECT_EQ(c.routes[0].upstream, "demo");
  EXPECT_EQ(c.routes[0].upstream_index, 0u);
}

TEST(ConfigLoader, DefaultsApplied) {
  Config c = load_ok(toml(R"(
[[upstream]]
name = "app"

  [[upstream.backend]]
  address = "10.0.0.1:80"
)"));
  EXPECT_EQ(c.path, "x.toml");
  ServerConfig server;
  EXPECT_EQ(c.server.listen, server.listen);
  EXPECT_EQ(c.server.listen, (std::vector<HostPort>{{"127.0.0.1", 8080}}));
  EXPECT_EQ(c.server.workers, 0u);
  EXPECT_EQ(c.server.max_connections, 10000u);
  EXPECT_EQ(c.server.client_header_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c.server.idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(c.server.drain_timeout, std::chrono::seconds(15));
  EXPECT_EQ(c.server.max_header_bytes, 16384u);
  EXPECT_EQ(c.server.max_body_bytes, 104857600u);
  EXPECT_TRUE(c.server.trusted_proxies.empty());
  EXPECT_EQ(c.server.request_buffer_bytes, 65536u);
  EXPECT_EQ(c.server.request_buffer_total, 67108864u);
  EXPECT_EQ(c.admin.listen, (HostPort{"127.0.0.1", 9901}));
  EXPECT_EQ(c.log.level, LogLevel::info);
  EXPECT_EQ(c.log.access_log, "stdout");
  ASSERT_EQ(c.upstreams.size(), 1u);
  const UpstreamConfig& u = c.upstreams[0];
  EXPECT_EQ(u.name, "app");
  EXPECT_EQ(u.line, 1);
  EXPECT_EQ(u.hash_key, HashKeySpec{});
  EXPECT_EQ(u.algorithm, Algorithm::ring);
  EXPECT_EQ(u.virtual_nodes, 160u);
  EXPECT_EQ(u.bounded_load, 0.0);
  EXPECT_EQ(u.connect_timeout, std::chrono::seconds(1));
  EXPECT_EQ(u.response_timeout, std::chrono::seconds(30));
  EXPECT_EQ(u.retries, 1u);
  EXPECT_EQ(u.max_idle_per_backend, UpstreamConfig::kKeepWhatLoadOpens);
  ASSERT_EQ(u.backends.size(), 1u);
  EXPECT_EQ(u.backends[0].address, (HostPort{"10.0.0.1", 80}));
  EXPECT_EQ(u.backends[0].weight, 1u);
  EXPECT_EQ(u.backends[0].line, 5);
  EXPECT_TRUE(c.routes.empty());
}

TEST(ConfigLoader, EveryKeyIsRead) {
  Config c = load_ok(toml(R"(
[server]
listen = [
  "0.0.0.0:0",
  "[::1]:8443",
]
workers = 4
max_connections = 1
client_header_timeout = "1.5s"
idle_timeout = "250ms"
drain_timeout = "2m"
max_header_bytes = 1024
max_body_bytes = 0
trusted_proxies = ["10.0.0.0/8", "::1", "192.168.1.7"]

[admin]
listen = "[::1]:0"

[log]
level = "warn"
access_log = "/var/log/ringproxy/access.log"

[[upstream]]
name = "first"
backend = [{address = "a.internal:1"}]

[[upstream]]
name = "second"
hash_key = "header:X-User-Id"
algorithm = "maglev"
virtual_nodes = 10000
bounded_load = 1.25
connect_timeout = "1h"
response_timeout = "1ms"
retries = 10
max_idle_per_backend = 0

  [[upstream.backend]]
  address = "10.0.0.1:9001"
  weight = 1000

  [[upstream.backend]]
  address = "[2001:db8::1]:65535"
  weight = 1

[[route]]
host = "API.Example.COM"
path_prefix = "/api"
upstream = "second"

[[route]]
host = "*.Example.com"
upstream = "first"

[[route]]
upstream = "second"
)"));
  EXPECT_EQ(c.server.listen, (std::vector<HostPort>{{"0.0.0.0", 0}, {"::1", 8443}}));
  EXPECT_EQ(c.server.workers, 4u);
  EXPECT_EQ(c.server.max_connections, 1u);
  EXPECT_EQ(c.server.client_header_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(c.server.idle_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(c.server.drain_timeout, std::chrono::minutes(2));
  EXPECT_EQ(c.server.max_header_bytes, 1024u);
  EXPECT_EQ(c.server.max_body_bytes, 0u);
  ASSERT_EQ(c.server.trusted_proxies.size(), 3u);
  EXPECT_EQ(c.server.trusted_proxies[0].text, "10.0.0.0/8");
  EXPECT_EQ(c.server.trusted_proxies[1].prefix_len, 128u);
  EXPECT_EQ(c.server.trusted_proxies[2].prefix_len, 32u);
  EXPECT_EQ(c.admin.listen, (HostPort{"::1", 0}));
  EXPECT_EQ(c.log.level, LogLevel::warn);
  EXPECT_EQ(c.log.access_log, "/var/log/ringproxy/access.log");
  ASSERT_EQ(c.upstreams.size(), 2u);
  const UpstreamConfig& u = c.upstreams[1];
  EXPECT_EQ(u.name, "second");
  EXPECT_EQ(u.line, 26);
  EXPECT_EQ(u.hash_key, (HashKeySpec{HashKeySpec::Kind::header, "X-User-Id"}));
  EXPECT_EQ(u.algorithm, Algorithm::maglev);
  EXPECT_EQ(u.virtual_nodes, 10000u);
  EXPECT_DOUBLE_EQ(u.bounded_load, 1.25);
  EXPECT_EQ(u.connect_timeout, std::chrono::hours(1));
  EXPECT_EQ(u.response_timeout, std::chrono::milliseconds(1));
  EXPECT_EQ(u.retries, 10u);
  EXPECT_EQ(u.max_idle_per_backend, 0u);
  ASSERT_EQ(u.backends.size(), 2u);
  EXPECT_EQ(u.backends[0].weight, 1000u);
  EXPECT_EQ(u.backends[0].line, 38);
  EXPECT_EQ(u.backends[1].address, (HostPort{"2001:db8::1", 65535}));
  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0].host, "api.example.com");
  EXPECT_EQ(c.routes[0].path_prefix, "/api");
  EXPECT_EQ(c.routes[0].upstream_index, 1u);
  EXPECT_EQ(c.routes[0].line, 45);
  EXPECT_EQ(c.routes[1].host, "*.example.com");
  EXPECT_FALSE(c.routes[1].path_prefix.has_value());
  EXPECT_EQ(c.routes[1].upstream_index, 0u);
  EXPECT_EQ(c.routes[2].upstream_index, 1u);
}

TEST(ConfigLoader, H2cIsOffByDefaultAndRead) {
  EXPECT_FALSE(load_ok(kUpstream).server.h2c);
  EXPECT_TRUE(load_ok("[server]\nh2c = true\n" + kUpstream).server.h2c);
}

TEST(ConfigLoader, EmptyAdminListenDisablesAdmin) {
  Config c = load_ok("[admin]\nlisten = \"\"\n" + kUpstream);
  EXPECT_FALSE(c.admin.listen.has_value());
}

TEST(ConfigLoader, IntegerBoundedLoadIsAccepted) {
  Config c = load_ok(toml(R"(
[[upstream]]
name = "app"
bounded_load = 2
backend = [{address = "h:1"}]
)"));
  EXPECT_EQ(c.upstreams[0].bounded_load, 2.0);
}

TEST(ConfigLoader, ReportsExactlyTheThreeErrors) {
  std::string text = toml(R"(
[server]
listn = ["127.0.0.1:8080"]

[[upstream]]
name = "app"

  [[upstream.backend]]
  address = "10.0.0.1"

[[upstream]]
name = "app"
backend = [{address = "10.0.0.2:80"}]
)");
  EXPECT_THAT(errors_of(text),
              ElementsAre("x.toml:2: server: unknown key \"listn\"",
                          "x.toml:8: upstream \"app\": backend address \"10.0.0.1\" has no port",
                          "x.toml:11: upstream \"app\": duplicate upstream name \"app\" (first at "
                          "line 5)"));
}

TEST(ConfigLoader, FileErrorsNameThePath) {
  auto dir = std::filesystem::temp_directory_path() /
             ("ringproxy_config_test_" +
              std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "x.toml").string();
  {
    std::ofstream out(path);
    out << "[[upstream]]\nname = \"app\"\n  [[upstream.backend]]\n  address = \"10.0.0.1\"\n";
  }
  ConfigLoadResult result = load_config_file(path);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(),
            path + ":4: upstream \"app\": backend address \"10.0.0.1\" has no port");
  EXPECT_EQ(result.errors[0].file, path);
  EXPECT_EQ(result.errors[0].line, 4);
  EXPECT_FALSE(result.config.has_value());

  ConfigLoadResult missing = load_config_file((dir / "missing.toml").string());
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].line, 0);
  EXPECT_EQ(missing.errors[0].to_string(),
            (dir / "missing.toml").string() + ": cannot read: No such file or directory");

  ConfigLoadResult directory = load_config_file(dir.string());
  ASSERT_EQ(directory.errors.size(), 1u);
  EXPECT_EQ(directory.errors[0].to_string(), dir.string() + ": cannot read: is a directory");
  std::filesystem::remove_all(dir);
}

TEST(ConfigError, ToString) {
  EXPECT_EQ((ConfigError{"a.toml", 3, "oops"}).to_string(), "a.toml:3: oops");
  EXPECT_EQ((ConfigError{"a.toml", 0, "oops"}).to_string(), "a.toml: oops");
}

// A document and the only error it must produce.
struct SyntaxCase {
  std::string text;
  std::string error;
};

TEST(ConfigLoader, SyntaxErrorIsTheOnlyError) {
  const SyntaxCase cases[] = {
      {"[server]\nlistn = 1\nworkers = \n",
       "x.toml:3: TOML syntax error: missing value after key-value separator '=' (expected value, "
       "but got nothing)"},
      {"[server]\nlistn = 1\n\n[admin\n",
       "x.toml:4: TOML syntax error: an invalid key appeared (is not a valid key)"},
      {"[server]\nworkers = 1\nworkers = 2\n",
       "x.toml:3: TOML syntax error: value (\"workers\") already exists (value defined twice)"},
      {"[log]\nlevel = \"info\naccess_log = \"off\"\n",
       "x.toml:2: TOML syntax error: the next token is not a valid string (here)"},
      {"a = 1\nb = 2\nc = 1979-13-01\n",
       "x.toml:3: TOML syntax error: invalid date: it does not conform RFC3339 (month should be "
       "01-12, day should be 01-28,29,30,31, depending on month/year)"},
      {"x = 1\ny = 0x\n", "x.toml:2: TOML syntax error: the next token is not an integer"},
      {"[[upstream]]\nname = \"a\"\n[upstream]\n",
       "x.toml:3: TOML syntax error: array of tables (\"upstream\") already exists (table "
       "conflicts with the previous array of table)"},
      {"[server]\nworkers = 1 2\n", ""},  // only the line matters here
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    std::vector<std::string> errors = errors_of(c.text);
    ASSERT_EQ(errors.size(), 1u);
    if (c.error.empty()) {
      EXPECT_THAT(errors[0], HasSubstr("x.toml:2: TOML syntax error"));
    } else {
      EXPECT_EQ(errors[0], c.error);
    }
  }
}

TEST(ConfigLoader, BinaryGarbageIsRefusedAsNotUtf8) {
  std::string text("\xff\xfe\x00\x01 = [[[", 9);
  std::vector<std::string> errors = errors_of(text);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("x.toml:1: not valid UTF-8"));
  // Garbage that is valid UTF-8 is a syntax error.
  errors = errors_of("= [[[ \xc3\xa9");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("x.toml:1: TOML syntax error"));
}

// A document and every error it must produce, in order.
struct ErrorCase {
  std::string name;
  std::string text;
  std::vector<std::string> errors;
};

void expect_errors(const ErrorCase& c) {
  SCOPED_TRACE(c.name + ":\n" + c.text);
  EXPECT_EQ(errors_of(c.text), c.errors);
}

TEST(ConfigLoader, HealthCheckAndBreakerAreOffByDefault) {
  Config c = load_ok(kUpstream);
  EXPECT_FALSE(c.upstreams[0].health_check.has_value());
  EXPECT_FALSE(c.upstreams[0].circuit_breaker.has_value());
}

TEST(ConfigLoader, HealthCheckAndBreakerDefaults) {
  Config c = load_ok(toml(R"(
[[upstream]]
name = "app"
backend = [{address = "h:1"}]

  [upstream.health_check]

  [upstream.circuit_breaker]
)"));
  const UpstreamConfig& u = c.upstreams[0];
  ASSERT_TRUE(u.health_check.has_value());
  EXPECT_EQ(u.health_check->path, "/healthz");
  EXPECT_EQ(u.health_check->interval, std::chrono::seconds(2));
  EXPECT_EQ(u.health_check->timeout, std::chrono::seconds(1));
  EXPECT_EQ(u.health_check->healthy_threshold, 2u);
  EXPECT_EQ(u.health_check->unhealthy_threshold, 3u);
  EXPECT_EQ(u.health_check->expected_status, (StatusRange{200, 399}));
  EXPECT_EQ(u.health_check->line, 5);
  ASSERT_TRUE(u.circuit_breaker.has_value());
  EXPECT_EQ(u.circuit_breaker->failure_threshold, 5u);
  EXPECT_EQ(u.circuit_breaker->open_duration, std::chrono::seconds(10));
  EXPECT_EQ(u.circuit_breaker->half_open_requests, 1u);
  EXPECT_EQ(u.circuit_breaker->max_concurrent, 0u);
  EXPECT_EQ(u.circuit_breaker->line, 7);
}

TEST(ConfigLoader, HealthCheckAndBreakerEveryKey) {
  Config c = load_ok(toml(R"(
[[upstream]]
name = "app"
backend = [{address = "h:1"}]

  [upstream.health_check]
  path = "/status?deep=1"
  interval = "5s"
  timeout = "5s"
  healthy_threshold = 1
  unhealthy_threshold = 1000
  expected_status = "204"

  [upstream.circuit_breaker]
  failure_threshold = 10000
  open_duration = "250ms"
  half_open_requests = 3
  max_concurrent = 1000000
)"));
  const UpstreamConfig& u = c.upstreams[0];
  ASSERT_TRUE(u.health_check.has_value());
  EXPECT_EQ(u.health_check->path, "/status?deep=1");
  EXPECT_EQ(u.health_check->interval, std::chrono::seconds(5));
  EXPECT_EQ(u.health_check->timeout, std::chrono::seconds(5));
  EXPECT_EQ(u.health_check->healthy_threshold, 1u);
  EXPECT_EQ(u.health_check->unhealthy_threshold, 1000u);
  EXPECT_EQ(u.health_check->expected_status, (StatusRange{204, 204}));
  ASSERT_TRUE(u.circuit_breaker.has_value());
  EXPECT_EQ(u.circuit_breaker->failure_threshold, 10000u);
  EXPECT_EQ(u.circuit_breaker->open_duration, std::chrono::milliseconds(250));
  EXPECT_EQ(u.circuit_breaker->half_open_requests, 3u);
  EXPECT_EQ(u.circuit_breaker->max_concurrent, 1000000u);
}

TEST(ConfigLoader, HealthCheckForms) {
  // Inline tables; an integer expected_status; a short interval alone shortens the default
  // timeout (min(1s, interval)) rather than being an error.
  Config c = load_ok(toml(R"(
[[upstream]]
name = "app"
backend = [{address = "h:1"}]
health_check = { interval = "500ms", expected_status = 200 }
circuit_breaker = { max_concurrent = 8 }
)"));
  const UpstreamConfig& u = c.upstreams[0];
  ASSERT_TRUE(u.health_check.has_value());
  EXPECT_EQ(u.health_check->interval, std::chrono::milliseconds(500));
  EXPECT_EQ(u.health_check->timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(u.health_check->expected_status, (StatusRange{200, 200}));
  EXPECT_EQ(u.health_check->line, 4);
  ASSERT_TRUE(u.circuit_breaker.has_value());
  EXPECT_EQ(u.circuit_breaker->max_concurrent, 8u);
  EXPECT_EQ(u.circuit_breaker->failure_threshold, 5u);

  Config ranges = load_ok(toml(R"(
[[upstream]]
name = "app"
backend = [{address = "h:1"}]
health_check = { expected_status = "100-599", timeout = "1500ms" }
)"));
  EXPECT_EQ(ranges.upstreams[0].health_check->expected_status, (StatusRange{100, 599}));
  EXPECT_EQ(ranges.upstreams[0].health_check->timeout, std::chrono::milliseconds(1500));
}

// An upstream whose line 5 is `line` inside its [upstream.<table>] (line 4).
std::string in_table(std::string_view table, std::string_view line) {
  return "[[upstream]]\nname = \"app\"\nbackend = [{address = \"h:1\"}]\n  [upstream." +
         std::string(table) + "]\n  " + std::string(line) + "\n";
}

TEST(ConfigLoader, HealthCheckErrors) {
  const std::string hc = "x.toml:5: upstream \"app\": health_check.";
  const std::string status_form =
      "expected_status: expected a status code or range like \"200\" or \"200-399\" (codes "
      "100-599, low <= high), got ";
  const ErrorCase cases[] = {
      {"relative path",
       in_table("health_check", "path = \"healthz\""),
       {hc + "path: must start with '/', got \"healthz\""}},
      {"empty path",
       in_table("health_check", "path = \"\""),
       {hc + "path: must start with '/', got \"\""}},
      {"path with a space",
       in_table("health_check", "path = \"/a b\""),
       {hc + "path: must not contain spaces or control characters, got \"/a b\""}},
      {"path with a newline",
       in_table("health_check", "path = \"/a\\n\""),
       {hc + "path: must not contain spaces or control characters, got \"/a\\x0a\""}},
      {"path integer",
       in_table("health_check", "path = 1"),
       {hc + "path: expected a string, got an integer"}},
      {"interval zero",
       in_table("health_check", "interval = \"0s\""),
       {hc + "interval: must be at least 1ms, got \"0s\""}},
      {"interval integer",
       in_table("health_check", "interval = 2"),
       {hc + "interval: expected a duration string like \"250ms\", \"2s\", \"1m\", got an "
             "integer"}},
      {"timeout unparsable",
       in_table("health_check", "timeout = \"1 s\""),
       {hc + "timeout: expected a duration string like \"250ms\", \"2s\", \"1m\", got \"1 s\""}},
      {"timeout over the default interval",
       in_table("health_check", "timeout = \"5s\""),
       {hc + "timeout: must not exceed interval (\"2s\"), got \"5s\""}},
      {"timeout over interval",
       in_table("health_check", "interval = \"1s\"\n  timeout = \"1001ms\""),
       {"x.toml:6: upstream \"app\": health_check.timeout: must not exceed interval (\"1s\"), got "
        "\"1001ms\""}},
      {"healthy_threshold zero",
       in_table("health_check", "healthy_threshold = 0"),
       {hc + "healthy_threshold: must be between 1 and 1000, got 0"}},
      {"unhealthy_threshold too big",
       in_table("health_check", "unhealthy_threshold = 1001"),
       {hc + "unhealthy_threshold: must be between 1 and 1000, got 1001"}},
      {"unhealthy_threshold string",
       in_table("health_check", "unhealthy_threshold = \"3\""),
       {hc + "unhealthy_threshold: expected an integer, got a string"}},
      {"status words",
       in_table("health_check", "expected_status = \"2xx\""),
       {hc + status_form + "\"2xx\""}},
      {"status reversed",
       in_table("health_check", "expected_status = \"399-200\""),
       {hc + status_form + "\"399-200\""}},
      {"status out of range",
       in_table("health_check", "expected_status = \"200-600\""),
       {hc + status_form + "\"200-600\""}},
      {"status open range",
       in_table("health_check", "expected_status = \"200-\""),
       {hc + status_form + "\"200-\""}},
      {"status list",
       in_table("health_check", "expected_status = \"200,204\""),
       {hc + status_form + "\"200,204\""}},
      {"status spaces",
       in_table("health_check", "expected_status = \"200 - 399\""),
       {hc + status_form + "\"200 - 399\""}},
      {"status integer out of range",
       in_table("health_check", "expected_status = 99"),
       {hc + "expected_status: must be a status code between 100 and 599, got 99"}},
      {"status boolean",
       in_table("health_check", "expected_status = true"),
       {hc + "expected_status: expected a status range string like \"200-399\", got a "
             "boolean"}},
      {"unknown key",
       in_table("health_check", "interva = \"1s\""),
       {"x.toml:5: upstream \"app\": health_check: unknown key \"interva\""}},
      {"not a table",
       "[[upstream]]\nname = \"app\"\nbackend = [{address = \"h:1\"}]\nhealth_check = true\n",
       {"x.toml:4: upstream \"app\": health_check: expected a table ([upstream.health_check]), "
        "got a boolean"}},
  };
  for (const auto& c : cases) expect_errors(c);
}

TEST(ConfigLoader, CircuitBreakerErrors) {
  const std::string cb = "x.toml:5: upstream \"app\": circuit_breaker.";
  const ErrorCase cases[] = {
      {"failure_threshold zero",
       in_table("circuit_breaker", "failure_threshold = 0"),
       {cb + "failure_threshold: must be between 1 and 10000, got 0"}},
      {"failure_threshold float",
       in_table("circuit_breaker", "failure_threshold = 5.0"),
       {cb + "failure_threshold: expected an integer, got a float"}},
      {"open_duration words",
       in_table("circuit_breaker", "open_duration = \"soon\""),
       {cb + "open_duration: expected a duration string like \"250ms\", \"2s\", \"1m\", got "
             "\"soon\""}},
      {"open_duration zero",
       in_table("circuit_breaker", "open_duration = \"0ms\""),
       {cb + "open_duration: must be at least 1ms, got \"0ms\""}},
      {"half_open_requests zero",
       in_table("circuit_breaker", "half_open_requests = 0"),
       {cb + "half_open_requests: must be between 1 and 10000, got 0"}},
      {"max_concurrent negative",
       in_table("circuit_breaker", "max_concurrent = -1"),
       {cb + "max_concurrent: must be between 0 and 1000000, got -1"}},
      {"unknown key",
       in_table("circuit_breaker", "failure_treshold = 3"),
       {"x.toml:5: upstream \"app\": circuit_breaker: unknown key \"failure_treshold\""}},
      {"not a table",
       "[[upstream]]\nname = \"app\"\nbackend = [{address = \"h:1\"}]\ncircuit_breaker = 5\n",
       {"x.toml:4: upstream \"app\": circuit_breaker: expected a table "
        "([upstream.circuit_breaker]), got an integer"}},
  };
  for (const auto& c : cases) expect_errors(c);
}

TEST(ConfigLoader, HealthCheckAndBreakerErrorsAreAllReported) {
  std::string text = toml(R"(
[[upstream]]
name = "app"
backend = [{address = "h:1"}]

  [upstream.health_check]
  path = "x"
  interval = "1m"
  timeout = "2m"
  healthy_threshold = -1
  expected_status = "1000"
  extra = 1

  [upstream.circuit_breaker]
  failure_threshold = 0
  open_duration = 10
  half_open_requests = 10001
  max_concurrent = 1000001
)");
  const std::string hc = "upstream \"app\": health_check";
  const std::string cb = "upstream \"app\": circuit_breaker";
  EXPECT_THAT(
      errors_of(text),
      ElementsAre(
          "x.toml:6: " + hc + ".path: must start with '/', got \"x\"",
          "x.toml:8: " + hc + ".timeout: must not exceed interval (\"1m\"), got \"2m\"",
          "x.toml:9: " + hc + ".healthy_threshold: must be between 1 and 1000, got -1",
          "x.toml:10: " + hc +
              ".expected_status: expected a status code or range like \"200\" or \"200-399\" "
              "(codes 100-599, low <= high), got \"1000\"",
          "x.toml:11: " + hc + ": unknown key \"extra\"",
          "x.toml:14: " + cb + ".failure_threshold: must be between 1 and 10000, got 0",
          "x.toml:15: " + cb +
              ".open_duration: expected a duration string like \"250ms\", \"2s\", \"1m\", got an "
              "integer",
          "x.toml:16: " + cb + ".half_open_requests: must be between 1 and 10000, got 10001",
          "x.toml:17: " + cb + ".max_concurrent: must be between 0 and 1000000, got 1000001"));
}

TEST(ConfigLoader, TypeErrors) {
  const ErrorCase cases[] = {
      {"workers string",
       "[server]\nworkers = \"two\"\n" + kUpstream,
       {"x.toml:2: server.workers: expected an integer, got a string"}},
      {"workers float",
       "[server]\nworkers = 2.0\n" + kUpstream,
       {"x.toml:2: server.workers: expected an integer, got a float"}},
      {"max_connections bool",
       "[server]\nmax_connections = true\n" + kUpstream,
       {"x.toml:2: server.max_connections: expected an integer, got a boolean"}},
      {"listen string",
       "[server]\nlisten = \"127.0.0.1:80\"\n" + kUpstream,
       {"x.toml:2: server.listen: expected an array of \"host:port\" strings, got a string"}},
      {"listen element",
       "[server]\nlisten = [\n  \"127.0.0.1:80\",\n  80,\n]\n" + kUpstream,
       {"x.toml:4: server.listen: expected \"host:port\" strings, got an integer"}},
      {"duration integer",
       "[server]\nidle_timeout = 60\n" + kUpstream,
       {"x.toml:2: server.idle_timeout: expected a duration string like \"250ms\", \"2s\", "
        "\"1m\", got an integer"}},
      {"trusted_proxies string",
       "[server]\ntrusted_proxies = \"10.0.0.0/8\"\n" + kUpstream,
       {"x.toml:2: server.trusted_proxies: expected an array of CIDR strings, got a string"}},
      {"trusted_proxies element",
       "[server]\ntrusted_proxies = [10]\n" + kUpstream,
       {"x.toml:2: server.trusted_proxies: expected CIDR strings like \"10.0.0.0/8\", got an "
        "integer"}},
      {"admin listen integer",
       "[admin]\nlisten = 9901\n" + kUpstream,
       {"x.toml:2: admin.listen: expected a string, got an integer"}},
      {"log level integer",
       "[log]\nlevel = 3\n" + kUpstream,
       {"x.toml:2: log.level: expected a string, got an integer"}},
      {"h2c string",
       "[server]\nh2c = \"yes\"\n" + kUpstream,
       {"x.toml:2: server.h2c: expected true or false, got a string"}},
      {"access_log bool",
       "[log]\naccess_log = false\n" + kUpstream,
       {"x.toml:2: log.access_log: expected a string, got a boolean"}},
      {"server not a table",
       "server = 5\n" + kUpstream,
       {"x.toml:1: server: expected a table ([server]), got an integer"}},
      {"admin not a table",
       "admin = \"127.0.0.1:1\"\n" + kUpstream,
       {"x.toml:1: admin: expected a table ([admin]), got a string"}},
      {"log not a table",
       "log = [1]\n" + kUpstream,
       {"x.toml:1: log: expected a table ([log]), got an array"}},
      {"upstream is a table",
       "[upstream]\nname = \"app\"\n",
       {"x.toml:1: upstream: expected an array of tables ([[upstream]]), got a table"}},
      {"upstream element",
       "upstream = [1]\n",
       {"x.toml:1: upstream #1: expected a table, got an integer"}},
      {"route is a table",
       kUpstream + "[route]\nupstream = \"app\"\n",
       {"x.toml:5: route: expected an array of tables ([[route]]), got a table"}},
      {"route element",
       "route = [\"app\"]\n" + kUpstream,
       {"x.toml:1: route #1: expected a table, got a string"}},
      {"upstream name integer",
       "[[upstream]]\nname = 5\nbackend = [{address = \"h:1\"}]\n",
       {"x.toml:2: upstream #1: name: expected a string, got an integer"}},
      {"hash_key array",
       "[[upstream]]\nname = \"a\"\nhash_key = []\nbackend = [{address = \"h:1\"}]\n",
       {"x.toml:3: upstream \"a\": hash_key: expected a string, got an array"}},
      {"virtual_nodes bool",
       "[[upstream]]\nname = \"a\"\nvirtual_nodes = true\nbackend = [{address = \"h:1\"}]\n",
       {"x.toml:3: upstream \"a\": virtual_nodes: expected an integer, got a boolean"}},
      {"bounded_load string",
       "[[upstream]]\nname = \"a\"\nbounded_load = \"2\"\nbackend = [{address = \"h:1\"}]\n",
       {"x.toml:3: upstream \"a\": bounded_load: expected a number, got a string"}},
      {"connect_timeout date",
       "[[upstream]]\nname = \"a\"\nconnect_timeout = 1979-05-27\nbackend = [{address = "
       "\"h:1\"}]\n",
       {"x.toml:3: upstream \"a\": connect_timeout: expected a duration string like \"250ms\", "
        "\"2s\", \"1m\", got a date"}},
      {"backend string",
       "[[upstream]]\nname = \"a\"\nbackend = \"h:1\"\n",
       {"x.toml:3: upstream \"a\": backend: expected an array of tables ([[upstream.backend]]), "
        "got a string"}},
      {"backend element",
       "[[upstream]]\nname = \"a\"\nbackend = [\"h:1\"]\n",
       {"x.toml:3: upstream \"a\": backend #1: expected a table, got a string"}},
      {"backend address integer",
       "[[upstream]]\nname = \"a\"\nbackend = [{address = 80}]\n",
       {"x.toml:3: upstream \"a\" backend #1: address: expected a \"host:port\" string, got an "
        "integer"}},
      {"weight string",
       "[[upstream]]\nname = \"a\"\n[[upstream.backend]]\naddress = \"h:1\"\nweight = \"2\"\n",
       {"x.toml:5: upstream \"a\" backend #1: weight: expected an integer, got a string"}},
      {"route host integer",
       kUpstream + "[[route]]\nupstream = \"app\"\nhost = 1\n",
       {"x.toml:7: route #1: host: expected a string, got an integer"}},
      {"route path_prefix table",
       kUpstream + "[[route]]\nupstream = \"app\"\npath_prefix = {}\n",
       {"x.toml:7: route #1: path_prefix: expected a string, got a table"}},
      {"route upstream integer",
       kUpstream + "[[route]]\nupstream = 0\n",
       {"x.toml:6: route #1: upstream: expected a string, got an integer"}},
  };
  for (const auto& c : cases) expect_errors(c);
}

TEST(ConfigLoader, ValueErrors) {
  const std::string up =
      "[[upstream]]\nname = \"a\"\nbackend = [{address = \"h:1\"}]\n";  // 3 lines
  const ErrorCase cases[] = {
      {"listen empty",
       "[server]\nlisten = []\n" + kUpstream,
       {"x.toml:2: server.listen: must not be empty"}},
      {"listen no port",
       "[server]\nlisten = [\"127.0.0.1\"]\n" + kUpstream,
       {"x.toml:2: server.listen: address \"127.0.0.1\" has no port"}},
      {"listen bad port",
       "[server]\nlisten = [\"127.0.0.1:99999\"]\n" + kUpstream,
       {"x.toml:2: server.listen: address \"127.0.0.1:99999\" has an invalid port \"99999\""}},
      {"listen unbracketed v6",
       "[server]\nlisten = [\"::1:80\"]\n" + kUpstream,
       {"x.toml:2: server.listen: address \"::1:80\" is ambiguous: IPv6 address must be in "
        "brackets, like \"[::1]:8080\""}},
      {"listen duplicate",
       "[server]\nlisten = [\"127.0.0.1:80\", \"127.0.0.1:80\"]\n" + kUpstream,
       {"x.toml:2: server.listen: duplicate address \"127.0.0.1:80\""}},
      {"workers negative",
       "[server]\nworkers = -1\n" + kUpstream,
       {"x.toml:2: server.workers: must be between 0 and 1024, got -1"}},
      {"workers huge",
       "[server]\nworkers = 100000\n" + kUpstream,
       {"x.toml:2: server.workers: must be between 0 and 1024, got 100000"}},
      {"max_connections zero",
       "[server]\nmax_connections = 0\n" + kUpstream,
       {"x.toml:2: server.max_connections: must be at least 1, got 0"}},
      {"duration malformed",
       "[server]\nidle_timeout = \"60\"\n" + kUpstream,
       {"x.toml:2: server.idle_timeout: expected a duration string like \"250ms\", \"2s\", "
        "\"1m\", got \"60\""}},
      {"duration zero",
       "[server]\ndrain_timeout = \"0s\"\n" + kUpstream,
       {"x.toml:2: server.drain_timeout: must be at least 1ms, got \"0s\""}},
      {"duration negative",
       "[server]\nclient_header_timeout = \"-1s\"\n" + kUpstream,
       {"x.toml:2: server.client_header_timeout: expected a duration string like \"250ms\", "
        "\"2s\", \"1m\", got \"-1s\""}},
      {"duration sub-ms",
       "[server]\nidle_timeout = \"0.4ms\"\n" + kUpstream,
       {"x.toml:2: server.idle_timeout: must be at least 1ms, got \"0.4ms\""}},
      {"max_header_bytes small",
       "[server]\nmax_header_bytes = 1023\n" + kUpstream,
       {"x.toml:2: server.max_header_bytes: must be at least 1024, got 1023"}},
      {"max_body_bytes negative",
       "[server]\nmax_body_bytes = -1\n" + kUpstream,
       {"x.toml:2: server.max_body_bytes: must be at least 0, got -1"}},
      {"trusted_proxies bad",
       "[server]\ntrusted_proxies = [\n  \"10.0.0.0/8\",\n  \"10.0.0.0/33\",\n  \"nope\",\n]\n" +
           kUpstream,
       {"x.toml:4: server.trusted_proxies: \"10.0.0.0/33\" has an invalid prefix length \"33\"",
        "x.toml:5: server.trusted_proxies: \"nope\" is not a valid IP address"}},
      {"admin no port",
       "[admin]\nlisten = \"localhost\"\n" + kUpstream,
       {"x.toml:2: admin.listen: address \"localhost\" has no port"}},
      {"log level",
       "[log]\nlevel = \"verbose\"\n" + kUpstream,
       {"x.toml:2: log.level: must be one of trace|debug|info|warn|error, got \"verbose\""}},
      {"log level case",
       "[log]\nlevel = \"INFO\"\n" + kUpstream,
       {"x.toml:2: log.level: must be one of trace|debug|info|warn|error, got \"INFO\""}},
      {"access_log empty",
       "[log]\naccess_log = \"\"\n" + kUpstream,
       {"x.toml:2: log.access_log: must not be empty; use \"stdout\", \"off\" or a file path"}},
      {"no upstream",
       "[server]\nworkers = 1\n",
       {"x.toml: no [[upstream]] defined; at least one is required"}},
      {"empty upstream array",
       "upstream = []\n",
       {"x.toml:1: upstream: at least one [[upstream]] is required"}},
      {"name missing",
       "[[upstream]]\nbackend = [{address = \"h:1\"}]\n",
       {"x.toml:1: upstream #1: missing required key \"name\""}},
      {"name empty",
       "[[upstream]]\nname = \"\"\nbackend = [{address = \"h:1\"}]\n",
       {"x.toml:2: upstream #1: name: must not be empty"}},
      {"hash_key unknown",
       up + "hash_key = \"ip\"\n",
       {"x.toml:4: upstream \"a\": hash_key: must be one of "
        "client_ip|uri|path|header:NAME|cookie:NAME|query:NAME, got \"ip\""}},
      {"hash_key empty header",
       up + "hash_key = \"header:\"\n",
       {"x.toml:4: upstream \"a\": hash_key: \"header:\" needs a name after the colon"}},
      {"hash_key empty cookie",
       up + "hash_key = \"cookie:\"\n",
       {"x.toml:4: upstream \"a\": hash_key: \"cookie:\" needs a name after the colon"}},
      {"hash_key empty query",
       up + "hash_key = \"query:\"\n",
       {"x.toml:4: upstream \"a\": hash_key: \"query:\" needs a name after the colon"}},
      {"hash_key bad header",
       up + "hash_key = \"header:X User\"\n",
       {"x.toml:4: upstream \"a\": hash_key: \"header:X User\" has an invalid header name \"X "
        "User\""}},
      {"hash_key case",
       up + "hash_key = \"Header:x\"\n",
       {"x.toml:4: upstream \"a\": hash_key: must be one of "
        "client_ip|uri|path|header:NAME|cookie:NAME|query:NAME, got \"Header:x\""}},
      {"algorithm",
       up + "algorithm = \"random\"\n",
       {"x.toml:4: upstream \"a\": algorithm: must be one of ring|maglev|round_robin, got "
        "\"random\""}},
      {"virtual_nodes zero",
       up + "virtual_nodes = 0\n",
       {"x.toml:4: upstream \"a\": virtual_nodes: must be between 1 and 10000, got 0"}},
      {"virtual_nodes big",
       up + "virtual_nodes = 10001\n",
       {"x.toml:4: upstream \"a\": virtual_nodes: must be between 1 and 10000, got 10001"}},
      {"bounded_load half",
       up + "bounded_load = 0.5\n",
       {"x.toml:4: upstream \"a\": bounded_load: must be 0 (off) or greater than 1.0, got 0.5"}},
      {"bounded_load one",
       up + "bounded_load = 1.0\n",
       {"x.toml:4: upstream \"a\": bounded_load: must be 0 (off) or greater than 1.0, got 1"}},
      {"bounded_load negative",
       up + "bounded_load = -2\n",
       {"x.toml:4: upstream \"a\": bounded_load: must be 0 (off) or greater than 1.0, got -2"}},
      {"bounded_load nan",
       up + "bounded_load = nan\n",
       {"x.toml:4: upstream \"a\": bounded_load: must be a finite number"}},
      {"bounded_load inf",
       up + "bounded_load = inf\n",
       {"x.toml:4: upstream \"a\": bounded_load: must be a finite number"}},
      {"connect_timeout zero",
       up + "connect_timeout = \"0ms\"\n",
       {"x.toml:4: upstream \"a\": connect_timeout: must be at least 1ms, got \"0ms\""}},
      {"response_timeout bad unit",
       up + "response_timeout = \"30sec\"\n",
       {"x.toml:4: upstream \"a\": response_timeout: expected a duration string like \"250ms\", "
        "\"2s\", \"1m\", got \"30sec\""}},
      {"retries",
       up + "retries = 11\n",
       {"x.toml:4: upstream \"a\": retries: must be between 0 and 10, got 11"}},
      {"retries negative",
       up + "retries = -1\n",
       {"x.toml:4: upstream \"a\": retries: must be between 0 and 10, got -1"}},
      {"max_idle_per_backend",
       up + "max_idle_per_backend = -1\n",
       {"x.toml:4: upstream \"a\": max_idle_per_backend: must be at least 0, got -1"}},
      {"no backends",
       "[[upstream]]\nname = \"a\"\n",
       {"x.toml:1: upstream \"a\": no backends; add at least one [[upstream.backend]]"}},
      {"empty backend array",
       "[[upstream]]\nname = \"a\"\nbackend = []\n",
       {"x.toml:3: upstream \"a\": backend: must have at least one backend"}},
      {"backend without address",
       "[[upstream]]\nname = \"a\"\n[[upstream.backend]]\nweight = 2\n",
       {"x.toml:3: upstream \"a\" backend #1: missing required key \"address\""}},
      {"backend port 0",
       "[[upstream]]\nname = \"a\"\nbackend = [{address = \"h:0\"}]\n",
       {"x.toml:3: upstream \"a\": backend address \"h:0\" has an invalid port \"0\""}},
      {"backend empty host",
       "[[upstream]]\nname = \"a\"\nbackend = [{address = \":80\"}]\n",
       {"x.toml:3: upstream \"a\": backend address \":80\" has an empty host"}},
      {"backend empty address",
       "[[upstream]]\nname = \"a\"\nbackend = [{address = \"\"}]\n",
       {"x.toml:3: upstream \"a\": backend address \"\" is empty"}},
      {"backend weight zero",
       "[[upstream]]\nname = \"a\"\n[[upstream.backend]]\naddress = \"h:1\"\nweight = 0\n",
       {"x.toml:5: upstream \"a\" backend #1: weight: must be between 1 and 1000, got 0"}},
      {"backend weight big",
       "[[upstream]]\nname = \"a\"\n[[upstream.backend]]\naddress = \"h:1\"\nweight = 1001\n",
       {"x.toml:5: upstream \"a\" backend #1: weight: must be between 1 and 1000, got 1001"}},
      {"backend weight overflow",
       "[[upstream]]\nname = \"a\"\n[[upstream.backend]]\naddress = \"h:1\"\nweight = "
       "99999999999999999999\n",
       {"x.toml:5: upstream \"a\" backend #1: weight: must be between 1 and 1000, got "
        "9223372036854775807"}},
      {"duplicate backend",
       toml(R"(
[[upstream]]
name = "a"
  [[upstream.backend]]
  address = "10.0.0.1:80"
  [[upstream.backend]]
  address = "10.0.0.2:80"
  [[upstream.backend]]
  address = "10.0.0.1:80"
)"),
       {"x.toml:8: upstream \"a\": duplicate backend address \"10.0.0.1:80\" (first at line 4)"}},
      {"duplicate backend by case",
       "[[upstream]]\nname = \"a\"\nbackend = [{address = \"Host:1\"}, {address = \"host:1\"}]\n",
       {"x.toml:3: upstream \"a\": duplicate backend address \"host:1\" (first at line 3)"}},
      {"route without upstream",
       kUpstream + "[[route]]\npath_prefix = \"/\"\n",
       {"x.toml:5: route #1: missing required key \"upstream\""}},
      {"route unknown upstream",
       kUpstream + "[[route]]\nupstream = \"ap\"\n",
       {"x.toml:6: route #1: upstream \"ap\" is not defined"}},
      {"route path without slash",
       kUpstream + "[[route]]\nupstream = \"app\"\npath_prefix = \"api\"\n",
       {"x.toml:7: route #1: path_prefix: must start with '/', got \"api\""}},
      {"route path empty",
       kUpstream + "[[route]]\nupstream = \"app\"\npath_prefix = \"\"\n",
       {"x.toml:7: route #1: path_prefix: must start with '/', got \"\""}},
      {"route path query",
       kUpstream + "[[route]]\nupstream = \"app\"\npath_prefix = \"/a?b\"\n",
       {"x.toml:7: route #1: path_prefix: must be a plain path (no spaces, '?' or '#'), got "
        "\"/a?b\""}},
      {"route host star",
       kUpstream + "[[route]]\nupstream = \"app\"\nhost = \"*\"\n",
       {"x.toml:7: route #1: host: \"*\" is not allowed; omit host to match every host"}},
      {"route host star prefix",
       kUpstream + "[[route]]\nupstream = \"app\"\nhost = \"*foo\"\n",
       {"x.toml:7: route #1: host: \"*foo\" is not a valid wildcard; use \"*.example.com\""}},
      {"route host star dot",
       kUpstream + "[[route]]\nupstream = \"app\"\nhost = \"*.\"\n",
       {"x.toml:7: route #1: host: \"*.\" is not a valid wildcard; use \"*.example.com\""}},
      {"route host inner star",
       kUpstream + "[[route]]\nupstream = \"app\"\nhost = \"a.*.com\"\n",
       {"x.toml:7: route #1: host: \"a.*.com\" is not a valid wildcard; use \"*.example.com\""}},
      {"route host empty",
       kUpstream + "[[route]]\nupstream = \"app\"\nhost = \"\"\n",
       {"x.toml:7: route #1: host: must not be empty; omit host to match every host"}},
      {"route host port",
       kUpstream + "[[route]]\nupstream = \"app\"\nhost = \"a.com:80\"\n",
       {"x.toml:7: route #1: host: \"a.com:80\" must not include a port (the Host port is "
        "ignored)"}},
      {"route host space",
       kUpstream + "[[route]]\nupstream = \"app\"\nhost = \"a b\"\n",
       {"x.toml:7: route #1: host: \"a b\" is not a valid host name"}},
      {"route host bad v6",
       kUpstream + "[[route]]\nupstream = \"app\"\nhost = \"[nope]\"\n",
       {"x.toml:7: route #1: host: \"[nope]\" is not a valid host"}},
  };
  for (const auto& c : cases) expect_errors(c);
}

TEST(ConfigLoader, UnknownKeysAtEveryLevel) {
  std::string text = toml(R"(
lisen = 1
[server]
listn = []
[admin]
port = 9901
[log]
file = "x"
[[upstream]]
name = "app"
weight = 3
  [[upstream.backend]]
  address = "h:1"
  wieght = 2
[[route]]
upstream = "app"
prefix = "/"
extra = { a = 1 }
)");
  EXPECT_THAT(
      errors_of(text),
      ElementsAre("x.toml:1: unknown top-level key \"lisen\"",
                  "x.toml:3: server: unknown key \"listn\"",
                  "x.toml:5: admin: unknown key \"port\"", "x.toml:7: log: unknown key \"file\"",
                  "x.toml:10: upstream \"app\": unknown key \"weight\"",
                  "x.toml:13: upstream \"app\" backend #1: unknown key \"wieght\"",
                  "x.toml:16: route #1: unknown key \"prefix\"",
                  "x.toml:17: route #1: unknown key \"extra\""));
}

TEST(ConfigLoader, UnknownSubtablesAreErrors) {
  std::string text = toml(R"(
[server.tls]
cert = "x"
[[upstream]]
name = "app"
backend = [{address = "h:1"}]
  [upstream.tls_options]
  verify = true
)");
  EXPECT_THAT(errors_of(text),
              ElementsAre("x.toml:1: server: unknown key \"tls\"",
                          "x.toml:6: upstream \"app\": unknown key \"tls_options\""));
}

TEST(ConfigLoader, CollectsEveryErrorSortedByLine) {
  std::string text = toml(R"(
[server]
workers = -1
idle_timeout = "soon"

[log]
level = "loud"

[[upstream]]
name = "a"
virtual_nodes = 0

[[upstream]]
name = "b"
backend = [{address = "h"}, {address = "h:1", weight = 0}]

[[route]]
upstream = "c"

[rate_limit]
rate = 0.0
)");
  EXPECT_THAT(
      errors_of(text),
      ElementsAre(
          "x.toml:2: server.workers: must be between 0 and 1024, got -1",
          "x.toml:3: server.idle_timeout: expected a duration string like \"250ms\", \"2s\", "
          "\"1m\", got \"soon\"",
          "x.toml:6: log.level: must be one of trace|debug|info|warn|error, got \"loud\"",
          "x.toml:8: upstream \"a\": no backends; add at least one [[upstream.backend]]",
          "x.toml:10: upstream \"a\": virtual_nodes: must be between 1 and 10000, got 0",
          "x.toml:14: upstream \"b\": backend address \"h\" has no port",
          "x.toml:14: upstream \"b\" backend #2: weight: must be between 1 and 1000, got 0",
          "x.toml:17: route #1: upstream \"c\" is not defined",
          "x.toml:20: rate_limit.rate: must be greater than 0, got 0"));
}

TEST(ConfigLoader, EmptyDocumentNeedsAnUpstream) {
  EXPECT_THAT(errors_of(""),
              ElementsAre("x.toml: no [[upstream]] defined; at least one is required"));
  EXPECT_THAT(errors_of("# only a comment\n"),
              ElementsAre("x.toml: no [[upstream]] defined; at least one is required"));
}

TEST(ConfigLoader, RoutesResolveUpstreamIndices) {
  Config c = load_ok(toml(R"(
[[upstream]]
name = "a"
backend = [{address = "h:1"}]
[[upstream]]
name = "b"
backend = [{address = "h:2"}]
[[upstream]]
name = "c"
backend = [{address = "h:3"}]
[[route]]
upstream = "c"
[[route]]
upstream = "a"
[[route]]
upstream = "b"
host = "[::1]"
)"));
  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0].upstream_index, 2u);
  EXPECT_EQ(c.routes[1].upstream_index, 0u);
  EXPECT_EQ(c.routes[2].upstream_index, 1u);
  EXPECT_EQ(c.routes[2].host, "[::1]");
  EXPECT_EQ(c.routes[0].line, 10);
}

// Parsed once, into its type: the request path never parses it again.
TEST(ConfigLoader, HashKeyForms) {
  using K = HashKeySpec::Kind;
  const std::pair<const char*, HashKeySpec> forms[] = {
      {"client_ip", {K::client_ip, ""}},
      {"uri", {K::uri, ""}},
      {"path", {K::path, ""}},
      {"header:X-Api-Key", {K::header, "X-Api-Key"}},
      {"cookie:session", {K::cookie, "session"}},
      {"query:user_id", {K::query, "user_id"}},
      {"query:user%20id", {K::query, "user%20id"}},  // as a URL carries it, compared raw
  };
  for (const auto& [text, spec] : forms) {
    SCOPED_TRACE(text);
    Config c = load_ok(std::string("[[upstream]]\nname = \"a\"\nhash_key = \"") + text +
                       "\"\nbackend = [{address = \"h:1\"}]\n");
    EXPECT_EQ(c.upstreams.at(0).hash_key, spec);
    EXPECT_EQ(c.upstreams.at(0).hash_key.to_string(), text);
  }
}

// A NAME no request can carry raw is refused with its line (never a silent fallback to the
// client address on every request).
TEST(ConfigLoader, HashKeyNamesARequestCannotCarryAreRefused) {
  const std::string up = "[[upstream]]\nname = \"a\"\nbackend = [{address = \"h:1\"}]\n";
  for (const char* text : {"query:user id", "query:a&b", "query:a=b", "query:a#b", "query:%2",
                           "query:%zz", "cookie:a;b", "cookie:a b", "header:X\\tY"}) {
    SCOPED_TRACE(text);
    auto r = load_config_text(up + "hash_key = \"" + text + "\"\n", "x.toml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].line, 4);
    EXPECT_NE(r.errors[0].message.find("hash_key: \""), std::string::npos) << r.errors[0].message;
  }
}

TEST(ConfigLoader, DottedKeysWork) {
  Config c = load_ok("server.workers = 3\nlog.level = \"debug\"\n" + kUpstream);
  EXPECT_EQ(c.server.workers, 3u);
  EXPECT_EQ(c.log.level, LogLevel::debug);
}

TEST(ConfigLoader, ErrorsQuoteControlCharacters) {
  EXPECT_THAT(errors_of("[log]\nlevel = \"a\\n\\\"b\"\n" + kUpstream),
              ElementsAre("x.toml:2: log.level: must be one of trace|debug|info|warn|error, got "
                          "\"a\\x0a\\\"b\""));
}

// One duration string and its value in milliseconds (nullopt when refused).
struct DurationCase {
  std::string text;
  std::optional<std::int64_t> ms;
};

TEST(ParseDuration, Table) {
  const DurationCase cases[] = {
      {"250ms", 250},
      {"2s", 2000},
      {"1m", 60000},
      {"1h", 3600000},
      {"0s", 0},
      {"1.5s", 1500},
      {"0.25m", 15000},
      {"1.0005s", 1001},  // rounded to the nearest millisecond
      {"1.0004s", 1000},
      {"0.4ms", 0},
      {"0.5ms", 1},
      {"1.1234567891234s", 1123},
      {"007s", 7000},
      {"2562047788015h", 9223372036854000000},
      {"", std::nullopt},
      {"s", std::nullopt},
      {"10", std::nullopt},
      {"-1s", std::nullopt},
      {"+1s", std::nullopt},
      {".5s", std::nullopt},
      {"1.s", std::nullopt},
      {"1..5s", std::nullopt},
      {"1 s", std::nullopt},
      {" 1s", std::nullopt},
      {"1s ", std::nullopt},
      {"1S", std::nullopt},
      {"1sec", std::nullopt},
      {"1d", std::nullopt},
      {"1us", std::nullopt},
      {"1m30s", std::nullopt},
      {"1e3ms", std::nullopt},
      {"2562047788016h", std::nullopt},
      {"99999999999999999999ms", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto d = parse_duration(c.text);
    ASSERT_EQ(d.has_value(), c.ms.has_value());
    if (d) {
      EXPECT_EQ(d->count(), *c.ms);
    }
  }
}

TEST(ConfigLoader, NoRateLimitByDefault) {
  Config c = load_ok(kUpstream + "[[route]]\nupstream = \"app\"\n");
  EXPECT_FALSE(c.rate_limit.has_value());
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].rate_limit_mode, RouteRateLimit::inherit);
  EXPECT_FALSE(c.routes[0].rate_limit.has_value());
}

TEST(ConfigLoader, RateLimitEveryKey) {
  Config c = load_ok(toml(R"(
[rate_limit]
key = "header:X-Api-Key"
rate = 0.5
burst = 3
max_clients = 10

[[upstream]]
name = "app"
backend = [{address = "h:1"}]

[[route]]
path_prefix = "/inherit"
upstream = "app"

[[route]]
path_prefix = "/off"
upstream = "app"
rate_limit = "off"

[[route]]
path_prefix = "/override"
upstream = "app"
rate_limit = { rate = 10.0, burst = 20 }

[[route]]
path_prefix = "/own-key"
upstream = "app"
rate_limit = { key = "client_ip", rate = 2, burst = 1, max_clients = 5 }

[[route]]
path_prefix = "/table"
upstream = "app"
  [route.rate_limit]
  burst = 7
)"));
  ASSERT_TRUE(c.rate_limit.has_value());
  EXPECT_EQ(c.rate_limit->key.to_string(), "header:X-Api-Key");
  EXPECT_DOUBLE_EQ(c.rate_limit->rate, 0.5);
  EXPECT_EQ(c.rate_limit->burst, 3u);
  EXPECT_EQ(c.rate_limit->max_clients, 10u);
  EXPECT_EQ(c.rate_limit->line, 1);
  ASSERT_EQ(c.routes.size(), 5u);

  EXPECT_EQ(c.routes[0].rate_limit_mode, RouteRateLimit::inherit);
  EXPECT_FALSE(c.routes[0].rate_limit.has_value());
  EXPECT_EQ(c.routes[1].rate_limit_mode, RouteRateLimit::off);
  EXPECT_FALSE(c.routes[1].rate_limit.has_value());

  EXPECT_EQ(c.routes[2].rate_limit_mode, RouteRateLimit::override);
  ASSERT_TRUE(c.routes[2].rate_limit.has_value());
  const RateLimitConfig& o = *c.routes[2].rate_limit;
  EXPECT_EQ(o.key.to_string(), "header:X-Api-Key");  // inherited
  EXPECT_DOUBLE_EQ(o.rate, 10.0);
  EXPECT_EQ(o.burst, 20u);
  EXPECT_EQ(o.max_clients, 1000000u);  // its own default, not the default rule's
  EXPECT_EQ(o.line, 23);

  ASSERT_TRUE(c.routes[3].rate_limit.has_value());
  const RateLimitConfig& k = *c.routes[3].rate_limit;
  EXPECT_EQ(k.key, RateLimitKey{});
  EXPECT_DOUBLE_EQ(k.rate, 2.0);  // an integer rate is accepted
  EXPECT_EQ(k.burst, 1u);
  EXPECT_EQ(k.max_clients, 5u);
  EXPECT_EQ(k.line, 28);

  ASSERT_TRUE(c.routes[4].rate_limit.has_value());
  const RateLimitConfig& t = *c.routes[4].rate_limit;
  EXPECT_EQ(t.key, RateLimitKey{"X-Api-Key"});
  EXPECT_DOUBLE_EQ(t.rate, 100.0);
  EXPECT_EQ(t.burst, 7u);
}

TEST(ConfigLoader, RateLimitDefaults) {
  Config c = load_ok("[rate_limit]\n" + kUpstream +
                     "[[route]]\nupstream = \"app\"\nrate_limit = { burst = 5 }\n");
  ASSERT_TRUE(c.rate_limit.has_value());
  RateLimitConfig defaults;
  EXPECT_EQ(c.rate_limit->key, RateLimitKey{});
  EXPECT_DOUBLE_EQ(c.rate_limit->rate, 100.0);
  EXPECT_EQ(c.rate_limit->burst, 200u);
  EXPECT_EQ(c.rate_limit->max_clients, 1000000u);
  EXPECT_EQ(defaults.rate, c.rate_limit->rate);
  ASSERT_TRUE(c.routes[0].rate_limit.has_value());
  EXPECT_EQ(c.routes[0].rate_limit->key, RateLimitKey{});
  EXPECT_EQ(c.routes[0].rate_limit->burst, 5u);
}

TEST(ConfigLoader, RouteOverrideWithoutDefaultKeysOnClientIp) {
  Config c = load_ok(kUpstream + "[[route]]\nupstream = \"app\"\nrate_limit = { rate = 1.5 }\n");
  EXPECT_FALSE(c.rate_limit.has_value());
  ASSERT_TRUE(c.routes[0].rate_limit.has_value());
  EXPECT_EQ(c.routes[0].rate_limit_mode, RouteRateLimit::override);
  EXPECT_EQ(c.routes[0].rate_limit->key, RateLimitKey{});
  EXPECT_DOUBLE_EQ(c.routes[0].rate_limit->rate, 1.5);
}

TEST(ConfigLoader, RateLimitErrors) {
  const std::string route = "[[route]]\nupstream = \"app\"\n";  // lines 5-6 after kUpstream
  const ErrorCase cases[] = {
      {"not a table",
       "rate_limit = 5\n" + kUpstream,
       {"x.toml:1: rate_limit: expected a table ([rate_limit]), got an integer"}},
      {"rate zero",
       "[rate_limit]\nrate = 0\n" + kUpstream,
       {"x.toml:2: rate_limit.rate: must be greater than 0, got 0"}},
      {"rate negative",
       "[rate_limit]\nrate = -2.5\n" + kUpstream,
       {"x.toml:2: rate_limit.rate: must be greater than 0, got -2.5"}},
      {"rate nan",
       "[rate_limit]\nrate = nan\n" + kUpstream,
       {"x.toml:2: rate_limit.rate: must be a finite number"}},
      {"rate huge",
       "[rate_limit]\nrate = 1e10\n" + kUpstream,
       {"x.toml:2: rate_limit.rate: must be at most 1e+09, got 1e+10"}},
      {"rate string",
       "[rate_limit]\nrate = \"10/s\"\n" + kUpstream,
       {"x.toml:2: rate_limit.rate: expected a number, got a string"}},
      {"burst zero",
       "[rate_limit]\nburst = 0\n" + kUpstream,
       {"x.toml:2: rate_limit.burst: must be between 1 and 1000000000, got 0"}},
      {"burst float",
       "[rate_limit]\nburst = 2.5\n" + kUpstream,
       {"x.toml:2: rate_limit.burst: expected an integer, got a float"}},
      {"max_clients zero",
       "[rate_limit]\nmax_clients = 0\n" + kUpstream,
       {"x.toml:2: rate_limit.max_clients: must be at least 1, got 0"}},
      {"key unknown",
       "[rate_limit]\nkey = \"uri\"\n" + kUpstream,
       {"x.toml:2: rate_limit.key: must be one of client_ip|header:NAME, got \"uri\""}},
      {"key header without name",
       "[rate_limit]\nkey = \"header:\"\n" + kUpstream,
       {"x.toml:2: rate_limit.key: \"header:\" needs a name after the colon"}},
      {"key bad header name",
       "[rate_limit]\nkey = \"header:X Api\"\n" + kUpstream,
       {"x.toml:2: rate_limit.key: \"header:X Api\" has an invalid header name \"X Api\""}},
      {"key integer",
       "[rate_limit]\nkey = 1\n" + kUpstream,
       {"x.toml:2: rate_limit.key: expected a string, got an integer"}},
      {"window over a year",
       "[rate_limit]\nburst = 100\nrate = 0.000001\n" + kUpstream,
       {"x.toml:3: rate_limit: burst / rate must be at most 31536000 seconds (365 days) for an "
        "empty bucket to refill, got 1e+08"}},
      {"unknown key",
       "[rate_limit]\nrate = 1\nbrust = 5\n" + kUpstream,
       {"x.toml:3: rate_limit: unknown key \"brust\""}},
      {"route rate_limit bad string",
       kUpstream + route + "rate_limit = \"on\"\n",
       {"x.toml:7: route #1: rate_limit: must be \"off\" or a table like { rate = 10.0, burst = "
        "20 }, got \"on\""}},
      {"route rate_limit integer",
       kUpstream + route + "rate_limit = 10\n",
       {"x.toml:7: route #1: rate_limit: expected \"off\" or a table like { rate = 10.0, burst = "
        "20 }, got an integer"}},
      {"route rate_limit bad values",
       kUpstream + route + "rate_limit = { rate = -1, burst = 0, key = \"cookie:a\", x = 1 }\n",
       {"x.toml:7: route #1: rate_limit.key: must be one of client_ip|header:NAME, got "
        "\"cookie:a\"",
        "x.toml:7: route #1: rate_limit.rate: must be greater than 0, got -1",
        "x.toml:7: route #1: rate_limit.burst: must be between 1 and 1000000000, got 0",
        "x.toml:7: route #1: rate_limit: unknown key \"x\""}},
      {"route rate_limit sub-table lines",
       kUpstream + route + "  [route.rate_limit]\n  rate = 1\n  max_clients = -5\n",
       {"x.toml:9: route #1: rate_limit.max_clients: must be at least 1, got -5"}},
      {"route rate_limit window",
       kUpstream + route + "rate_limit = { rate = 0.000001 }\n",
       {"x.toml:7: route #1: rate_limit: burst / rate must be at most 31536000 seconds (365 "
        "days) for an empty bucket to refill, got 2e+08"}},
  };
  for (const auto& c : cases) expect_errors(c);
}

TEST(ConfigLoader, InvalidUtf8IsRefusedWithItsLine) {
  const std::string text =
      "[server]\nlisten = [\"127.0.0.1:8080\"]\n# caf\xc3\xa9 is fine\n"
      "[log]\nlevel = 'in\xdf"
      "fo'\n";
  auto r = load_config_text(text, "bad.toml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 5);
  EXPECT_NE(r.errors[0].to_string().find("bad.toml:5: not valid UTF-8"), std::string::npos)
      << r.errors[0].to_string();
  // Overlong forms, surrogates, NUL and a sequence cut off by the end are refused too.
  for (std::string bad : {std::string("a = '\xc0\xaf'"), std::string("a = '\xed\xa0\x80'"),
                          std::string("a = 1\0"), std::string("a = '\xe2\x82")}) {
    EXPECT_FALSE(load_config_text(bad, "x.toml").ok()) << bad;
  }
}

TEST(ConfigLoader, RequestBufferKeys) {
  Config c = load_ok(toml(R"(
[server]
request_buffer_bytes = 0
request_buffer_total = 1048576

[[upstream]]
name = "app"
backend = [{address = "127.0.0.1:9001"}]

[[route]]
path_prefix = "/upload"
upstream = "app"
request_buffer_bytes = 4096

[[route]]
upstream = "app"
)"));
  EXPECT_EQ(c.server.request_buffer_bytes, 0u);
  EXPECT_EQ(c.server.request_buffer_total, 1048576u);
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.routes[0].request_buffer_bytes, std::optional<std::size_t>(4096));
  EXPECT_EQ(c.routes[1].request_buffer_bytes, std::nullopt);

  EXPECT_THAT(errors_of("[server]\nrequest_buffer_bytes = -1\n" + kUpstream),
              ElementsAre("x.toml:2: server.request_buffer_bytes: must be at least 0, got -1"));
  EXPECT_THAT(errors_of("[server]\nrequest_buffer_total = \"64M\"\n" + kUpstream),
              ElementsAre("x.toml:2: server.request_buffer_total: expected an integer, got a "
                          "string"));
  EXPECT_THAT(errors_of(kUpstream + "[[route]]\nupstream = \"app\"\nrequest_buffer_bytes = -5\n"),
              ElementsAre("x.toml:7: route #1: request_buffer_bytes: must be at least 0, got -5"));
  EXPECT_THAT(
      errors_of(kUpstream + "[[route]]\nupstream = \"app\"\nrequest_buffer_bytes = 1.5\n"),
      ElementsAre("x.toml:7: route #1: request_buffer_bytes: expected an integer, got a float"));
}

TEST(ConfigLoader, FuzzFoundToml11OverreadIsRefusedCleanly) {
  // fuzz/corpus/config/crash-toml11-literal-string: invalid UTF-8 inside a literal string made
  // toml11 3.7.1 read past its buffer.
  const std::string text =
      "\n[[upstream]]\nname = \"app\"\nbalev------el = 'l = idle_timeoutf\xdf"
      "ffffffffffffffffv-------el = 'l = idle_timeoutf\xdf"
      "f000ms\", eppax_cYn"
      "current = 8 }\n";
  auto r = load_config_text(text, "crash.toml");
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace ringproxy
