// "host:port" addresses as written in the config file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringproxy {

// A listen or backend address; host is a name or an IP literal without brackets.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;

  // "127.0.0.1:8080" or "[::1]:8080".
  std::string to_string() const;
  bool operator==(const HostPort&) const = default;
};

// Parses "host:port" / "[v6]:port"; on failure returns nullopt and sets *error
// to a message such as `has no port` (the caller adds file, line and key).
std::optional<HostPort> parse_host_port(std::string_view text, std::string* error);

}  // namespace ringproxy
