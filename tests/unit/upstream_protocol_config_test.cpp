// The upstream protocol key: "http1" | "h2" (with tls) | "h2c" (without), errors with lines.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config_loader.hpp"

namespace ringproxy {
namespace {

std::vector<std::string> errors_of(const std::string& text) {
  ConfigLoadResult result = load_config_text(text, "x.toml");
  std::vector<std::string> out;
  for (const auto& e : result.errors) out.push_back(e.to_string());
  EXPECT_EQ(result.config.has_value(), out.empty());
  return out;
}

std::string upstream(const std::string& name, const std::string& lines) {
  return "\n[[upstream]]\nname = \"" + name + "\"\n" + lines +
         "backend = [{address = \"127.0.0.1:9001\"}]\n";
}

TEST(UpstreamProtocolConfig, EachProtocolIsRead) {
  const ConfigLoadResult r =
      load_config_text(upstream("a", "") + upstream("b", "protocol = \"http1\"\n") +
                           upstream("c", "protocol = \"h2c\"\n") +
                           upstream("d", "protocol = \"h2\"\ntls = { ca = \"ca.crt\" }\n"),
                       "x.toml");
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.config->upstreams.size(), 4u);
  EXPECT_EQ(r.config->upstreams[0].protocol, UpstreamProtocol::http1);
  EXPECT_EQ(r.config->upstreams[1].protocol, UpstreamProtocol::http1);
  EXPECT_EQ(r.config->upstreams[2].protocol, UpstreamProtocol::h2c);
  EXPECT_EQ(r.config->upstreams[3].protocol, UpstreamProtocol::h2);
}

TEST(UpstreamProtocolConfig, MismatchesAreErrorsWithTheirLine) {
  const std::vector<std::string> errors =
      errors_of(upstream("a", "protocol = \"http2\"\n") + upstream("b", "protocol = \"h2\"\n") +
                upstream("c", "protocol = \"h2c\"\ntls = {}\n") + upstream("d", "protocol = 2\n"));
  const std::vector<std::string> expected = {
      "x.toml:4: upstream \"a\": protocol: must be one of http1|h2|h2c, got \"http2\"",
      "x.toml:9: upstream \"b\": protocol: \"h2\" is HTTP/2 over TLS and needs tls = {...}",
      "x.toml:14: upstream \"c\": protocol: \"h2c\" is cleartext HTTP/2 and cannot go with tls",
      "x.toml:20: upstream \"d\": protocol: expected a string",
  };
  ASSERT_EQ(errors.size(), expected.size()) << ::testing::PrintToString(errors);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(errors[i].starts_with(expected[i])) << errors[i] << "\nexpected: " << expected[i];
  }
}

}  // namespace
}  // namespace ringproxy
