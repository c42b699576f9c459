// The response fields of a rate limit: RateLimit-Policy and RateLimit as defined by the IETF
// httpapi draft "RateLimit header fields for HTTP", draft-ietf-httpapi-ratelimit-headers-11
// (23 May 2026; the field syntax is unchanged since -08), and Retry-After (RFC 9110). Pure.
//
// Both fields are Structured Field Lists (RFC 9651) of one Item, a String naming the policy,
// with Integer parameters:
//   RateLimit-Policy: "default";q=200;w=2    q = quota (tokens), w = window (seconds)
//   RateLimit: "default";r=42;t=1            r = remaining quota, t = effective window (seconds)
// A token bucket of `burst` tokens refilling at `rate` per second is advertised as q = burst per
// w = ceil(burst / rate) seconds (the time an empty bucket takes to fill).
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "policy/token_bucket.hpp"

namespace ringproxy {

// The three field values for one response. Plain data.
struct RateLimitHeaders {
  std::string policy;       // RateLimit-Policy
  std::string limit;        // RateLimit
  std::string retry_after;  // Retry-After; empty when the request was allowed
};

// `"name";q=QUOTA;w=WINDOW`. name becomes an sf-string: '"' and '\' are escaped and bytes outside
// printable ASCII become '?'. Integers are clamped to the sf-integer range (15 digits) and w to
// at least 1.
std::string format_rate_limit_policy(std::string_view name, std::uint64_t quota,
                                     std::int64_t window_seconds);
// `"name";r=REMAINING;t=SECONDS`, with the same rules (t at least 0).
std::string format_rate_limit(std::string_view name, std::uint64_t remaining,
                              std::int64_t effective_window_seconds);
// The same into out (any string type; cleared first), reusing its capacity.
template <class String>
void format_rate_limit(String& out, std::string_view name, std::uint64_t remaining,
                       std::int64_t effective_window_seconds);
// Whole seconds, at least 1 (a delay-seconds value).
std::string format_retry_after(std::int64_t seconds);
// The window of a (rate, burst) bucket: ceil(burst / rate) seconds, at least 1 (as the bucket
// counts it: burst x ceil(1e9 / rate) nanoseconds).
std::int64_t rate_limit_window_seconds(double rate, std::uint64_t burst);

// The fields for one take() on a bucket of rule, under policy name:
//  - RateLimit-Policy: q = burst, w = rule.window_seconds();
//  - RateLimit: r = the whole tokens left; t = the seconds until the bucket is full again
//    (rounded up) when allowed, and when refused the Retry-After value, so that Retry-After
//    never points earlier than the end of the effective window (draft section 6);
//  - Retry-After (refused only): the seconds until a token is due, rounded up, at least 1.
RateLimitHeaders rate_limit_headers(std::string_view name, const TokenBucketRule& rule,
                                    const TakeResult& result);

namespace rate_limit_detail {

// The largest sf-integer (RFC 9651 section 3.3.1: at most 15 digits).
constexpr std::int64_t kMaxSfInteger = 999'999'999'999'999;

template <class String>
void append_sf_string(String& out, std::string_view text) {
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

template <class String>
void append_parameter(String& out, char name, std::int64_t value) {
  char text[24] = {';', name, '='};
  const auto [end, ec] = std::to_chars(text + 3, text + sizeof(text),
                                       std::clamp<std::int64_t>(value, 0, kMaxSfInteger));
  out.append(text, static_cast<std::size_t>(end - text));
}

inline std::int64_t clamp_unsigned(std::uint64_t value) {
  return static_cast<std::int64_t>(std::min<std::uint64_t>(value, kMaxSfInteger));
}

}  // namespace rate_limit_detail

template <class String>
void format_rate_limit(String& out, std::string_view name, std::uint64_t remaining,
                       std::int64_t effective_window_seconds) {
  out.clear();
  out.reserve(name.size() + 32);
  rate_limit_detail::append_sf_string(out, name);
  rate_limit_detail::append_parameter(out, 'r', rate_limit_detail::clamp_unsigned(remaining));
  rate_limit_detail::append_parameter(out, 't', effective_window_seconds);
}

}  // namespace ringproxy
