// Tests for finding the client address behind trusted proxies (X-Forwarded-For).
#include "policy/client_address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringproxy {
namespace {

std::vector<Cidr> cidrs(std::initializer_list<std::string_view> texts) {
  std::vector<Cidr> out;
  for (auto t : texts) {
    auto c = Cidr::parse(t, nullptr);
    EXPECT_TRUE(c) << t;
    if (c) out.push_back(*c);
  }
  return out;
}

struct Case {
  std::string_view peer;
  std::string_view xff;
  std::string_view client;
  std::string_view why;
};

TEST(ClientAddress, WalksForwardedForFromTheRight) {
  const auto trusted = cidrs({"10.0.0.0/8", "::1", "2001:db8:ffff::/48"});
  const Case cases[] = {
      {"203.0.113.9", "1.2.3.4", "203.0.113.9", "peer not trusted: header ignored"},
      {"10.0.0.1", "", "10.0.0.1", "no header"},
      {"10.0.0.1", "   ", "10.0.0.1", "blank header"},
      {"10.0.0.1", "1.2.3.4", "1.2.3.4", "one hop"},
      {"10.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4", "left of the first untrusted is spoofable"},
      {"10.0.0.1", "1.2.3.4, 10.0.0.7", "1.2.3.4", "trusted hops skipped"},
      {"10.0.0.1", "1.2.3.4,10.9.9.9,10.0.0.7", "1.2.3.4", "several trusted hops"},
      {"10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3", "all trusted: the leftmost"},
      {"10.0.0.1", " 1.2.3.4 ,\t10.0.0.2 ", "1.2.3.4", "entries trimmed"},
      {"10.0.0.1", "1.2.3.4,, 10.0.0.2,", "1.2.3.4", "empty entries skipped"},
      {"10.0.0.1", "unknown", "10.0.0.1", "garbage only: the peer"},
      {"10.0.0.1", "1.2.3.4, unknown", "10.0.0.1", "garbage rightmost: the peer"},
      {"10.0.0.1", "1.2.3.4, unknown, 10.0.0.2", "10.0.0.2", "garbage stops the walk"},
      {"10.0.0.1", "1.2.3.4:5678", "1.2.3.4", "v4 with port"},
      {"10.0.0.1", "[2001:db8::1]:443", "2001:db8::1", "v6 with port"},
      {"10.0.0.1", "2001:db8::1", "2001:db8::1", "bare v6"},
      {"::1", "2001:db8::1, 2001:db8:ffff::5", "2001:db8::1", "v6 peer and hops"},
      {"::ffff:10.0.0.1", "1.2.3.4", "1.2.3.4", "v4-mapped peer matches a v4 prefix"},
      {"not-an-ip", "1.2.3.4", "not-an-ip", "unparsable peer is not trusted"},
      {"10.0.0.1", "1.2.3.04", "10.0.0.1", "leading zero is not an address"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(client_address(c.peer, c.xff, trusted), c.client) << c.why;
  }
}

TEST(ClientAddress, NoTrustedProxiesMeansThePeer) {
  EXPECT_EQ(client_address("10.0.0.1", "1.2.3.4", {}), "10.0.0.1");
}

TEST(ClientAddress, ReturnsAViewIntoTheInput) {
  const auto trusted = cidrs({"10.0.0.0/8"});
  const std::string xff = "5.6.7.8, 10.0.0.2";
  const std::string_view got = client_address("10.0.0.1", xff, trusted);
  EXPECT_EQ(got, "5.6.7.8");
  EXPECT_EQ(got.data(), xff.data());
}

}  // namespace
}  // namespace ringproxy
