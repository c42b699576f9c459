// Tests for the RateLimit-Policy, RateLimit and Retry-After field values
// (draft-ietf-httpapi-ratelimit-headers-11).
#include "policy/rate_limit_headers.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

namespace ringproxy {
namespace {

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kT0 = 1000 * kSec;

TEST(RateLimitHeaders, FieldSyntax) {
  EXPECT_EQ(format_rate_limit_policy("default", 100, 1), "\"default\";q=100;w=1");
  EXPECT_EQ(format_rate_limit("default", 42, 1), "\"default\";r=42;t=1");
  EXPECT_EQ(format_rate_limit("default", 0, 0), "\"default\";r=0;t=0");
  EXPECT_EQ(format_retry_after(7), "7");
}

TEST(RateLimitHeaders, FormattingIntoAStringReplacesItsTextAndKeepsItsBuffer) {
  std::string out = "left over from the last request, longer than any value";
  const auto* buffer = out.data();
  format_rate_limit(out, "default", 42, 1);
  EXPECT_EQ(out, "\"default\";r=42;t=1");
  EXPECT_EQ(out.data(), buffer);  // no allocation when the capacity suffices
  format_rate_limit(out, "p", 5, -3);
  EXPECT_EQ(out, format_rate_limit("p", 5, -3));
}

TEST(RateLimitHeaders, ValuesAreClampedToStructuredFieldIntegers) {
  EXPECT_EQ(format_rate_limit_policy("p", std::numeric_limits<std::uint64_t>::max(), 0),
            "\"p\";q=999999999999999;w=1");  // w at least 1
  EXPECT_EQ(format_rate_limit("p", 5, -3), "\"p\";r=5;t=0");
  EXPECT_EQ(format_rate_limit("p", 5, std::numeric_limits<std::int64_t>::max()),
            "\"p\";r=5;t=999999999999999");
  EXPECT_EQ(format_retry_after(0), "1");
  EXPECT_EQ(format_retry_after(-5), "1");
}

TEST(RateLimitHeaders, PolicyNameIsAnSfString) {
  EXPECT_EQ(format_rate_limit("a\"b\\c", 1, 1), "\"a\\\"b\\\\c\";r=1;t=1");
  EXPECT_EQ(format_rate_limit("tab\there", 1, 1), "\"tab?here\";r=1;t=1");
  EXPECT_EQ(format_rate_limit("caf\xc3\xa9", 1, 1), "\"caf??\";r=1;t=1");
  EXPECT_EQ(format_rate_limit("", 1, 1), "\"\";r=1;t=1");
}

TEST(RateLimitHeaders, WindowIsBurstOverRateRoundedUp) {
  EXPECT_EQ(rate_limit_window_seconds(100.0, 200), 2);
  EXPECT_EQ(rate_limit_window_seconds(10.0, 20), 2);
  EXPECT_EQ(rate_limit_window_seconds(3.0, 20), 7);
  EXPECT_EQ(rate_limit_window_seconds(0.5, 3), 6);
  EXPECT_EQ(rate_limit_window_seconds(1000.0, 5), 1);  // at least 1
  EXPECT_EQ(rate_limit_window_seconds(1.0, 1), 1);
}

TEST(RateLimitHeaders, AllowedResponse) {
  TokenBucket bucket(10.0, 20);  // a token every 100ms, full in 2s
  TakeResult r;
  for (int i = 0; i < 5; ++i) r = bucket.take(kT0);
  RateLimitHeaders h = rate_limit_headers("default", bucket.rule(), r);
  EXPECT_EQ(h.policy, "\"default\";q=20;w=2");
  EXPECT_EQ(h.limit, "\"default\";r=15;t=1");  // 500ms until full, rounded up
  EXPECT_EQ(h.retry_after, "");
  // A fresh client: nothing to wait for.
  TokenBucket fresh(10.0, 20);
  RateLimitHeaders first = rate_limit_headers("default", fresh.rule(), fresh.peek(kT0));
  EXPECT_EQ(first.limit, "\"default\";r=20;t=0");
}

TEST(RateLimitHeaders, RefusedResponse) {
  TokenBucket bucket(0.5, 3);  // a token every 2s, full in 6s
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(bucket.take(kT0).allowed);
  TakeResult r = bucket.take(kT0 + 500 * kMs);
  ASSERT_FALSE(r.allowed);
  RateLimitHeaders h = rate_limit_headers("api", bucket.rule(), r);
  EXPECT_EQ(h.policy, "\"api\";q=3;w=6");
  // 1.5s until the next token: Retry-After 2, and t the same (not the 5.5s until full), so that
  // Retry-After does not point before the end of the effective window.
  EXPECT_EQ(h.retry_after, "2");
  EXPECT_EQ(h.limit, "\"api\";r=0;t=2");
}

TEST(RateLimitHeaders, RetryAfterIsAtLeastOneSecond) {
  TokenBucket bucket(1000.0, 1);
  ASSERT_TRUE(bucket.take(kT0).allowed);
  TakeResult r = bucket.take(kT0);
  ASSERT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after, std::chrono::milliseconds(1));
  RateLimitHeaders h = rate_limit_headers("default", bucket.rule(), r);
  EXPECT_EQ(h.retry_after, "1");
  EXPECT_EQ(h.limit, "\"default\";r=0;t=1");
  EXPECT_EQ(h.policy, "\"default\";q=1;w=1");
}

}  // namespace
}  // namespace ringproxy
