// Tests for "host:port" parsing and printing.
#include <gtest/gtest.h>

#include "config/host_port.hpp"

namespace ringproxy {
namespace {

// One address that must parse.
struct GoodCase {
  std::string text;
  std::string host;
  std::uint16_t port;
  std::string printed;
};

TEST(HostPort, ParsesValidAddresses) {
  const GoodCase cases[] = {
      {"127.0.0.1:8080", "127.0.0.1", 8080, "127.0.0.1:8080"},
      {"localhost:80", "localhost", 80, "localhost:80"},
      {"[::1]:8080", "::1", 8080, "[::1]:8080"},
      {"[::]:0", "::", 0, "[::]:0"},
      {"0.0.0.0:65535", "0.0.0.0", 65535, "0.0.0.0:65535"},
      {"api.example.com:443", "api.example.com", 443, "api.example.com:443"},
      {"Backend-1.internal:9001", "Backend-1.internal", 9001, "Backend-1.internal:9001"},
      {"my_host:1", "my_host", 1, "my_host:1"},
      {"example.com.:80", "example.com.", 80, "example.com.:80"},
      {"[2001:db8::1]:443", "2001:db8::1", 443, "[2001:db8::1]:443"},
      {"[::ffff:10.0.0.1]:80", "::ffff:10.0.0.1", 80, "[::ffff:10.0.0.1]:80"},
      {"[fe80::1%eth0]:80", "fe80::1%eth0", 80, "[fe80::1%eth0]:80"},
      {"host:00080", "host", 80, "host:80"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    std::string error;
    auto hp = parse_host_port(c.text, &error);
    ASSERT_TRUE(hp.has_value()) << error;
    EXPECT_EQ(hp->host, c.host);
    EXPECT_EQ(hp->port, c.port);
    EXPECT_EQ(hp->to_string(), c.printed);
    EXPECT_TRUE(error.empty());
  }
}

// One address that must be refused, with the message expected.
struct BadCase {
  std::string text;
  std::string error;
};

TEST(HostPort, RejectsInvalidAddresses) {
  const BadCase cases[] = {
      {"", "is empty"},
      {"10.0.0.1", "has no port"},
      {"localhost", "has no port"},
      {"10.0.0.1:", "has no port"},
      {"[::1]", "has no port"},
      {"[::1]:", "has no port"},
      {":8080", "has an empty host"},
      {"[]:8080", "has an empty host"},
      {"10.0.0.1:99999", "has an invalid port \"99999\""},
      {"10.0.0.1:65536", "has an invalid port \"65536\""},
      {"10.0.0.1:http", "has an invalid port \"http\""},
      {"10.0.0.1:-1", "has an invalid port \"-1\""},
      {"10.0.0.1:+80", "has an invalid port \"+80\""},
      {"10.0.0.1: 80", "has an invalid port \" 80\""},
      {"10.0.0.1:8080 ", "has an invalid port \"8080 \""},
      {"10.0.0.1:1234567", "has an invalid port \"1234567\""},
      {"::1:8080", "is ambiguous: IPv6 address must be in brackets, like \"[::1]:8080\""},
      {"2001:db8::1:443", "is ambiguous: IPv6 address must be in brackets, like \"[::1]:8080\""},
      {"[::1:8080", "has an unclosed '['"},
      {"[::1]8080", "has unexpected text after ']'"},
      {"[1.2.3.4]:80", "has an invalid IPv6 address \"1.2.3.4\""},
      {"[::g]:80", "has an invalid IPv6 address \"::g\""},
      {"[fe80::1%]:80", "has an invalid IPv6 address \"fe80::1%\""},
      {"bad host:80", "has an invalid host \"bad host\""},
      {"a..b:80", "has an invalid host \"a..b\""},
      {".a:80", "has an invalid host \".a\""},
      {"-a:80", "has an invalid host \"-a\""},
      {"a/b:80", "has an invalid host \"a/b\""},
      {"256.0.0.1:80", "has an invalid IPv4 address \"256.0.0.1\""},
      {"1.2.3:80", "has an invalid IPv4 address \"1.2.3\""},
      {"010.0.0.1:80", "has an invalid IPv4 address \"010.0.0.1\""},
      {"http://x:80", "must be \"host:port\" without a scheme"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    std::string error;
    EXPECT_FALSE(parse_host_port(c.text, &error).has_value());
    EXPECT_EQ(error, c.error);
  }
}

TEST(HostPort, NullErrorPointerIsAllowed) {
  EXPECT_FALSE(parse_host_port("nope", nullptr).has_value());
  EXPECT_TRUE(parse_host_port("a:1", nullptr).has_value());
}

TEST(HostPort, LongHostIsRejected) {
  std::string host(254, 'a');
  std::string error;
  EXPECT_FALSE(parse_host_port(host + ":80", &error).has_value());
  EXPECT_EQ(error, "has an invalid host (longer than 253 characters)");
  EXPECT_TRUE(parse_host_port(std::string(253, 'a') + ":80", &error).has_value());
}

TEST(HostPort, Equality) {
  EXPECT_EQ((HostPort{"a", 1}), (HostPort{"a", 1}));
  EXPECT_NE((HostPort{"a", 1}), (HostPort{"a", 2}));
  EXPECT_NE((HostPort{"a", 1}), (HostPort{"b", 1}));
}

}  // namespace
}  // namespace ringproxy
