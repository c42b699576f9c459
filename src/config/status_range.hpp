// The expected-status range of a health check, as the config names it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ringproxy {

// An inclusive range of HTTP status codes a health check expects, e.g. 200-399. Plain data.
struct StatusRange {
  int low = 200;
  int high = 399;

  bool contains(int status) const { return status >= low && status <= high; }
  // "200-399", or "204" for a single code.
  std::string to_string() const;
  bool operator==(const StatusRange&) const = default;
};

// Parses "200-399" (low-high, low <= high) or "200" (one code); codes are three digits,
// 100..599, with no sign, spaces or other text. nullopt on anything else.
std::optional<StatusRange> parse_status_range(std::string_view text);

}  // namespace ringproxy
