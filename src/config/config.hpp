// The validated configuration of one generation: plain data, no behaviour.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/cidr.hpp"
#include "config/hash_key_spec.hpp"
#include "config/host_port.hpp"
#include "config/status_range.hpp"

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
  // A request body up to this size is read whole before a backend is picked (a slow uploader
  // pins no backend connection); larger ones stream; 0 = always stream. Routes may override.
  std::size_t request_buffer_bytes = 65536;
  // All bodies buffered at once, over every worker; beyond it, bodies stream.
  std::uint64_t request_buffer_total = 64 * 1024 * 1024;
  // Upgrade tokens (lower case) tunnelled to backends after a 101; never "h2c".
  std::vector<std::string> upgrade_protocols{"websocket"};
  // A tunnel with no byte either way for this long is closed.
  Duration tunnel_idle_timeout{std::chrono::hours(1)};
  // Also accept HTTP/2 with prior knowledge (RFC 9113 §3.3) on the cleartext listeners.
  bool h2c = false;

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
  int line = 0;    // line of the backend's address key, for messages
  std::string id;  // optional stable identity for hashing; empty = the address
};

// [upstream.health_check]: active checks of every backend of the upstream.
struct HealthCheckConfig {
  std::string path = "/healthz";  // starts with '/'; no spaces or control characters
  Duration interval{std::chrono::seconds(2)};
  Duration timeout{std::chrono::seconds(1)};  // <= interval
  unsigned healthy_threshold = 2;             // consecutive passes to mark up, >= 1
  unsigned unhealthy_threshold = 3;           // consecutive fails to mark down, >= 1
  StatusRange expected_status{200, 399};
  int line = 0;  // line of the table
};

// [upstream.circuit_breaker]: a breaker and a concurrency cap per backend of the upstream.
struct CircuitBreakerConfig {
  unsigned failure_threshold = 5;  // consecutive failures that open it, >= 1
  Duration open_duration{std::chrono::seconds(10)};
  unsigned half_open_requests = 1;  // trials let through while half-open, >= 1
  unsigned max_concurrent = 0;      // in-flight requests per backend; 0 = no limit
  int line = 0;                     // line of the table
};

// An upstream's tls = { ... }: TLS to its backends.
struct UpstreamTlsConfig {
  std::string ca;           // PEM file of trusted CAs; empty: the system's default paths
  std::string server_name;  // SNI and the name verified; empty: the backend's host
  bool verify = true;       // verify the backend's certificate chain and name
  int line = 0;             // line of the tls key
  int ca_line = 0;
  bool operator==(const UpstreamTlsConfig&) const = default;
};

// How an upstream's backends are spoken to (upstream protocol).
enum class UpstreamProtocol {
  http1,  // HTTP/1.1 (over TLS with tls = {...})
  h2,     // HTTP/2 over TLS, agreed by ALPN (needs tls = {...})
  h2c,    // HTTP/2 over cleartext TCP, with prior knowledge
};

// One [[upstream]]: a named pool of backends and how to talk to them.
struct UpstreamConfig {
  std::string name;
  HashKeySpec hash_key;  // client_ip|uri|path|header:N|cookie:N|query:N
  Algorithm algorithm = Algorithm::ring;
  unsigned virtual_nodes = 160;
  double bounded_load = 0.0;
  Duration connect_timeout{std::chrono::seconds(1)};
  Duration response_timeout{std::chrono::seconds(30)};
  unsigned retries = 1;
  // Pooled connections per backend and worker; by default as many as the load opened
  // (bounded by server.max_connections per worker and 60 s idle).
  static constexpr std::size_t kKeepWhatLoadOpens = SIZE_MAX;
  std::size_t max_idle_per_backend = kKeepWhatLoadOpens;
  std::vector<BackendConfig> backends;
  std::optional<HealthCheckConfig> health_check;        // absent: no active checks
  std::optional<CircuitBreakerConfig> circuit_breaker;  // absent: no breaker, no cap
  std::optional<UpstreamTlsConfig> tls;                 // absent: cleartext to backends
  UpstreamProtocol protocol = UpstreamProtocol::http1;
  int line = 0;
};

// Where a rate limit's buckets live.
enum class LimitScope {
  local,   // in this process
  global,  // in Redis, shared by every instance pointing at it (leased in slices)
};

// What a global limit does when Redis cannot answer within redis_timeout.
enum class RedisErrorPolicy {
  allow,  // the local tier (this process's buckets, same rule) decides
  deny,   // 503
};

// The [rate_limit] keys of a global limit; a route's override inherits them unless it sets them.
struct GlobalLimitConfig {
  LimitScope scope = LimitScope::local;
  HostPort redis{"127.0.0.1", 6379};
  Duration redis_timeout{5};  // a request waits at most this long for Redis
  RedisErrorPolicy on_redis_error = RedisErrorPolicy::allow;
  double lease = 0.1;  // share of burst taken from Redis at a time, (0, 1]
  bool operator==(const GlobalLimitConfig&) const = default;
};

// [rate_limit], or a route's rate_limit override: a token bucket per client key.
struct RateLimitConfig {
  RateLimitKey key;                   // client_ip|header:NAME
  double rate = 100.0;                // tokens added per second, > 0
  unsigned burst = 200;               // bucket capacity, >= 1; a new client starts full
  std::size_t max_clients = 1000000;  // memory bound on tracked clients, >= 1
  GlobalLimitConfig global;           // scope and, for "global", Redis
  int line = 0;  // line of the [rate_limit] table, or of the route's rate_limit key
};

// What a route does about rate limits.
enum class RouteRateLimit {
  inherit,   // the default [rate_limit], if any (its buckets are shared across routes)
  off,       // rate_limit = "off": none
  override,  // rate_limit = { ... }: its own rule and buckets
};

// One [[route]]; first match wins.
struct RouteConfig {
  std::optional<std::string> host;         // lower-cased; exact or "*.suffix"
  std::optional<std::string> path_prefix;  // starts with '/'
  std::string upstream;
  std::size_t upstream_index = 0;  // resolved index into Config::upstreams
  RouteRateLimit rate_limit_mode = RouteRateLimit::inherit;
  // Set for an override only; resolved: key inherited from [rate_limit] (or "client_ip") when
  // the override does not set one.
  std::optional<RateLimitConfig> rate_limit;
  // request_buffer_bytes for this route's requests; absent: server.request_buffer_bytes.
  std::optional<std::size_t> request_buffer_bytes;
  int line = 0;
};

// The oldest TLS version a TLS listener accepts (older ones are always refused).
enum class TlsVersion { v1_2, v1_3 };

// One [[tls.certificate]]: a PEM chain and its key, and the SNI names it serves.
struct TlsCertificateConfig {
  std::string cert;                       // PEM chain, leaf first
  std::string key;                        // PEM private key
  std::vector<std::string> server_names;  // lower-cased; exact or "*.suffix"; [] = its SAN names
  int line = 0;                           // line of the table
  int cert_line = 0;
  int key_line = 0;
};

// [tls.client_auth]: mutual TLS on the TLS listeners.
struct TlsClientAuthConfig {
  std::string ca;        // PEM file of the CAs client certificates must chain to
  bool required = true;  // false: ask, and pass on the verified subject when there is one
  int line = 0;
  int ca_line = 0;
};

// [tls]: the TLS listeners and what they serve.
struct TlsConfig {
  std::vector<HostPort> listen;
  TlsVersion min_version = TlsVersion::v1_2;
  std::string ciphers;  // TLS 1.2 cipher list (OpenSSL syntax); empty: a secure default
  bool session_tickets = true;
  Duration handshake_timeout{std::chrono::seconds(10)};
  std::vector<TlsCertificateConfig> certificates;  // at least one; the first is the default
  std::optional<TlsClientAuthConfig> client_auth;
  int line = 0;
  int ciphers_line = 0;
};

// The whole file.
struct Config {
  std::string path;  // the file it came from
  ServerConfig server;
  AdminConfig admin;
  LogConfig log;
  std::vector<UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;
  std::optional<RateLimitConfig> rate_limit;  // [rate_limit]: the default for every route
  std::optional<TlsConfig> tls;               // [tls]: absent, no TLS listeners
};

}  // namespace ringproxy
