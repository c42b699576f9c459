// Formatting of the RateLimit-Policy, RateLimit and Retry-After field values.
#include "policy/rate_limit_headers.hpp"

#include <algorithm>
#include <charconv>

namespace ringproxy {

namespace {

// The largest sf-integer (RFC 9651 section 3.3.1: at most 15 digits).
constexpr std::int64_t kMaxSfInteger = 999'999'999'999'999;

void append_sf_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c < 0x20 || c > 0x7e) {  // also every byte >= 0x80 (char may be signed)
      out += '?';
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_parameter(std::string& out, char name, std::int64_t value) {
  char text[24] = {';', name, '='};
  const auto [end, ec] = std::to_chars(text + 3, text + sizeof(text),
                                       std::clamp<std::int64_t>(value, 0, kMaxSfInteger));
  out.append(text, static_cast<std::size_t>(end - text));
}

std::int64_t clamp_unsigned(std::uint64_t value) {
  return static_cast<std::int64_t>(std::min<std::uint64_t>(value, kMaxSfInteger));
}

}  // namespace

std::string format_rate_limit_policy(std::string_view name, std::uint64_t quota,
                                     std::int64_t window_seconds) {
  std::string out;
  out.reserve(name.size() + 32);
  append_sf_string(out, name);
  append_parameter(out, 'q', clamp_unsigned(quota));
  append_parameter(out, 'w', std::max<std::int64_t>(window_seconds, 1));
  return out;
}

std::string format_rate_limit(std::string_view name, std::uint64_t remaining,
                              std::int64_t effective_window_seconds) {
  std::string out;
  format_rate_limit(out, name, remaining, effective_window_seconds);
  return out;
}

void format_rate_limit(std::string& out, std::string_view name, std::uint64_t remaining,
                       std::int64_t effective_window_seconds) {
  out.clear();
  out.reserve(name.size() + 32);
  append_sf_string(out, name);
  append_parameter(out, 'r', clamp_unsigned(remaining));
  append_parameter(out, 't', effective_window_seconds);
}

std::string format_retry_after(std::int64_t seconds) {
  return std::to_string(std::clamp<std::int64_t>(seconds, 1, kMaxSfInteger));
}

std::int64_t rate_limit_window_seconds(double rate, std::uint64_t burst) {
  return TokenBucketRule(rate, burst).window_seconds();
}

RateLimitHeaders rate_limit_headers(std::string_view name, const TokenBucketRule& rule,
                                    const TakeResult& result) {
  RateLimitHeaders headers;
  headers.policy = format_rate_limit_policy(name, rule.burst(), rule.window_seconds());
  if (result.allowed) {
    headers.limit = format_rate_limit(name, result.remaining, result.reset_seconds());
  } else {
    std::int64_t retry = result.retry_after_seconds();
    headers.limit = format_rate_limit(name, result.remaining, retry);
    headers.retry_after = format_retry_after(retry);
  }
  return headers;
}

}  // namespace ringproxy
