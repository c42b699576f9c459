// Request routing: picks the upstream for a request from its Host and path.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace ringproxy {

// First-match route table built from [[route]]; immutable, safe to share between threads.
class Router {
 public:
  // With no routes, every request goes to upstream 0.
  explicit Router(const std::vector<RouteConfig>& routes);

  // The matched route's index into the route list (nullopt when nothing matches).
  // host is the Host header as received (port ignored, case-insensitive); target is the
  // request-target (origin-form "/a?b", or absolute-form "http://h/a").
  std::optional<std::size_t> match(std::string_view host, std::string_view target) const;

  // The upstream index of route i (or 0 with no routes).
  std::size_t upstream_of(std::size_t route) const;
  bool has_routes() const { return !routes_.empty(); }

 private:
  // One compiled route.
  struct Entry {
    std::string host;    // exact, lower-case; empty = any host
    std::string suffix;  // for "*.example.com": ".example.com"
    std::string path_prefix;
    std::size_t upstream = 0;
  };
  std::vector<Entry> routes_;
};

// Lower-cases host and strips a trailing ":port" (keeps "[v6]" brackets off).
std::string normalize_host(std::string_view host);
// The path part of a request-target: "/a/b" from "/a/b?x" or "http://h/a/b?x".
std::string_view target_path(std::string_view target);
// True when path matches prefix as a segment: "/b" matches "/b", "/b/x", not "/bx".
bool path_has_prefix(std::string_view path, std::string_view prefix);

}  // namespace ringproxy
