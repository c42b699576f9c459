// Tests for the Upgrade rules (policy/upgrade.hpp) and the keys that configure them.
#include "policy/upgrade.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_loader.hpp"

namespace ringproxy {
namespace {

using ::testing::ElementsAre;

const std::vector<std::string> kWebSocket{"websocket"};

TEST(Upgrade, TunnelsAListedProtocolOnAnHttp11Get) {
  EXPECT_EQ(tunnel_protocol("GET", 11, true, "websocket", kWebSocket), "websocket");
  EXPECT_EQ(tunnel_protocol("GET", 11, true, "WebSocket", kWebSocket), "WebSocket");
  EXPECT_EQ(tunnel_protocol("GET", 11, true, "h2c, foo, websocket", kWebSocket), "websocket");
  EXPECT_EQ(tunnel_protocol("GET", 11, true, "foo/2, websocket/13", {"foo", "websocket"}), "foo/2");
}

TEST(Upgrade, RefusesEverythingElse) {
  EXPECT_EQ(tunnel_protocol("POST", 11, true, "websocket", kWebSocket), "");
  EXPECT_EQ(tunnel_protocol("GET", 10, true, "websocket", kWebSocket), "");
  EXPECT_EQ(tunnel_protocol("GET", 11, false, "websocket", kWebSocket), "");
  EXPECT_EQ(tunnel_protocol("GET", 11, true, "", kWebSocket), "");
  EXPECT_EQ(tunnel_protocol("GET", 11, true, "foo", kWebSocket), "");
  EXPECT_EQ(tunnel_protocol("GET", 11, true, "websocket", {}), "");
  // h2c is never tunnelled, even when someone lists it.
  EXPECT_EQ(tunnel_protocol("GET", 11, true, "h2c", {"h2c"}), "");
}

TEST(Upgrade, AcceptsOnlyTheProtocolAsked) {
  EXPECT_TRUE(upgrade_accepted("websocket", "websocket"));
  EXPECT_TRUE(upgrade_accepted("WebSocket", "websocket"));
  EXPECT_TRUE(upgrade_accepted("foo", "foo/2"));
  EXPECT_TRUE(upgrade_accepted("foo/2", "foo/2"));
  EXPECT_FALSE(upgrade_accepted("foo/3", "foo/2"));
  EXPECT_FALSE(upgrade_accepted("h2c", "websocket"));
  EXPECT_FALSE(upgrade_accepted("", "websocket"));
}

std::vector<std::string> errors_of(const std::string& text) {
  ConfigLoadResult result = load_config_text(text, "x.toml");
  std::vector<std::string> out;
  for (const auto& e : result.errors) out.push_back(e.to_string());
  return out;
}

const std::string kUpstream =
    "\n[[upstream]]\nname = \"app\"\nbackend = [{address = \"127.0.0.1:9001\"}]\n";

TEST(UpgradeConfig, DefaultsAndValues) {
  ConfigLoadResult defaults = load_config_text(kUpstream, "x.toml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_THAT(defaults.config->server.upgrade_protocols, ElementsAre("websocket"));
  EXPECT_EQ(defaults.config->server.tunnel_idle_timeout, std::chrono::hours(1));

  ConfigLoadResult set = load_config_text(
      "[server]\nupgrade_protocols = [\"WebSocket\", \"foo\"]\ntunnel_idle_timeout = \"90s\"\n" +
          kUpstream,
      "x.toml");
  ASSERT_TRUE(set.ok());
  EXPECT_THAT(set.config->server.upgrade_protocols, ElementsAre("websocket", "foo"));
  EXPECT_EQ(set.config->server.tunnel_idle_timeout, std::chrono::seconds(90));

  ConfigLoadResult none = load_config_text("[server]\nupgrade_protocols = []\n" + kUpstream, "x");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.config->server.upgrade_protocols.empty());
}

TEST(UpgradeConfig, Errors) {
  EXPECT_THAT(errors_of("[server]\nupgrade_protocols = [\"h2c\"]\n" + kUpstream),
              ElementsAre("x.toml:2: server.upgrade_protocols: \"h2c\" cannot be tunnelled "
                          "(HTTP/2 is never passed through as an upgrade)"));
  EXPECT_THAT(errors_of("[server]\nupgrade_protocols = [\"web socket\"]\n" + kUpstream),
              ElementsAre("x.toml:2: server.upgrade_protocols: \"web socket\" is not an Upgrade "
                          "token"));
  EXPECT_THAT(errors_of("[server]\nupgrade_protocols = [\"a\", \"A\"]\n" + kUpstream),
              ElementsAre("x.toml:2: server.upgrade_protocols: duplicate token \"A\""));
  EXPECT_THAT(errors_of("[server]\nupgrade_protocols = \"websocket\"\n" + kUpstream),
              ElementsAre("x.toml:2: server.upgrade_protocols: expected an array of Upgrade "
                          "tokens like \"websocket\", got a string"));
  EXPECT_THAT(errors_of("[server]\ntunnel_idle_timeout = \"0s\"\n" + kUpstream),
              ElementsAre("x.toml:2: server.tunnel_idle_timeout: must be at least 1ms, got "
                          "\"0s\""));
}

}  // namespace
}  // namespace ringproxy
