// IP address literals and CIDR prefixes: strict parsing, prefix matching.
#include "config/cidr.hpp"

#include <charconv>
#include <vector>

namespace ringproxy {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Dotted quad with exactly four decimal parts 0..255; leading zeros are refused because
// inet_aton would read them as octal.
std::optional<std::array<std::uint8_t, 4>> parse_v4(std::string_view text) {
  std::array<std::uint8_t, 4> out{};
  std::size_t part = 0;
  std::size_t pos = 0;
  while (true) {
    std::size_t end = pos;
    while (end < text.size() && is_digit(text[end])) ++end;
    std::string_view digits = text.substr(pos, end - pos);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    if (digits.size() > 1 && digits.front() == '0') return std::nullopt;
    unsigned value = 0;
    for (char c : digits) value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > 255) return std::nullopt;
    out[part++] = static_cast<std::uint8_t>(value);
    if (end == text.size()) break;
    if (text[end] != '.' || part == 4) return std::nullopt;
    pos = end + 1;
  }
  if (part != 4) return std::nullopt;
  return out;
}

// Appends the 16-bit groups of one side of "::" to out; an empty side has none. With
// allow_v4 the last piece may be a dotted quad (two groups).
bool parse_v6_groups(std::string_view text, bool allow_v4, std::vector<std::uint16_t>& out) {
  if (text.empty()) return true;
  std::size_t pos = 0;
  while (true) {
    std::size_t colon = text.find(':', pos);
    std::string_view piece =
        text.substr(pos, colon == std::string_view::npos ? colon : colon - pos);
    bool last = colon == std::string_view::npos;
    if (last && allow_v4 && piece.find('.') != std::string_view::npos) {
      auto v4 = parse_v4(piece);
      if (!v4) return false;
      out.push_back(static_cast<std::uint16_t>(((*v4)[0] << 8) | (*v4)[1]));
      out.push_back(static_cast<std::uint16_t>(((*v4)[2] << 8) | (*v4)[3]));
      return true;
    }
    if (piece.empty() || piece.size() > 4) return false;
    unsigned value = 0;
    for (char c : piece) {
      int h = hex_value(c);
      if (h < 0) return false;
      value = value * 16 + static_cast<unsigned>(h);
    }
    out.push_back(static_cast<std::uint16_t>(value));
    if (last) return true;
    pos = colon + 1;
  }
}

std::optional<std::array<std::uint8_t, 16>> parse_v6(std::string_view text) {
  std::vector<std::uint16_t> head;
  std::vector<std::uint16_t> tail;
  std::size_t gap = text.find("::");
  if (gap == std::string_view::npos) {
    if (!parse_v6_groups(text, true, head) || head.size() != 8) return std::nullopt;
  } else {
    if (text.find("::", gap + 1) != std::string_view::npos) return std::nullopt;
    if (!parse_v6_groups(text.substr(0, gap), false, head)) return std::nullopt;
    if (!parse_v6_groups(text.substr(gap + 2), true, tail)) return std::nullopt;
    if (head.size() + tail.size() > 7) return std::nullopt;
  }
  std::array<std::uint8_t, 16> out{};
  std::size_t i = 0;
  for (std::uint16_t g : head) {
    out[i++] = static_cast<std::uint8_t>(g >> 8);
    out[i++] = static_cast<std::uint8_t>(g & 0xff);
  }
  i = 16 - tail.size() * 2;
  for (std::uint16_t g : tail) {
    out[i++] = static_cast<std::uint8_t>(g >> 8);
    out[i++] = static_cast<std::uint8_t>(g & 0xff);
  }
  return out;
}

// A v4-mapped v6 address (::ffff:a.b.c.d) becomes its v4 address; others are unchanged.
IpAddress unmap(const IpAddress& addr) {
  if (!addr.v6) return addr;
  for (std::size_t i = 0; i < 10; ++i) {
    if (addr.bytes[i] != 0) return addr;
  }
  if (addr.bytes[10] != 0xff || addr.bytes[11] != 0xff) return addr;
  IpAddress v4;
  for (std::size_t i = 0; i < 4; ++i) v4.bytes[i] = addr.bytes[12 + i];
  return v4;
}

// True when the first bits of a and b are equal.
bool same_prefix(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b,
                 unsigned bits) {
  std::size_t whole = bits / 8;
  for (std::size_t i = 0; i < whole; ++i) {
    if (a[i] != b[i]) return false;
  }
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  IpAddress addr;
  if (text.find(':') != std::string_view::npos) {
    auto bytes = parse_v6(text);
    if (!bytes) return std::nullopt;
    addr.v6 = true;
    addr.bytes = *bytes;
    return addr;
  }
  auto bytes = parse_v4(text);
  if (!bytes) return std::nullopt;
  for (std::size_t i = 0; i < 4; ++i) addr.bytes[i] = (*bytes)[i];
  return addr;
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string* error) {
  auto fail = [&](std::string message) -> std::optional<Cidr> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  std::size_t slash = text.find('/');
  std::string_view address = text.substr(0, slash);
  auto ip = IpAddress::parse(address);
  if (!ip) return fail("is not a valid IP address");
  unsigned max_len = ip->v6 ? 128 : 32;
  unsigned len = max_len;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    bool ok = !digits.empty() && digits.size() <= 3;
    for (char c : digits) ok = ok && is_digit(c);
    if (ok) std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (!ok || len > max_len) {
      return fail("has an invalid prefix length \"" + std::string(digits) + "\"");
    }
  }
  Cidr cidr;
  cidr.network = *ip;
  cidr.prefix_len = len;
  cidr.text = std::string(text);
  // Host bits are cleared, as nginx's set_real_ip_from does ("10.1.2.3/8" = 10.0.0.0/8).
  for (unsigned bit = len; bit < max_len; ++bit) {
    cidr.network.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return cidr;
}

bool Cidr::contains(const IpAddress& addr) const {
  // Compare within one family: a v4-mapped address is its v4 address, and a prefix inside
  // ::ffff:0:0/96 is the matching v4 prefix. "::/0" therefore does not cover IPv4 clients.
  IpAddress net = network;
  unsigned len = prefix_len;
  if (net.v6 && len >= 96) {
    IpAddress plain = unmap(net);
    if (!plain.v6) {
      net = plain;
      len -= 96;
    }
  }
  IpAddress ip = unmap(addr);
  if (ip.v6 != net.v6) return false;
  return same_prefix(ip.bytes, net.bytes, len);
}

}  // namespace ringproxy
