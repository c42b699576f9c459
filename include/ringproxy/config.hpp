// The validated configuration of one generation: plain data, no behaviour.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ringproxy/cidr.hpp"
#include "ringproxy/host_port.hpp"

namespace ringproxy {

using Duration = std::chrono::milliseconds;

// Log verbosity, lowest first.
enum class LogLevel { trace, debug, info, warn, error };

// [server]: listeners, limits and client-side timeouts.
struct ServerConfig {
  std::vector<HostPort> listen{HostPort{"127.0.0.1", 8080}};
  unsigned workers = 0;  // 0 = one per CPU core (resolved by main, not here)
  std::size_t max_connections = 10000;
  Duration client_header_timeout{std::chrono::seconds(10)};
  Duration idle_timeout{std::chrono::seconds(60)};
  Duration drain_timeout{std::chrono::seconds(15)};
  std::size_t max_header_bytes = 16384;
  std::uint64_t max_body_bytes = 104857600;
  std::vector<Cidr> trusted_proxies;

  // The per-request limits, small enough to copy into a session.
  struct Limits {
    Duration client_header_timeout;
    Duration idle_timeout;
    std::size_t max_header_bytes;
    std::uint64_t max_body_bytes;
  };
  Limits limits() const {
    return {client_header_timeout, idle_timeout, max_header_bytes, max_body_bytes};
  }
};

// [admin]: the operator's listener.
struct AdminConfig {
  std::optional<HostPort> listen{HostPort{"127.0.0.1", 9901}};
};

// [log]: operational log level and the access log target.
struct LogConfig {
  LogLevel level = LogLevel::info;
  std::string access_log = "stdout";  // "stdout" | "off" | a file path
};

// One [[upstream.backend]].
struct BackendConfig {
  HostPort address;
  unsigned weight = 1;
  int line = 0;  // line of the backend's address key, for messages
};

// One [[upstream]]: a named pool of backends and how to talk to them.
struct UpstreamConfig {
  std::string name;
  std::string hash_key = "client_ip";  // validated: client_ip|uri|path|header:N|cookie:N|query:N
  std::string algorithm = "ring";      // validated: ring|maglev
  unsigned virtual_nodes = 160;
  double bounded_load = 0.0;
  Duration connect_timeout{std::chrono::seconds(1)};
  Duration response_timeout{std::chrono::seconds(30)};
  unsigned retries = 1;
  std::size_t max_idle_per_backend = 64;
  std::vector<BackendConfig> backends;
  int line = 0;
};

// One [[route]]; first match wins.
struct RouteConfig {
  std::optional<std::string> host;         // lower-cased; exact or "*.suffix"
  std::optional<std::string> path_prefix;  // starts with '/'
  std::string upstream;
  std::size_t upstream_index = 0;  // resolved index into Config::upstreams
  int line = 0;
};

// The whole file.
struct Config {
  std::string path;  // the file it came from
  ServerConfig server;
  AdminConfig admin;
  LogConfig log;
  std::vector<UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;
};

}  // namespace ringproxy
