// 200 MB bodies through the proxy both ways, with the proxy's memory staying bounded.

#include <gtest/gtest.h>

#include <string>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kBigBody = 200 * kMiB;
// What the proxy's resident memory may grow by while it carries one 200 MB body. Growth, not
// the whole: the sanitizer builds start at several times the normal build's size (ASan's
// shadow of every library mapped, OpenSSL's included).
constexpr long kMaxProxyRssGrowthKb = 64 * 1024;

// One origin behind a proxy whose max_body_bytes admits the 200 MB uploads.
class StreamingTest : public ProxyTest {
 protected:
  void SetUp() override {
    start_origins(1);
    ASSERT_TRUE(
        start_proxy(ProxyOptions().server("max_body_bytes = " + std::to_string(300 * kMiB))));
    started_rss_kb_ = proxy_->rss_kb();
    ASSERT_GT(started_rss_kb_, 0);
  }
  static std::uint64_t big_fnv() {
    static const std::uint64_t fnv = pattern_fnv1a64(kBigBody);
    return fnv;
  }
  void expect_small_proxy_rss() {
    const long peak = proxy_->peak_rss_kb();
    ASSERT_GT(peak, 0);
    RecordProperty("proxy_peak_rss_kb", std::to_string(peak));
    EXPECT_LT(peak - started_rss_kb_, kMaxProxyRssGrowthKb)
        << "proxy peak RSS " << peak << " kB after " << started_rss_kb_ << " kB at start";
  }
  long started_rss_kb_ = 0;
};

TEST_F(StreamingTest, Upload200MBWithContentLength) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->upload("/upload", kBigBody, /*chunked=*/false);
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(echo_line(r.body, "body-bytes"), std::to_string(kBigBody));
  EXPECT_EQ(echo_line(r.body, "body-fnv"), fnv_hex(big_fnv()));
  auto seen = origin().last_request();
  EXPECT_EQ(seen.body_bytes, kBigBody);
  EXPECT_EQ(seen.body_fnv1a64, big_fnv());
  expect_small_proxy_rss();
}

TEST_F(StreamingTest, Upload200MBChunked) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->upload("/upload-chunked", kBigBody, /*chunked=*/true);
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(echo_line(r.body, "body-bytes"), std::to_string(kBigBody));
  EXPECT_EQ(echo_line(r.body, "body-fnv"), fnv_hex(big_fnv()));
  auto seen = origin().last_request();
  EXPECT_EQ(seen.body_bytes, kBigBody);
  EXPECT_EQ(seen.body_fnv1a64, big_fnv());
  expect_small_proxy_rss();
}

TEST_F(StreamingTest, Download200MB) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->download("/download?bytes=" + std::to_string(kBigBody));
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(r.complete) << r.error;
  EXPECT_TRUE(r.pattern_ok);
  EXPECT_EQ(r.bytes, kBigBody);
  expect_small_proxy_rss();
  // The connection is reusable after the big body.
  auto after = client->get("/after");
  EXPECT_EQ(after.status, 200) << after.error;
}

}  // namespace
}  // namespace ringproxy::test
