#include "policy/router.hpp"

#include <algorithm>
#include <cctype>

namespace ringproxy {

namespace {

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// The name part of a Host value: no port, no brackets, no trailing dot; case kept.
std::string_view host_name(std::string_view name) {
  if (!name.empty() && name.front() == '[') {
    auto close = name.find(']');
    name = close == std::string_view::npos ? name.substr(1) : name.substr(1, close - 1);
  } else if (auto colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  while (!name.empty() && name.back() == '.') name.remove_suffix(1);  // "example.com."
  return name;
}

bool iends_with(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  s.remove_prefix(s.size() - suffix.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (lower(s[i]) != suffix[i]) return false;  // suffix is lower-case already
  }
  return true;
}

}  // namespace

std::string normalize_host(std::string_view host) {
  std::string out(host_name(host));
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

std::string_view target_path(std::string_view target) {
  if (!target.empty() && target.front() != '/') {
    // absolute-form: scheme://authority/path?query
    auto scheme = target.find("://");
    if (scheme != std::string_view::npos) {
      auto slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  auto end = target.find_first_of("?#");
  return end == std::string_view::npos ? target : target.substr(0, end);
}

bool path_has_prefix(std::string_view path, std::string_view prefix) {
  if (prefix.empty() || prefix == "/") return true;
  if (prefix.back() == '/') return path.starts_with(prefix);
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

Router::Router(const std::vector<RouteConfig>& routes) {
  routes_.reserve(routes.size());
  for (const auto& r : routes) {
    Entry e;
    if (r.host) {
      std::string h = normalize_host(*r.host);
      if (h.starts_with("*.")) {
        e.suffix = h.substr(1);
      } else {
        e.host = std::move(h);
      }
    }
    e.path_prefix = r.path_prefix.value_or("");
    e.upstream = r.upstream_index;
    routes_.push_back(std::move(e));
  }
}

std::optional<std::size_t> Router::match(std::string_view host, std::string_view target) const {
  if (routes_.empty()) return 0;
  // Compared in place, case-insensitively: no allocation per request.
  const std::string_view name = host_name(host);
  const std::string_view path = target_path(target);
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const Entry& e = routes_[i];
    if (!e.host.empty() && (name.size() != e.host.size() || !iends_with(name, e.host))) continue;
    if (!e.suffix.empty() && (name.size() <= e.suffix.size() || !iends_with(name, e.suffix))) {
      continue;
    }
    if (!path_has_prefix(path, e.path_prefix)) continue;
    return i;
  }
  return std::nullopt;
}

std::size_t Router::upstream_of(std::size_t route) const {
  return routes_.empty() ? 0 : routes_[route].upstream;
}

}  // namespace ringproxy
