// Formatting of the RateLimit-Policy, RateLimit and Retry-After field values.
#include "policy/rate_limit_headers.hpp"

#include <algorithm>
#include <charconv>

namespace ringproxy {

namespace {

using rate_limit_detail::append_parameter;
using rate_limit_detail::append_sf_string;
using rate_limit_detail::clamp_unsigned;
using rate_limit_detail::kMaxSfInteger;

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
