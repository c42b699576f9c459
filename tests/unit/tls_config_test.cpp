// [tls], [[tls.certificate]], [tls.client_auth] and upstream tls: parsed once into types, every
// error with its line.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config_loader.hpp"

namespace ringproxy {
namespace {

const std::string kUpstream =
    "\n[[upstream]]\nname = \"app\"\nbackend = [{address = \"127.0.0.1:9001\"}]\n";

std::vector<std::string> errors_of(const std::string& text) {
  ConfigLoadResult result = load_config_text(text, "x.toml");
  std::vector<std::string> out;
  for (const auto& e : result.errors) out.push_back(e.to_string());
  EXPECT_EQ(result.config.has_value(), out.empty());
  return out;
}

TEST(TlsConfig, EveryKeyIsRead) {
  const ConfigLoadResult r = load_config_text(R"([tls]
listen = ["127.0.0.1:8443", "[::1]:8443"]
min_version = "1.3"
ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"
session_tickets = false
handshake_timeout = "3s"
  [[tls.certificate]]
  cert = "a.crt"
  key = "a.key"
  [[tls.certificate]]
  cert = "b.crt"
  key = "b.key"
  server_names = ["B.example.com", "*.example.com"]
  [tls.client_auth]
  ca = "clients.crt"
  required = false

[[upstream]]
name = "app"
tls = { ca = "ca.crt", server_name = "backend.internal", verify = false }
backend = [{address = "127.0.0.1:9001"}]
)",
                                              "x.toml");
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(r.ok());
  const Config& c = *r.config;
  ASSERT_TRUE(c.tls.has_value());
  const TlsConfig& t = *c.tls;
  EXPECT_EQ(t.listen.size(), 2u);
  EXPECT_EQ(t.min_version, TlsVersion::v1_3);
  EXPECT_EQ(t.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_FALSE(t.session_tickets);
  EXPECT_EQ(t.handshake_timeout, std::chrono::seconds(3));
  ASSERT_EQ(t.certificates.size(), 2u);
  EXPECT_EQ(t.certificates[0].cert, "a.crt");
  EXPECT_EQ(t.certificates[0].key_line, 9);
  EXPECT_TRUE(t.certificates[0].server_names.empty());
  EXPECT_EQ(t.certificates[1].server_names,
            (std::vector<std::string>{"b.example.com", "*.example.com"}));
  ASSERT_TRUE(t.client_auth.has_value());
  EXPECT_EQ(t.client_auth->ca, "clients.crt");
  EXPECT_FALSE(t.client_auth->required);
  ASSERT_TRUE(c.upstreams[0].tls.has_value());
  EXPECT_EQ(c.upstreams[0].tls->ca, "ca.crt");
  EXPECT_EQ(c.upstreams[0].tls->server_name, "backend.internal");
  EXPECT_FALSE(c.upstreams[0].tls->verify);
}

TEST(TlsConfig, DefaultsAndNoTls) {
  const ConfigLoadResult none = load_config_text(kUpstream, "x.toml");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none.config->tls.has_value());
  EXPECT_FALSE(none.config->upstreams[0].tls.has_value());
  const ConfigLoadResult r = load_config_text(
      "[tls]\nlisten = [\"127.0.0.1:8443\"]\n[[tls.certificate]]\ncert = \"a\"\nkey = \"b\"\n" +
          kUpstream,
      "x.toml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config->tls->min_version, TlsVersion::v1_2);
  EXPECT_TRUE(r.config->tls->session_tickets);
  EXPECT_EQ(r.config->tls->handshake_timeout, std::chrono::seconds(10));
  EXPECT_FALSE(r.config->tls->client_auth.has_value());
}

TEST(TlsConfig, ErrorsNameTheirLines) {
  const auto errors = errors_of(R"([server]
listen = ["127.0.0.1:8443"]
[tls]
listen = ["127.0.0.1:8443"]
min_version = "1.1"
session_tickets = "yes"
handshake_timeout = "soon"
colour = "blue"
  [[tls.certificate]]
  cert = ""
  server_names = ["bad name"]
  [tls.client_auth]
  required = true
[[upstream]]
name = "app"
tls = { verify = "no", sni = "x" }
backend = [{address = "127.0.0.1:9001"}]
)");
  const std::vector<std::string> expected = {
      "x.toml:4: tls.listen: address \"127.0.0.1:8443\" is also in server.listen",
      "x.toml:5: tls.min_version: must be \"1.2\" or \"1.3\" (older versions are always refused), "
      "got \"1.1\"",
      "x.toml:6: tls.session_tickets: expected true or false, got a string",
      "x.toml:7: tls.handshake_timeout: ",
      "x.toml:8: tls: unknown key \"colour\"",
      "x.toml:9: tls.certificate #1: missing required key \"key\"",
      "x.toml:10: tls.certificate #1: cert: must not be empty",
      "x.toml:11: tls.certificate #1: server_names: \"bad name\" is not a host name",
      "x.toml:12: tls.client_auth: missing required key \"ca\"",
      "x.toml:16: upstream \"app\": tls.verify: expected true or false, got a string",
      "x.toml:16: upstream \"app\": tls: unknown key \"sni\"",
  };
  ASSERT_EQ(errors.size(), expected.size()) << ::testing::PrintToString(errors);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(errors[i].starts_with(expected[i])) << errors[i] << "\nexpected: " << expected[i];
  }
}

TEST(TlsConfig, ACertificateIsRequired) {
  const auto errors = errors_of("[tls]\nlisten = [\"127.0.0.1:8443\"]\n" + kUpstream);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "x.toml:1: tls: no certificates; add at least one [[tls.certificate]]");
}

}  // namespace
}  // namespace ringproxy
