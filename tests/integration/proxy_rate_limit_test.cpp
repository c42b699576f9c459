// Per-client rate limiting through the real proxy: token buckets keyed by client address
// (loopback source addresses 127.0.0.2 / 127.0.0.3), by X-Forwarded-For from trusted proxies
// only, or by a header; the 429 answer and its Retry-After / RateLimit-Policy / RateLimit
// fields; refill; route overrides with their own buckets, "off", and the default's buckets
// shared across routes. A refused request never reaches the origin.
//
// Slow rates (0.5/s: one token per 2 s) keep buckets from refilling while a test runs; the
// refill test uses 5/s and polls.

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// One Structured Field List member of the rate limit fields: `"name";k=INT;k=INT`.
struct SfItem {
  std::string name;
  std::map<std::string, long long> params;
  long long param(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? -1 : it->second;
  }
};

// Parses `"name";a=1;b=2` strictly (no other members, no other parameter types).
std::optional<SfItem> parse_item(std::string_view v) {
  SfItem item;
  if (v.size() < 2 || v[0] != '"') return std::nullopt;
  std::size_t close = v.find('"', 1);
  if (close == std::string_view::npos) return std::nullopt;
  item.name = std::string(v.substr(1, close - 1));
  std::size_t at = close + 1;
  while (at < v.size()) {
    if (v[at] != ';') return std::nullopt;
    std::size_t eq = v.find('=', at);
    if (eq == std::string_view::npos) return std::nullopt;
    std::string key(v.substr(at + 1, eq - at - 1));
    std::size_t end = eq + 1;
    while (end < v.size() && std::isdigit(static_cast<unsigned char>(v[end]))) ++end;
    if (end == eq + 1 || key.empty() || item.params.contains(key)) return std::nullopt;
    item.params[key] = std::stoll(std::string(v.substr(eq + 1, end - eq - 1)));
    at = end;
  }
  return item;
}

// Parses Retry-After as delay-seconds (-1 when it is not a plain non-negative integer).
long long retry_after_seconds(const std::string& v) {
  if (v.empty() || v.size() > 15) return -1;
  for (char c : v)
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
  return std::stoll(v);
}

// The `r` of a response's RateLimit field (-1 when absent or malformed).
long long remaining_of(const HttpResponse& r) {
  auto item = parse_item(r.header("RateLimit"));
  return item ? item->param("r") : -1;
}

// [rate_limit] with the given lines, then upstream "app" over origin 0, then `routes`.
class RateLimitTest : public ProxyTest {
 protected:
  bool start(std::string_view rate_limit_lines, std::string_view routes = "",
             std::string_view server_lines = "") {
    start_origins(1);
    std::string tables;
    if (!rate_limit_lines.empty())
      tables += "[rate_limit]\n" + std::string(rate_limit_lines) + "\n";
    tables += upstream_toml("app", {origin().address()});
    tables += routes;
    ProxyOptions options;
    options.only_tables(tables);
    if (!server_lines.empty()) options.server(server_lines);
    return start_proxy(options);
  }

  // A client connected from `source_ip` (a loopback address), or nullptr.
  std::unique_ptr<HttpClient> client_from(const std::string& source_ip) {
    auto client = std::make_unique<HttpClient>();
    client->set_timeout(5s);
    if (!client->connect(port(), "127.0.0.1", source_ip)) {
      ADD_FAILURE() << "connect from " << source_ip << " failed: " << client->last_error();
      return nullptr;
    }
    return client;
  }

  // GET `target` on `client`, reconnecting from `source_ip` first when the last response closed
  // the connection (that should not happen here; callers check keep_alive where it matters).
  HttpResponse get(HttpClient& client, const std::string& source_ip, const std::string& target,
                   const HeaderList& headers = {}) {
    if (!client.is_open() && !client.connect(port(), "127.0.0.1", source_ip)) {
      HttpResponse failed;
      failed.error = "reconnect failed: " + client.last_error();
      return failed;
    }
    auto r = client.get(target, headers);
    if (!r.keep_alive) client.close();
    return r;
  }
};

// Describes a response for failure messages.
std::string describe(const HttpResponse& r) {
  return std::to_string(r.status) + (r.error.empty() ? "" : " (" + r.error + ")") +
         " RateLimit-Policy=[" + r.header("RateLimit-Policy") + "] RateLimit=[" +
         r.header("RateLimit") + "] Retry-After=[" + r.header("Retry-After") + "]";
}

TEST_F(RateLimitTest, ClientsOnDifferentAddressesAreLimitedIndependently) {
  ASSERT_TRUE(start("rate = 0.5\nburst = 3"));  // no routes: the default applies to everything
  auto a = client_from("127.0.0.2");
  auto b = client_from("127.0.0.3");
  ASSERT_TRUE(a && b);

  for (int i = 0; i < 3; ++i) {
    auto r = get(*a, "127.0.0.2", "/a" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << "request " << i << ": " << describe(r);
    EXPECT_EQ(echo_line(r.body, "target"), "/a" + std::to_string(i));
  }
  auto refused = get(*a, "127.0.0.2", "/a3");
  EXPECT_EQ(refused.status, 429) << describe(refused);
  EXPECT_EQ(origin().requests_seen(), 3u);

  // 127.0.0.3 has its own full bucket: three allowed, then refused too.
  for (int i = 0; i < 3; ++i) {
    auto r = get(*b, "127.0.0.3", "/b" + std::to_string(i));
    EXPECT_EQ(r.status, 200) << "request " << i << ": " << describe(r);
  }
  EXPECT_EQ(get(*b, "127.0.0.3", "/b3").status, 429);
  // And 127.0.0.2 is still refused, on a new connection as well (the key is the address).
  EXPECT_EQ(get(*a, "127.0.0.2", "/a4").status, 429);
  auto a2 = client_from("127.0.0.2");
  ASSERT_TRUE(a2);
  EXPECT_EQ(get(*a2, "127.0.0.2", "/a5").status, 429);
  EXPECT_EQ(origin().requests_seen(), 6u);
}

TEST_F(RateLimitTest, TooManyRequestsCarriesRetryAfterAndRateLimitFields) {
  // One token per 2 s, two at most: the window w is ceil(2 / 0.5) = 4 s.
  ASSERT_TRUE(start("rate = 0.5\nburst = 2"));
  auto c = client_from("127.0.0.2");
  ASSERT_TRUE(c);

  // Allowed responses carry both fields, r counting down.
  long long previous_t = 0;
  for (long long expected_r : {1, 0}) {
    auto r = get(*c, "127.0.0.2", "/ok");
    ASSERT_EQ(r.status, 200) << describe(r);
    EXPECT_EQ(r.header("RateLimit-Policy"), "\"default\";q=2;w=4");
    EXPECT_EQ(r.header_count("RateLimit-Policy"), 1u);
    EXPECT_EQ(r.header_count("RateLimit"), 1u);
    EXPECT_TRUE(r.header("Retry-After").empty()) << describe(r);
    auto limit = parse_item(r.header("RateLimit"));
    ASSERT_TRUE(limit) << describe(r);
    EXPECT_EQ(limit->name, "default");
    EXPECT_EQ(limit->param("r"), expected_r) << describe(r);
    // t: seconds until the bucket is full again; 2 s per token taken.
    EXPECT_GE(limit->param("t"), 1) << describe(r);
    EXPECT_LE(limit->param("t"), 4) << describe(r);
    EXPECT_GE(limit->param("t"), previous_t) << describe(r);
    previous_t = limit->param("t");
  }
  EXPECT_EQ(previous_t, 4);  // two tokens out: an empty bucket needs the whole window

  auto r = get(*c, "127.0.0.2", "/refused");
  ASSERT_EQ(r.status, 429) << describe(r);
  EXPECT_EQ(r.reason, "Too Many Requests");
  // Retry-After: whole seconds until the next token, at least 1 and at most 1 / rate.
  EXPECT_EQ(r.header_count("Retry-After"), 1u);
  const long long retry = retry_after_seconds(r.header("Retry-After"));
  EXPECT_GE(retry, 1) << describe(r);
  EXPECT_LE(retry, 2) << describe(r);
  EXPECT_EQ(r.header("RateLimit-Policy"), "\"default\";q=2;w=4");
  EXPECT_EQ(r.header_count("RateLimit-Policy"), 1u);
  EXPECT_EQ(r.header_count("RateLimit"), 1u);
  auto limit = parse_item(r.header("RateLimit"));
  ASSERT_TRUE(limit) << describe(r);
  EXPECT_EQ(limit->name, "default");
  EXPECT_EQ(limit->param("r"), 0);
  EXPECT_EQ(limit->params.size(), 2u);  // r and t, nothing else
  EXPECT_GE(limit->param("t"), retry) << describe(r);
  EXPECT_LE(limit->param("t"), 4) << describe(r);

  // The request was read whole: the connection stays open and serves the next request (still
  // refused), and the origin saw only the two allowed requests.
  EXPECT_TRUE(r.keep_alive);
  EXPECT_TRUE(c->is_open());
  auto again = c->get("/refused-again");
  EXPECT_EQ(again.status, 429) << describe(again);
  EXPECT_EQ(origin().requests_seen(), 2u);
  EXPECT_EQ(origin().last_request().target, "/ok");
  // Each refusal is counted once, and only refusals.
  EXPECT_EQ(metric_text("ringproxy_rate_limited_total"), "2");
  EXPECT_EQ(metric_text("ringproxy_requests_total{upstream=\"\",code=\"429\"}"), "2");
}

// Over HTTP/2 the fields come as lower-case HTTP/2 fields, once each (the response head goes to
// the stream as fields, not as text read back); the refusal is a 429 with them too.
TEST_F(RateLimitTest, OverHttp2TheFieldsComeOnceInTheStreamsHead) {
  ASSERT_TRUE(start("rate = 0.5\nburst = 1", "", "h2c = true"));
  const auto curl = [this](const std::string& path) {
    return ProxyProcess::run("/usr/bin/curl",
                             {"-sS", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null",
                              "http://127.0.0.1:" + std::to_string(port()) + path},
                             10s)
        .output;
  };
  const auto count = [](const std::string& text, const std::string& line) {
    std::size_t n = 0;
    for (auto at = text.find(line); at != std::string::npos; at = text.find(line, at + 1)) ++n;
    return n;
  };
  const std::string ok = curl("/h2-ok");
  EXPECT_TRUE(contains(ok, "HTTP/2 200")) << ok;
  EXPECT_EQ(count(ok, "\nratelimit-policy: \"default\";q=1;w=2\r\n"), 1u) << ok;
  EXPECT_EQ(count(ok, "\nratelimit: "), 1u) << ok;
  EXPECT_EQ(count(ok, "\nvia: 1.1 ringproxy\r\n"), 1u) << ok;
  EXPECT_EQ(count(ok, "\ncontent-length: "), 1u) << ok;
  const std::string refused = curl("/h2-refused");
  EXPECT_TRUE(contains(refused, "HTTP/2 429")) << refused;
  EXPECT_EQ(count(refused, "\nratelimit-policy: "), 1u) << refused;
  EXPECT_EQ(count(refused, "\nretry-after: "), 1u) << refused;
  EXPECT_EQ(origin().requests_seen(), 1u);
}

TEST_F(RateLimitTest, RefusedBodyIsNotReadAsTheNextRequest) {
  // A refused POST's body must be consumed or the connection closed: never parsed as a request.
  ASSERT_TRUE(start("rate = 0.5\nburst = 1", R"(
[[route]]
path_prefix = "/off"
upstream = "app"
rate_limit = "off"

[[route]]
path_prefix = "/"
upstream = "app"
)"));
  auto c = client_from("127.0.0.2");
  ASSERT_TRUE(c);
  ASSERT_EQ(get(*c, "127.0.0.2", "/first").status, 200);
  const std::string smuggled = "GET /off/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  auto r = c->request("POST", "/upload", {}, smuggled);
  EXPECT_EQ(r.status, 429) << describe(r);
  if (r.keep_alive && c->is_open()) {
    auto next = c->get("/off/next");
    EXPECT_EQ(next.status, 200) << describe(next);
    EXPECT_EQ(echo_line(next.body, "target"), "/off/next");
    EXPECT_EQ(origin().requests_seen(), 2u);
  } else {
    EXPECT_EQ(origin().requests_seen(), 1u);
  }
  EXPECT_NE(origin().last_request().target, "/off/smuggled");
}

TEST_F(RateLimitTest, BucketRefillsOverTime) {
  // 5 tokens/s (one per 200 ms), two at most: w = ceil(0.4 s) = 1.
  ASSERT_TRUE(start("rate = 5.0\nburst = 2"));
  auto c = client_from("127.0.0.2");
  ASSERT_TRUE(c);
  const auto start_time = Clock::now();
  ASSERT_EQ(get(*c, "127.0.0.2", "/1").status, 200);
  ASSERT_EQ(get(*c, "127.0.0.2", "/2").status, 200);
  auto refused = get(*c, "127.0.0.2", "/3");
  ASSERT_EQ(refused.status, 429) << describe(refused);
  EXPECT_EQ(refused.header("Retry-After"), "1");
  EXPECT_EQ(refused.header("RateLimit-Policy"), "\"default\";q=2;w=1");
  EXPECT_EQ(remaining_of(refused), 0);

  // Poll: a token comes back about 200 ms after the first one was taken; refusals take none.
  HttpResponse allowed;
  int refusals = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        allowed = get(*c, "127.0.0.2", "/poll");
        if (allowed.status == 429) ++refusals;
        return allowed.status == 200;
      },
      2000ms));
  const auto waited = ms_since(start_time);
  EXPECT_GE(waited, 150) << "a token came back too early";
  EXPECT_LE(waited, 1000) << "a token came back too late";
  EXPECT_GT(refusals, 0);
  EXPECT_EQ(remaining_of(allowed), 0) << describe(allowed);

  // The bucket fills up again (capacity 400 ms), and no further than burst.
  std::this_thread::sleep_for(500ms);
  auto r1 = get(*c, "127.0.0.2", "/full1");
  auto r2 = get(*c, "127.0.0.2", "/full2");
  auto r3 = get(*c, "127.0.0.2", "/full3");
  EXPECT_EQ(r1.status, 200) << describe(r1);
  EXPECT_EQ(remaining_of(r1), 1) << describe(r1);
  EXPECT_EQ(r2.status, 200) << describe(r2);
  EXPECT_EQ(remaining_of(r2), 0) << describe(r2);
  EXPECT_EQ(r3.status, 429) << describe(r3);
  EXPECT_EQ(origin().requests_seen(), 5u);
}

constexpr std::string_view kOverrideRoutes = R"(
[[route]]
path_prefix = "/own"
upstream = "app"
rate_limit = { rate = 0.5, burst = 3 }

[[route]]
path_prefix = "/off"
upstream = "app"
rate_limit = "off"

[[route]]
path_prefix = "/"
upstream = "app"
)";

TEST_F(RateLimitTest, RouteOverrideHasItsOwnBuckets) {
  ASSERT_TRUE(start("rate = 0.5\nburst = 2", kOverrideRoutes));

  // 127.0.0.2 exhausts the default first; the override route is unaffected.
  auto a = client_from("127.0.0.2");
  ASSERT_TRUE(a);
  EXPECT_EQ(get(*a, "127.0.0.2", "/x").status, 200);
  EXPECT_EQ(get(*a, "127.0.0.2", "/x").status, 200);
  EXPECT_EQ(get(*a, "127.0.0.2", "/x").status, 429);
  for (long long expected_r : {2, 1, 0}) {
    auto r = get(*a, "127.0.0.2", "/own/y");
    ASSERT_EQ(r.status, 200) << describe(r);
    EXPECT_EQ(r.header("RateLimit-Policy"), "\"route-1\";q=3;w=6");
    auto limit = parse_item(r.header("RateLimit"));
    ASSERT_TRUE(limit) << describe(r);
    EXPECT_EQ(limit->name, "route-1");
    EXPECT_EQ(limit->param("r"), expected_r) << describe(r);
  }
  auto refused = get(*a, "127.0.0.2", "/own/y");
  ASSERT_EQ(refused.status, 429) << describe(refused);
  EXPECT_EQ(refused.header("RateLimit-Policy"), "\"route-1\";q=3;w=6");
  auto limit = parse_item(refused.header("RateLimit"));
  ASSERT_TRUE(limit) << describe(refused);
  EXPECT_EQ(limit->name, "route-1");
  EXPECT_EQ(limit->param("r"), 0);
  const long long retry = retry_after_seconds(refused.header("Retry-After"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 2);
  // The default's 429 names the default policy.
  auto default_refused = get(*a, "127.0.0.2", "/x");
  EXPECT_EQ(default_refused.status, 429);
  EXPECT_EQ(default_refused.header("RateLimit-Policy"), "\"default\";q=2;w=4");

  // 127.0.0.3 the other way round: exhausting the override leaves the default untouched.
  auto b = client_from("127.0.0.3");
  ASSERT_TRUE(b);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get(*b, "127.0.0.3", "/own").status, 200);
  EXPECT_EQ(get(*b, "127.0.0.3", "/own").status, 429);
  auto r = get(*b, "127.0.0.3", "/x");
  EXPECT_EQ(r.status, 200) << describe(r);
  EXPECT_EQ(remaining_of(r), 1) << describe(r);
  EXPECT_EQ(origin().requests_seen(), 2u + 3u + 3u + 1u);
}

TEST_F(RateLimitTest, RouteOffIsNeverLimited) {
  ASSERT_TRUE(start("rate = 0.5\nburst = 2", kOverrideRoutes));
  auto c = client_from("127.0.0.2");
  ASSERT_TRUE(c);
  // Exhaust both limited rules first.
  for (int i = 0; i < 2; ++i) EXPECT_EQ(get(*c, "127.0.0.2", "/x").status, 200);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get(*c, "127.0.0.2", "/own").status, 200);
  EXPECT_EQ(get(*c, "127.0.0.2", "/x").status, 429);
  EXPECT_EQ(get(*c, "127.0.0.2", "/own").status, 429);
  for (int i = 0; i < 20; ++i) {
    auto r = get(*c, "127.0.0.2", "/off/" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << "request " << i << ": " << describe(r);
    EXPECT_EQ(r.header_count("RateLimit-Policy"), 0u) << describe(r);
    EXPECT_EQ(r.header_count("RateLimit"), 0u) << describe(r);
    EXPECT_EQ(r.header_count("Retry-After"), 0u) << describe(r);
  }
  // "off" took nothing from the default either.
  EXPECT_EQ(get(*c, "127.0.0.2", "/x").status, 429);
  EXPECT_EQ(origin().requests_seen(), 2u + 3u + 20u);
}

TEST_F(RateLimitTest, DefaultBucketsAreSharedAcrossRoutes) {
  ASSERT_TRUE(start("rate = 0.5\nburst = 3", R"(
[[route]]
path_prefix = "/a"
upstream = "app"

[[route]]
path_prefix = "/b"
upstream = "app"
)"));
  auto c = client_from("127.0.0.2");
  ASSERT_TRUE(c);
  auto r1 = get(*c, "127.0.0.2", "/a");
  auto r2 = get(*c, "127.0.0.2", "/b");
  auto r3 = get(*c, "127.0.0.2", "/a");
  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r2.status, 200);
  EXPECT_EQ(r3.status, 200);
  EXPECT_EQ(remaining_of(r1), 2) << describe(r1);
  EXPECT_EQ(remaining_of(r2), 1) << describe(r2);
  EXPECT_EQ(remaining_of(r3), 0) << describe(r3);
  EXPECT_EQ(r2.header("RateLimit-Policy"), "\"default\";q=3;w=6");
  auto refused = get(*c, "127.0.0.2", "/b");
  EXPECT_EQ(refused.status, 429) << describe(refused);
  EXPECT_EQ(refused.header("RateLimit-Policy"), "\"default\";q=3;w=6");
  EXPECT_EQ(get(*c, "127.0.0.2", "/a").status, 429);
  // A route miss is a 404 before any limit, and takes no token.
  EXPECT_EQ(get(*c, "127.0.0.3", "/nowhere").status, 404);
  EXPECT_EQ(origin().requests_seen(), 3u);
}

// Rate limit key client_ip with trusted_proxies = ["127.0.0.1/32"].
class RateLimitForwardedTest : public RateLimitTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(start("rate = 0.5\nburst = 2", "", "trusted_proxies = [\"127.0.0.1/32\"]"));
  }
  // Status of GET / from `source_ip` with X-Forwarded-For lines `xff` (each one field line).
  int status_from(const std::string& source_ip, std::initializer_list<std::string> xff) {
    auto c = client_from(source_ip);
    if (!c) return 0;
    HeaderList headers;
    for (const auto& v : xff) headers.emplace_back("X-Forwarded-For", v);
    return c->get("/", headers).status;
  }
};

TEST_F(RateLimitForwardedTest, TrustedProxyForwardsDistinctClients) {
  // From the trusted 127.0.0.1, each forwarded address is a client of its own.
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.1"}), 200);
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.1"}), 200);
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.1"}), 429);
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.2"}), 200);
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.2"}), 200);
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.2"}), 429);
  // The proxy itself (no X-Forwarded-For) is a client of its own too.
  EXPECT_EQ(status_from("127.0.0.1", {}), 200);
  // Trusted hops on the right are skipped: the rightmost untrusted entry is the client.
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.1, 127.0.0.1"}), 429);
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.3, 127.0.0.1"}), 200);
  EXPECT_EQ(origin().requests_seen(), 6u);
}

TEST_F(RateLimitForwardedTest, ClientWrittenLeftmostEntryIsNotBelieved) {
  // 10.0.0.5 uses up its bucket through the trusted proxy.
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.5"}), 200);
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.5"}), 200);
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.5"}), 429);
  // It cannot pick a new identity by writing its own entry: "fake, real" keys on "real".
  EXPECT_EQ(status_from("127.0.0.1", {"10.9.9.9, 10.0.0.5"}), 429);
  EXPECT_EQ(status_from("127.0.0.1", {"10.9.9.8, 10.0.0.5"}), 429);
  EXPECT_EQ(status_from("127.0.0.1", {"not-an-address, 10.0.0.5"}), 429);
  // Nor can it use up another client's bucket by naming it on the left.
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.5, 10.0.0.6"}), 200);
  EXPECT_EQ(origin().requests_seen(), 3u);
}

TEST_F(RateLimitForwardedTest, SplitForwardedForLinesAreOneList) {
  // Two X-Forwarded-For field lines mean the same as one comma-joined line (RFC 9110 5.3): a
  // client-written first line must not decide the key when the proxy appended a second.
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.7"}), 200);
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.7"}), 200);
  EXPECT_EQ(status_from("127.0.0.1", {"10.0.0.7"}), 429);
  EXPECT_EQ(status_from("127.0.0.1", {"10.9.9.1, 10.0.0.7"}), 429);  // one line: refused
  EXPECT_EQ(status_from("127.0.0.1", {"10.9.9.1", "10.0.0.7"}), 429);
  EXPECT_EQ(status_from("127.0.0.1", {"10.9.9.2", "10.0.0.7"}), 429);
}

TEST_F(RateLimitForwardedTest, UntrustedPeerForwardedForIsIgnored) {
  // 127.0.0.2 is not a trusted proxy: whatever it writes, it is one client.
  EXPECT_EQ(status_from("127.0.0.2", {"10.1.1.1"}), 200);
  EXPECT_EQ(status_from("127.0.0.2", {"10.1.1.2"}), 200);
  EXPECT_EQ(status_from("127.0.0.2", {"10.1.1.3"}), 429);
  EXPECT_EQ(status_from("127.0.0.2", {"10.1.1.4, 10.1.1.5"}), 429);
  EXPECT_EQ(status_from("127.0.0.2", {}), 429);
  // And it did not use up the buckets of the addresses it named.
  EXPECT_EQ(status_from("127.0.0.1", {"10.1.1.1"}), 200);
  EXPECT_EQ(status_from("127.0.0.1", {"10.1.1.2"}), 200);
  // Another untrusted address is still its own client.
  EXPECT_EQ(status_from("127.0.0.3", {"10.1.1.1"}), 200);
  EXPECT_EQ(origin().requests_seen(), 5u);
}

TEST_F(RateLimitTest, HeaderKeyLimitsEachValueAndFallsBackToTheAddress) {
  ASSERT_TRUE(start("key = \"header:X-Api-Key\"\nrate = 0.5\nburst = 2"));
  auto a = client_from("127.0.0.2");
  auto b = client_from("127.0.0.3");
  ASSERT_TRUE(a && b);
  const HeaderList alpha{{"X-Api-Key", "alpha"}};
  const HeaderList beta{{"X-Api-Key", "beta"}};

  auto r1 = get(*a, "127.0.0.2", "/", alpha);
  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(remaining_of(r1), 1) << describe(r1);
  // The key is the header, not the address: from 127.0.0.3 "alpha" is the same client.
  auto r2 = get(*b, "127.0.0.3", "/", alpha);
  EXPECT_EQ(r2.status, 200);
  EXPECT_EQ(remaining_of(r2), 0) << describe(r2);
  EXPECT_EQ(get(*a, "127.0.0.2", "/", alpha).status, 429);
  EXPECT_EQ(get(*b, "127.0.0.3", "/", alpha).status, 429);
  // "beta" has its own bucket, from either address.
  EXPECT_EQ(get(*a, "127.0.0.2", "/", beta).status, 200);
  EXPECT_EQ(get(*b, "127.0.0.3", "/", beta).status, 200);
  EXPECT_EQ(get(*a, "127.0.0.2", "/", beta).status, 429);

  // Without the header the client address is the key: 127.0.0.2 and 127.0.0.3 apart, and
  // neither shares a bucket with the exhausted API keys.
  EXPECT_EQ(get(*a, "127.0.0.2", "/").status, 200);
  EXPECT_EQ(get(*a, "127.0.0.2", "/").status, 200);
  EXPECT_EQ(get(*a, "127.0.0.2", "/").status, 429);
  EXPECT_EQ(get(*b, "127.0.0.3", "/").status, 200);
  EXPECT_EQ(origin().requests_seen(), 2u + 2u + 2u + 1u);
}

TEST_F(RateLimitTest, RouteOverrideInheritsKeyUnlessItSetsOne) {
  ASSERT_TRUE(start("key = \"header:X-Api-Key\"\nrate = 0.5\nburst = 5", R"(
[[route]]
path_prefix = "/inherit"
upstream = "app"
rate_limit = { rate = 0.5, burst = 2 }

[[route]]
path_prefix = "/byip"
upstream = "app"
rate_limit = { key = "client_ip", rate = 0.5, burst = 2 }
)"));
  auto a = client_from("127.0.0.2");
  auto b = client_from("127.0.0.3");
  ASSERT_TRUE(a && b);
  const HeaderList alpha{{"X-Api-Key", "alpha"}};
  const HeaderList beta{{"X-Api-Key", "beta"}};

  // /inherit keys on X-Api-Key: "alpha" from two addresses is one client.
  EXPECT_EQ(get(*a, "127.0.0.2", "/inherit", alpha).status, 200);
  EXPECT_EQ(get(*b, "127.0.0.3", "/inherit", alpha).status, 200);
  EXPECT_EQ(get(*a, "127.0.0.2", "/inherit", alpha).status, 429);
  EXPECT_EQ(get(*a, "127.0.0.2", "/inherit", beta).status, 200);

  // /byip keys on the address: one address with different API keys is one client.
  auto r = get(*a, "127.0.0.2", "/byip", alpha);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("RateLimit-Policy"), "\"route-2\";q=2;w=4");
  EXPECT_EQ(get(*a, "127.0.0.2", "/byip", beta).status, 200);
  EXPECT_EQ(get(*a, "127.0.0.2", "/byip", {{"X-Api-Key", "gamma"}}).status, 429);
  EXPECT_EQ(get(*b, "127.0.0.3", "/byip", alpha).status, 200);
  EXPECT_EQ(origin().requests_seen(), 3u + 3u);
}

// SPEC: header:NAME keys use all field lines of NAME combined (RFC 9110 §5.3): two requests
// whose X-Api-Key lines differ only in the second line are two clients.
TEST_F(RateLimitTest, HeaderKeyCombinesAllFieldLines) {
  ASSERT_TRUE(start("key = \"header:X-Api-Key\"\nrate = 0.01\nburst = 1"));
  auto a = client_from("127.0.0.2");
  ASSERT_TRUE(a);
  const HeaderList ab{{"X-Api-Key", "alpha"}, {"X-Api-Key", "beta"}};
  const HeaderList ac{{"X-Api-Key", "alpha"}, {"X-Api-Key", "gamma"}};
  const HeaderList joined{{"X-Api-Key", "alpha, beta"}};
  EXPECT_EQ(get(*a, "127.0.0.2", "/", ab).status, 200);
  EXPECT_EQ(get(*a, "127.0.0.2", "/", ac).status, 200) << "the second line is ignored";
  EXPECT_EQ(get(*a, "127.0.0.2", "/", joined).status, 429) << "\"alpha, beta\" is ab's bucket";
  EXPECT_EQ(get(*a, "127.0.0.2", "/", {{"X-Api-Key", "alpha"}}).status, 200);
}

}  // namespace
}  // namespace ringproxy::test
