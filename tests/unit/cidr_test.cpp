// Tests for IP address and CIDR parsing and prefix matching.
#include <gtest/gtest.h>

#include "config/cidr.hpp"

namespace ringproxy {
namespace {

IpAddress ip(std::string_view text) {
  auto addr = IpAddress::parse(text);
  EXPECT_TRUE(addr.has_value()) << text;
  return addr.value_or(IpAddress{});
}

// One address literal that must parse, with its expected bytes.
struct AddressCase {
  std::string text;
  bool v6;
  std::array<std::uint8_t, 16> bytes;
};

TEST(IpAddress, ParsesValidLiterals) {
  const AddressCase cases[] = {
      {"0.0.0.0", false, {}},
      {"127.0.0.1", false, {127, 0, 0, 1}},
      {"255.255.255.255", false, {255, 255, 255, 255}},
      {"10.0.0.0", false, {10}},
      {"::", true, {}},
      {"::1", true, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
      {"1::", true, {0, 1}},
      {"2001:db8::8:800:200c:417a",
       true,
       {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0x08, 0x08, 0x00, 0x20, 0x0c, 0x41, 0x7a}},
      {"2001:DB8:0:0:8:800:200C:417A",
       true,
       {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0x08, 0x08, 0x00, 0x20, 0x0c, 0x41, 0x7a}},
      {"::ffff:1.2.3.4", true, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4}},
      {"1:2:3:4:5:6:7.8.9.10", true, {0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 7, 8, 9, 10}},
      {"1:2:3:4:5:6:7::", true, {0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0}},
      {"::2:3:4:5:6:7:8", true, {0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8}},
      {"fe80::abcd", true, {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto addr = IpAddress::parse(c.text);
    ASSERT_TRUE(addr.has_value());
    EXPECT_EQ(addr->v6, c.v6);
    EXPECT_EQ(addr->bytes, c.bytes);
  }
}

TEST(IpAddress, RejectsInvalidLiterals) {
  const char* cases[] = {
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "1.2.3.-4",
      "01.2.3.4",
      "1.2.3.4 ",
      " 1.2.3.4",
      "1..3.4",
      "1.2.3.",
      "a.b.c.d",
      "1.2.3.1000",
      ":",
      ":::",
      "1:::2",
      "1::2::3",
      "12345::",
      "g::",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      ":1:2",
      "1:2:",
      "1:2:3:4:5:6:7:8::",
      "::1.2.3.4.5",
      "1.2.3.4::",
      "::1.2.3",
      "[::1]",
      "::1/128",
      "localhost",
      "fe80::1%eth0",
      "1:2:3:4:5:6:7::8",
  };
  for (const char* text : cases) {
    EXPECT_FALSE(IpAddress::parse(text).has_value()) << text;
  }
}

// One prefix that must parse.
struct CidrCase {
  std::string text;
  bool v6;
  unsigned prefix_len;
  std::string network;  // the expected network address, host bits cleared
};

TEST(Cidr, ParsesValidPrefixes) {
  const CidrCase cases[] = {
      {"10.0.0.0/8", false, 8, "10.0.0.0"},
      {"192.168.1.7", false, 32, "192.168.1.7"},
      {"192.168.1.7/24", false, 24, "192.168.1.0"},
      {"0.0.0.0/0", false, 0, "0.0.0.0"},
      {"10.255.255.255/9", false, 9, "10.128.0.0"},
      {"::1/128", true, 128, "::1"},
      {"::1", true, 128, "::1"},
      {"::/0", true, 0, "::"},
      {"2001:db8:ffff::1/32", true, 32, "2001:db8::"},
      {"fe80::/10", true, 10, "fe80::"},
      {"febf::/10", true, 10, "fe80::"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    std::string error;
    auto cidr = Cidr::parse(c.text, &error);
    ASSERT_TRUE(cidr.has_value()) << error;
    EXPECT_EQ(cidr->network.v6, c.v6);
    EXPECT_EQ(cidr->prefix_len, c.prefix_len);
    EXPECT_EQ(cidr->network.bytes, ip(c.network).bytes);
    EXPECT_EQ(cidr->text, c.text);
  }
}

// One prefix that must be refused, with its message.
struct BadCidrCase {
  std::string text;
  std::string error;
};

TEST(Cidr, RejectsInvalidPrefixes) {
  const BadCidrCase cases[] = {
      {"", "is not a valid IP address"},
      {"/8", "is not a valid IP address"},
      {"10.0.0/8", "is not a valid IP address"},
      {"300.0.0.0/8", "is not a valid IP address"},
      {"example.com/8", "is not a valid IP address"},
      {"[::1]/128", "is not a valid IP address"},
      {"10.0.0.0/33", "has an invalid prefix length \"33\""},
      {"10.0.0.0/", "has an invalid prefix length \"\""},
      {"10.0.0.0/-1", "has an invalid prefix length \"-1\""},
      {"10.0.0.0/8/8", "has an invalid prefix length \"8/8\""},
      {"10.0.0.0/ 8", "has an invalid prefix length \" 8\""},
      {"10.0.0.0/0008", "has an invalid prefix length \"0008\""},
      {"10.0.0.0/x", "has an invalid prefix length \"x\""},
      {"::1/129", "has an invalid prefix length \"129\""},
      {"::/1000", "has an invalid prefix length \"1000\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    std::string error;
    EXPECT_FALSE(Cidr::parse(c.text, &error).has_value());
    EXPECT_EQ(error, c.error);
  }
  EXPECT_FALSE(Cidr::parse("bad", nullptr).has_value());
}

// One containment question.
struct ContainsCase {
  std::string cidr;
  std::string address;
  bool inside;
};

TEST(Cidr, Contains) {
  const ContainsCase cases[] = {
      {"10.0.0.0/8", "10.1.2.3", true},
      {"10.0.0.0/8", "10.255.255.255", true},
      {"10.0.0.0/8", "11.0.0.0", false},
      {"10.0.0.0/8", "9.255.255.255", false},
      {"192.168.1.7", "192.168.1.7", true},
      {"192.168.1.7", "192.168.1.8", false},
      {"172.16.0.0/12", "172.31.255.255", true},
      {"172.16.0.0/12", "172.32.0.0", false},
      {"0.0.0.0/0", "203.0.113.9", true},
      {"10.0.0.0/9", "10.127.0.1", true},
      {"10.0.0.0/9", "10.128.0.1", false},
      // v4-mapped v6 addresses match v4 prefixes.
      {"10.0.0.0/8", "::ffff:10.1.2.3", true},
      {"10.0.0.0/8", "::ffff:11.1.2.3", false},
      {"0.0.0.0/0", "::ffff:1.2.3.4", true},
      {"127.0.0.1", "::ffff:127.0.0.1", true},
      // a v4 prefix written in mapped form matches v4 and mapped addresses.
      {"::ffff:10.0.0.0/104", "10.9.9.9", true},
      {"::ffff:10.0.0.0/104", "::ffff:10.9.9.9", true},
      {"::ffff:10.0.0.0/104", "11.0.0.1", false},
      // families do not mix otherwise.
      {"10.0.0.0/8", "::1", false},
      {"10.0.0.0/8", "a00::1", false},
      {"::/0", "1.2.3.4", false},
      {"::/0", "::ffff:1.2.3.4", false},
      {"::/0", "2001:db8::1", true},
      {"::1/128", "::1", true},
      {"::1/128", "::2", false},
      {"::1/128", "127.0.0.1", false},
      {"2001:db8::/32", "2001:db8:1234::1", true},
      {"2001:db8::/32", "2001:db9::1", false},
      {"fe80::/10", "febf::1", true},
      {"fe80::/10", "fec0::1", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.cidr + " contains " + c.address);
    auto cidr = Cidr::parse(c.cidr, nullptr);
    ASSERT_TRUE(cidr.has_value());
    EXPECT_EQ(cidr->contains(ip(c.address)), c.inside);
  }
}

}  // namespace
}  // namespace ringproxy
