// "host:port" parsing and printing for listen and backend addresses.
#include "config/host_port.hpp"

#include "config/cidr.hpp"

namespace ringproxy {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

// An IPv6 literal as found inside brackets, with an optional zone ("fe80::1%eth0").
bool valid_v6_host(std::string_view host) {
  std::size_t percent = host.find('%');
  if (percent != std::string_view::npos) {
    std::string_view zone = host.substr(percent + 1);
    if (zone.empty()) return false;
    for (char c : zone) {
      if (!is_alnum(c) && c != '.' && c != '-' && c != '_') return false;
    }
    host = host.substr(0, percent);
  }
  auto ip = IpAddress::parse(host);
  return ip && ip->v6;
}

// A DNS name or an IPv4 literal; empty labels ("a..b") are refused, a final dot is allowed.
std::optional<std::string> check_name_host(std::string_view host) {
  if (host.size() > 253) return "has an invalid host (longer than 253 characters)";
  bool numeric = true;
  for (std::size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    bool ok = is_alnum(c) || c == '-' || c == '_' || c == '.';
    if (!ok) return "has an invalid host " + quoted(host);
    if (c == '.' && (i == 0 || host[i - 1] == '.')) return "has an invalid host " + quoted(host);
    numeric = numeric && (is_digit(c) || c == '.');
  }
  if (host.front() == '-') return "has an invalid host " + quoted(host);
  // "1.2.3" or "256.0.0.1" would otherwise reach the resolver, which reads them oddly.
  if (numeric) {
    std::string_view literal = host.back() == '.' ? host.substr(0, host.size() - 1) : host;
    if (!IpAddress::parse(literal)) return "has an invalid IPv4 address " + quoted(host);
  }
  return std::nullopt;
}

}  // namespace

std::string HostPort::to_string() const {
  std::string port_text = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port_text;
  return host + ":" + port_text;
}

std::optional<HostPort> parse_host_port(std::string_view text, std::string* error) {
  auto fail = [&](std::string message) -> std::optional<HostPort> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  if (text.empty()) return fail("is empty");
  if (text.find("://") != std::string_view::npos)
    return fail("must be \"host:port\" without a scheme");
  std::string_view host;
  std::string_view port_text;
  if (text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("has an unclosed '['");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (host.empty()) return fail("has an empty host");
    if (!valid_v6_host(host)) return fail("has an invalid IPv6 address " + quoted(host));
    if (rest.empty()) return fail("has no port");
    if (rest.front() != ':') return fail("has unexpected text after ']'");
    port_text = rest.substr(1);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("has no port");
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return fail("is ambiguous: IPv6 address must be in brackets, like \"[::1]:8080\"");
    }
    if (host.empty()) return fail("has an empty host");
    if (auto problem = check_name_host(host)) return fail(*problem);
    port_text = text.substr(colon + 1);
  }
  if (port_text.empty()) return fail("has no port");
  bool digits = port_text.size() <= 5;
  unsigned value = 0;
  for (char c : port_text) {
    digits = digits && is_digit(c);
    if (digits) value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (!digits || value > 65535) return fail("has an invalid port " + quoted(port_text));
  return HostPort{std::string(host), static_cast<std::uint16_t>(value)};
}

}  // namespace ringproxy
