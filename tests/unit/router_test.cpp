#include "policy/router.hpp"

#include <gtest/gtest.h>

namespace ringproxy {
namespace {

RouteConfig route(std::optional<std::string> host, std::optional<std::string> prefix,
                  std::size_t upstream) {
  RouteConfig r;
  r.host = std::move(host);
  r.path_prefix = std::move(prefix);
  r.upstream_index = upstream;
  return r;
}

TEST(Router, NoRoutesSendsEverythingToTheFirstUpstream) {
  Router router({});
  EXPECT_EQ(router.match("anything", "/x"), 0u);
  EXPECT_EQ(router.upstream_of(0), 0u);
}

struct MatchCase {
  const char* host;
  const char* target;
  std::optional<std::size_t> route;
};

TEST(Router, FirstMatchWinsWithHostAndPathRules) {
  Router router({route("api.example.com", "/v1", 1), route("*.example.com", std::nullopt, 2),
                 route(std::nullopt, "/b", 3), route("exact.test", std::nullopt, 4)});
  const MatchCase cases[] = {
      {"api.example.com", "/v1/users", 0},
      {"API.Example.COM:8080", "/v1", 0},  // port ignored, case-insensitive
      {"api.example.com", "/v2", 1},       // falls to the wildcard
      {"deep.sub.example.com", "/", 1},
      {"example.com", "/", std::nullopt},  // wildcard does not match the bare domain
      {"example.com", "/b", 2},
      {"other", "/b/x", 2},
      {"other", "/b?q=1", 2},
      {"other", "/bx", std::nullopt},  // prefix matches whole segments only
      {"exact.test", "/zzz", 3},
      {"exact.test.", "/zzz", 3},  // trailing dot of a FQDN
      {"xexact.test", "/zzz", std::nullopt},
      {"other", "http://other/b/y", 2},  // absolute-form target
  };
  for (const auto& c : cases) {
    EXPECT_EQ(router.match(c.host, c.target), c.route) << c.host << " " << c.target;
  }
  EXPECT_EQ(router.upstream_of(0), 1u);
  EXPECT_EQ(router.upstream_of(3), 4u);
}

TEST(Router, PrefixWithTrailingSlashAndRoot) {
  EXPECT_TRUE(path_has_prefix("/a/b", "/a/"));
  EXPECT_FALSE(path_has_prefix("/a", "/a/"));
  EXPECT_TRUE(path_has_prefix("/anything", "/"));
  EXPECT_TRUE(path_has_prefix("/b", "/b"));
  EXPECT_FALSE(path_has_prefix("/", "/b"));
}

TEST(Router, NormalizeHost) {
  EXPECT_EQ(normalize_host("Example.COM:80"), "example.com");
  EXPECT_EQ(normalize_host("[::1]:8080"), "::1");
  EXPECT_EQ(normalize_host("[::1]"), "::1");
  EXPECT_EQ(normalize_host(""), "");
}

TEST(Router, TargetPath) {
  EXPECT_EQ(target_path("/a/b?x=1#f"), "/a/b");
  EXPECT_EQ(target_path("http://h:1/a?x"), "/a");
  EXPECT_EQ(target_path("http://h"), "/");
  EXPECT_EQ(target_path("*"), "*");
}

}  // namespace
}  // namespace ringproxy
