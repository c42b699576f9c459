// [[route]]: host and path matching rules, each naming an upstream.
#include <algorithm>
#include <cctype>
#include <map>

#include "config/sections.hpp"

namespace ringproxy::config_detail {

namespace {

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// Lower-cases host and returns the problem with it, or nullopt when it is valid: a DNS name,
// an IPv4 literal, "[v6]", or "*.suffix" (which matches names under suffix only).
std::optional<std::string> check_route_host(std::string& host) {
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (host.empty()) return "must not be empty; omit host to match every host";
  if (host == "*") return "\"*\" is not allowed; omit host to match every host";
  std::string_view name = host;
  if (name.front() == '*') {
    if (!name.starts_with("*.") || name.size() == 2) {
      return quote(host) + " is not a valid wildcard; use \"*.example.com\"";
    }
    name.remove_prefix(2);
  }
  if (name.front() == '[') {
    auto ip = name.back() == ']' ? IpAddress::parse(name.substr(1, name.size() - 2))
                                 : std::optional<IpAddress>();
    if (!ip || !ip->v6 || host.front() == '*') return quote(host) + " is not a valid host";
    return std::nullopt;
  }
  if (name.find(':') != std::string_view::npos) {
    return quote(host) + " must not include a port (the Host port is ignored)";
  }
  if (name.find('*') != std::string_view::npos) {
    return quote(host) + " is not a valid wildcard; use \"*.example.com\"";
  }
  bool ok = name.front() != '.' && name.find("..") == std::string_view::npos &&
            std::all_of(name.begin(), name.end(), is_host_char);
  if (!ok) return quote(host) + " is not a valid host name";
  return std::nullopt;
}

// The problem with a path_prefix, or nullopt when it is valid.
std::optional<std::string> check_path_prefix(const std::string& prefix) {
  if (prefix.empty() || prefix.front() != '/') return "must start with '/', got " + quote(prefix);
  for (unsigned char c : prefix) {
    if (c <= 0x20 || c == 0x7f || c == '?' || c == '#') {
      return "must be a plain path (no spaces, '?' or '#'), got " + quote(prefix);
    }
  }
  return std::nullopt;
}

// route.rate_limit: "off", or a table overriding the default rule (inheriting its key, scope
// and Redis keys).
void read_route_rate_limit(TableReader& r, const std::optional<RateLimitConfig>& default_limit,
                           Diagnostics& diag, RouteConfig& out) {
  const TomlValue* v = r.find("rate_limit");
  if (!v) return;
  constexpr std::string_view kExpected = "\"off\" or a table like { rate = 10.0, burst = 20 }";
  if (v->is_string()) {
    if (v->as_string().str == "off") {
      out.rate_limit_mode = RouteRateLimit::off;
    } else {
      r.key_error(*v, "rate_limit",
                  "must be " + std::string(kExpected) + ", got " + quote(v->as_string().str));
    }
  } else if (v->is_table()) {
    RateLimitConfig limit;
    // scope and Redis come from [rate_limit] unless the override sets them.
    if (default_limit) limit.global = default_limit->global;
    bool key_set = false;
    read_rate_limit(*v, r.context() + ": rate_limit", diag, limit, key_set);
    limit.line = line_of(*v);
    if (!key_set) limit.key = default_limit ? default_limit->key : RateLimitConfig{}.key;
    out.rate_limit_mode = RouteRateLimit::override;
    out.rate_limit = std::move(limit);
  } else {
    r.type_error(*v, "rate_limit", kExpected);
  }
}

// One [[route]] table; names maps upstream names to their index.
void read_route(const TomlValue& table, std::size_t number,
                const std::map<std::string, std::size_t>& names,
                const std::optional<RateLimitConfig>& default_limit, Diagnostics& diag,
                RouteConfig& out) {
  TableReader r(table, "route #" + std::to_string(number), false, diag);
  out.line = r.line();
  std::string text;
  if (r.read_string("host", text)) {
    if (auto problem = check_route_host(text)) {
      r.key_error(*r.find("host"), "host", *problem);
    } else {
      out.host = text;
    }
  }
  if (r.read_string("path_prefix", text)) {
    if (auto problem = check_path_prefix(text)) {
      r.key_error(*r.find("path_prefix"), "path_prefix", *problem);
    } else {
      out.path_prefix = text;
    }
  }
  if (const TomlValue* v = r.find("upstream")) {
    if (!v->is_string()) {
      r.type_error(*v, "upstream", "a string");
    } else {
      out.upstream = v->as_string().str;
      auto it = names.find(out.upstream);
      if (it == names.end()) {
        r.error(line_of(*v), "upstream " + quote(out.upstream) + " is not defined");
      } else {
        out.upstream_index = it->second;
      }
    }
  } else {
    r.error(r.line(), "missing required key \"upstream\"");
  }
  read_route_rate_limit(r, default_limit, diag, out);
  if (std::size_t bytes = 0;
      r.read_integer("request_buffer_bytes", 0, TableReader::kNoMax, bytes)) {
    out.request_buffer_bytes = bytes;
  }
  r.finish();
}

}  // namespace

void read_routes(const TomlValue& array, const std::vector<UpstreamConfig>& upstreams,
                 const std::optional<RateLimitConfig>& default_limit, Diagnostics& diag,
                 std::vector<RouteConfig>& out) {
  std::map<std::string, std::size_t> names;
  for (std::size_t i = 0; i < upstreams.size(); ++i) {
    if (!upstreams[i].name.empty()) names.emplace(upstreams[i].name, i);
  }
  std::size_t number = 0;
  for (const TomlValue& item : array.as_array()) {
    ++number;
    if (!item.is_table()) {
      diag.add(line_of(item), "route #" + std::to_string(number) + ": expected a table, got " +
                                  describe_type(item));
      continue;
    }
    RouteConfig route;
    read_route(item, number, names, default_limit, diag, route);
    out.push_back(std::move(route));
  }
}

}  // namespace ringproxy::config_detail
