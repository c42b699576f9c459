// Duration strings from the config file: "250ms", "1.5s", "1m", "2h".
#include <cstdint>
#include <limits>

#include "config/config_loader.hpp"

namespace ringproxy {

std::optional<Duration> parse_duration(std::string_view text) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::size_t pos = 0;
  auto is_digit = [&](std::size_t i) {
    return i < text.size() && text[i] >= '0' && text[i] <= '9';
  };

  std::int64_t whole = 0;
  std::size_t start = pos;
  for (; is_digit(pos); ++pos) {
    int digit = text[pos] - '0';
    if (whole > (kMax - digit) / 10) return std::nullopt;
    whole = whole * 10 + digit;
  }
  if (pos == start) return std::nullopt;  // no leading digit: "", "-1s", ".5s", "ms"

  // Up to 9 fractional digits count; further ones only have to be digits.
  std::int64_t fraction = 0;
  std::int64_t scale = 1;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    start = pos;
    for (; is_digit(pos); ++pos) {
      if (pos - start < 9) {
        fraction = fraction * 10 + (text[pos] - '0');
        scale *= 10;
      }
    }
    if (pos == start) return std::nullopt;  // "1.s"
  }

  std::string_view unit = text.substr(pos);
  std::int64_t unit_ms = 0;
  if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "s") {
    unit_ms = 1000;
  } else if (unit == "m") {
    unit_ms = 60 * 1000;
  } else if (unit == "h") {
    unit_ms = 60 * 60 * 1000;
  } else {
    return std::nullopt;
  }

  if (whole > kMax / unit_ms) return std::nullopt;
  std::int64_t ms = whole * unit_ms;
  std::int64_t extra = (fraction * unit_ms + scale / 2) / scale;  // rounded to the nearest ms
  if (ms > kMax - extra) return std::nullopt;
  return Duration(ms + extra);
}

}  // namespace ringproxy
