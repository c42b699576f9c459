// Expected-status ranges of health checks (see status_range.hpp).
#include "config/status_range.hpp"

namespace ringproxy {

std::string StatusRange::to_string() const {
  if (low == high) return std::to_string(low);
  return std::to_string(low) + "-" + std::to_string(high);
}

namespace {

// A three-digit status code 100..599, or -1.
int parse_code(std::string_view text) {
  if (text.size() != 3) return -1;
  int code = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    code = code * 10 + (c - '0');
  }
  return code >= 100 && code <= 599 ? code : -1;
}

}  // namespace

std::optional<StatusRange> parse_status_range(std::string_view text) {
  std::size_t dash = text.find('-');
  std::string_view first = text.substr(0, dash);
  int low = parse_code(first);
  if (low < 0) return std::nullopt;
  if (dash == std::string_view::npos) return StatusRange{low, low};
  int high = parse_code(text.substr(dash + 1));
  if (high < 0 || high < low) return std::nullopt;
  return StatusRange{low, high};
}

}  // namespace ringproxy
