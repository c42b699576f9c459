// Routing by host (exact, wildcard, port ignored, case-insensitive) and path prefix (segment
// rule), first match wins, 404 when nothing matches.

#include <gtest/gtest.h>

#include <string>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// Five upstreams of one origin each (named like their upstream) and an ordered route list.
class RoutingTest : public ProxyTest {
 protected:
  void SetUp() override {
    for (const char* name : {"app", "api", "wild", "bpath", "later"}) add_origin(name);
    std::string tables;
    for (std::size_t i = 0; i < origins_.size(); ++i)
      tables += upstream_toml(origin(i).name(), {origin(i).address()});
    tables += R"(
[[route]]
host = "api.example.com"
upstream = "api"

[[route]]
host = "*.example.com"
upstream = "wild"

[[route]]
path_prefix = "/b"
upstream = "bpath"

[[route]]
host = "api.example.com"
path_prefix = "/b"
upstream = "later"

[[route]]
path_prefix = "/b/deeper"
upstream = "later"

[[route]]
host = "static.example.com"
upstream = "later"
)";
    ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(tables)));
    client_ = connect();
    ASSERT_TRUE(client_);
  }

  // The name of the origin that answered (Host `host`, GET `target`), or "404" etc.
  std::string route(const std::string& host, const std::string& target) {
    if (!client_->is_open() && !client_->connect(port())) return "connect failed";
    auto r = client_->get(target, {{"Host", host}});
    if (!r.keep_alive) client_->close();
    if (r.status != 200) return std::to_string(r.status) + (r.error.empty() ? "" : " " + r.error);
    EXPECT_EQ(echo_line(r.body, "target"), target);
    return r.header("X-Origin");
  }

  void TearDown() override {
    client_.reset();  // closed before the fixture checks that no connection is left
    ProxyTest::TearDown();
  }

  std::unique_ptr<HttpClient> client_;
};

TEST_F(RoutingTest, ExactHostIgnoresPortAndCase) {
  EXPECT_EQ(route("api.example.com", "/x"), "api");
  EXPECT_EQ(route("api.example.com:8080", "/x"), "api");
  EXPECT_EQ(route("API.Example.COM", "/x"), "api");
  EXPECT_EQ(route("Api.Example.Com:443", "/y?z=1"), "api");
  EXPECT_EQ(origin(1).last_request().header("Host"), "Api.Example.Com:443");
}

TEST_F(RoutingTest, WildcardHostMatchesSubdomainsOnly) {
  EXPECT_EQ(route("www.example.com", "/x"), "wild");
  EXPECT_EQ(route("a.b.example.com", "/x"), "wild");
  EXPECT_EQ(route("WWW.Example.Com:8080", "/x"), "wild");
  EXPECT_EQ(route("example.com", "/x"), "404");
  EXPECT_EQ(route("notexample.com", "/x"), "404");
  EXPECT_EQ(route("www.example.com.evil.test", "/x"), "404");
  EXPECT_EQ(origin(0).requests_seen() + origin(3).requests_seen() + origin(4).requests_seen(), 0u);
}

TEST_F(RoutingTest, PathPrefixMatchesWholeSegments) {
  EXPECT_EQ(route("other.test", "/b"), "bpath");
  EXPECT_EQ(route("other.test", "/b/"), "bpath");
  EXPECT_EQ(route("other.test", "/b/x/y"), "bpath");
  EXPECT_EQ(route("other.test", "/b?q=1"), "bpath");
  EXPECT_EQ(route("example.com", "/b"), "bpath");  // the bare domain still reaches path routes
  EXPECT_EQ(route("other.test", "/bx"), "404");
  EXPECT_EQ(route("other.test", "/bx/y"), "404");
  EXPECT_EQ(route("other.test", "/c"), "404");
  EXPECT_EQ(route("other.test", "/"), "404");
}

TEST_F(RoutingTest, FirstMatchingRouteWins) {
  EXPECT_EQ(route("api.example.com", "/b"), "api");        // route 1 before route 4
  EXPECT_EQ(route("static.example.com", "/s"), "wild");    // wildcard before exact
  EXPECT_EQ(route("other.test", "/b/deeper/x"), "bpath");  // "/b" before "/b/deeper"
  EXPECT_EQ(origin(4).requests_seen(), 0u);
}

TEST_F(RoutingTest, NoMatchIs404AndTheConnectionStaysUsable) {
  const auto local_port = client_->local_port();
  auto r = client_->get("/nowhere", {{"Host", "nothing.test"}});
  ASSERT_EQ(r.status, 404) << r.error;
  EXPECT_TRUE(r.keep_alive);
  auto r2 = client_->get("/b/after-404", {{"Host", "nothing.test"}});
  ASSERT_EQ(r2.status, 200) << r2.error;
  EXPECT_EQ(r2.header("X-Origin"), "bpath");
  EXPECT_EQ(client_->local_port(), local_port);
  auto r3 = client_->get("/again", {{"Host", "nothing.test"}});
  EXPECT_EQ(r3.status, 404) << r3.error;
  std::size_t seen = 0;
  for (std::size_t i = 0; i < origins_.size(); ++i) seen += origin(i).requests_seen();
  EXPECT_EQ(seen, 1u);
}

}  // namespace
}  // namespace ringproxy::test
