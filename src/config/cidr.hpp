// IPv4/IPv6 network prefixes, for server.trusted_proxies.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringproxy {

// A parsed IP address (v4 stored as v4, not v4-mapped).
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4

  static std::optional<IpAddress> parse(std::string_view text);
};

// An address prefix such as 10.0.0.0/8 or ::1/128; a bare address is a full-length prefix.
struct Cidr {
  IpAddress network;
  unsigned prefix_len = 0;
  std::string text;

  static std::optional<Cidr> parse(std::string_view text, std::string* error);
  // True when addr lies inside; a v4-mapped v6 address matches v4 prefixes.
  bool contains(const IpAddress& addr) const;
};

}  // namespace ringproxy
