#include "policy/client_address.hpp"

#include <optional>

namespace ringproxy {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The address part of an X-Forwarded-For entry: "[v6]:port" and "[v6]" lose their brackets
// and port, "v4:port" its port; anything else is the entry itself.
std::string_view address_part(std::string_view entry) {
  if (!entry.empty() && entry.front() == '[') {
    const std::size_t close = entry.find(']');
    if (close == std::string_view::npos) return entry;
    return entry.substr(1, close - 1);
  }
  const std::size_t colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
    return entry.substr(0, colon);  // exactly one colon: an IPv4 address with a port
  }
  return entry;
}

bool is_trusted(const IpAddress& addr, const std::vector<Cidr>& trusted) {
  for (const auto& cidr : trusted) {
    if (cidr.contains(addr)) return true;
  }
  return false;
}

}  // namespace

std::string_view client_address(std::string_view peer_ip, std::string_view x_forwarded_for,
                                const std::vector<Cidr>& trusted_proxies) {
  if (trusted_proxies.empty()) return peer_ip;
  const auto peer = IpAddress::parse(peer_ip);
  if (!peer || !is_trusted(*peer, trusted_proxies)) return peer_ip;

  std::string_view client = peer_ip;  // the last valid address walked
  std::string_view rest = x_forwarded_for;
  while (!rest.empty()) {
    const std::size_t comma = rest.rfind(',');
    const std::string_view entry =
        trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    if (entry.empty()) continue;
    const std::string_view address = address_part(entry);
    const auto ip = IpAddress::parse(address);
    if (!ip) break;  // garbage: the hop right of it is the last one we can name
    client = address;
    if (!is_trusted(*ip, trusted_proxies)) break;
  }
  return client;
}

}  // namespace ringproxy
