// Pure rules about HTTP header fields that a proxy applies (RFC 9110 §7.6.1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringproxy {

// True for the fixed hop-by-hop fields a proxy never forwards as received:
// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade.
// A field's name and value, borrowed (an HTTP/2 header block's entry, a head handed on as
// fields).
struct FieldView {
  std::string_view name;
  std::string_view value;
};

bool is_hop_by_hop(std::string_view name);
// (io/forwarded_head.cpp applies the same list by Beast's field code, on the request path.)

// True for the fields a proxy drops from a trailer section it passes on (RFC 9110 §6.5.1,
// RFC 9113 §8.1): message framing (Content-Length, Transfer-Encoding), routing (Host), the
// hop-by-hop fields, and pseudo-header names (":status"...).
bool is_forbidden_trailer(std::string_view name);

// True when the comma-separated Connection value lists name (case-insensitive).
bool connection_lists(std::string_view connection_value, std::string_view name);

// Calls f(token) for each comma-separated token of a list field, trimmed, non-empty.
template <class F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view token = list.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
      token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (!token.empty()) f(token);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// ASCII case-insensitive equality.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;  // inline: most calls end here
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] + 32) : a[i];
    const char y = (b[i] >= 'A' && b[i] <= 'Z') ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}

// True for methods RFC 9110 §9.2.2 calls idempotent (safe to retry).
bool is_idempotent_method(std::string_view method);

}  // namespace ringproxy
