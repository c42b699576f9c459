// Issue 19, must show 1: 1,000 open WebSocket tunnels carried through 100 reloads, half of
// which remove the backend some of them are on, with none dropped and every message echoed.
#include "integration/proxy_fixture.hpp"
#include "support/ws_client.hpp"

namespace ringproxy::test {
namespace {

class TunnelHeavyTest : public ProxyTest {
 protected:
  // The config over `backends`, keyed by X-User.
  std::string config_over(const std::vector<std::string>& backends) const {
    return build_config(ProxyOptions().workers(2).only_tables(
        upstream_toml("app", backends, "hash_key = \"header:X-User\"")));
  }
  HttpResponse admin(std::string_view method, std::string_view target) {
    HttpClient client;
    client.set_timeout(10s);
    if (!client.connect(proxy_->admin_port())) return HttpResponse{};
    return client.request(method, target);
  }
};

TEST_F(TunnelHeavyTest, AThousandTunnelsLiveThroughAHundredReloads) {
  constexpr int kTunnels = 1000;
  constexpr int kReloads = 100;
  constexpr int kPerRound = 100;  // tunnels that speak after each reload (a different tenth)
  start_origins(2);
  const std::string a = origin(0).address();
  const std::string b = origin(1).address();
  const std::string both = config_over({a, b});
  const std::string only_a = config_over({a});
  proxy_config_ = both;
  proxy_ = ProxyProcess::start(kProxyBinary, proxy_config_);
  ASSERT_TRUE(proxy_ && proxy_->port() != 0);

  boost::asio::io_context ioc;  // one loop for every client, used one step at a time
  std::vector<std::unique_ptr<WsClient>> tunnels;
  std::vector<std::string> users;
  std::vector<std::string> on;  // the backend each tunnel is on
  for (int i = 0; i < kTunnels; ++i) {
    users.push_back("user-" + std::to_string(i));
    tunnels.push_back(std::make_unique<WsClient>(&ioc));
    ASSERT_TRUE(tunnels.back()->connect(port(), "/ws", {{"X-User", users.back()}}))
        << "tunnel " << i << ": " << tunnels.back()->last_error();
    on.push_back(find_header(tunnels.back()->response_headers(), "X-Origin"));
  }
  const auto on_b = std::count(on.begin(), on.end(), "o1");
  ASSERT_GT(on_b, 50) << "too few tunnels on the backend the reloads remove";
  ASSERT_LT(on_b, kTunnels - 50);

  std::size_t echoed = 0;
  auto speak = [&](int i, int round) {
    const std::string m = "round " + std::to_string(round) + " tunnel " + std::to_string(i);
    if (!tunnels[i]->send(m, false)) return false;
    const auto back = tunnels[i]->receive();
    if (back != m) return false;
    ++echoed;
    return true;
  };
  int user_on_b = static_cast<int>(std::find(on.begin(), on.end(), "o1") - on.begin());
  for (int r = 1; r <= kReloads; ++r) {
    // Odd reloads remove backend o1 (its tunnels stay on it), even ones bring it back.
    ASSERT_TRUE(proxy_->write_config(r % 2 == 1 ? only_a : both));
    const HttpResponse reload = admin("POST", "/reload");
    ASSERT_EQ(reload.status, 200) << "reload " << r << ": " << reload.body;
    for (int k = 0; k < kPerRound; ++k) {
      const int i = (r * kPerRound + k) % kTunnels;
      ASSERT_TRUE(speak(i, r)) << "tunnel " << i << " (on " << on[i] << ") after reload " << r
                               << ": " << tunnels[i]->last_error();
    }
    if (r == 1) {
      // New tunnels follow the new config: a user whose old tunnel is on o1 now gets o0.
      WsClient fresh;
      ASSERT_TRUE(fresh.connect(port(), "/ws", {{"X-User", users[user_on_b]}}));
      EXPECT_EQ(find_header(fresh.response_headers(), "X-Origin"), "o0");
      EXPECT_TRUE(fresh.close());
    }
  }
  // Every tunnel is still up, on the backend it started on.
  for (int i = 0; i < kTunnels; ++i) {
    ASSERT_TRUE(speak(i, kReloads + 1)) << "tunnel " << i << " (on " << on[i]
                                        << ") after the reloads: " << tunnels[i]->last_error();
  }
  EXPECT_EQ(echoed, static_cast<std::size_t>(kReloads * kPerRound + kTunnels));
  EXPECT_EQ(metric_text("ringproxy_tunnels_active"), std::to_string(kTunnels));
  EXPECT_GE(origin(1).connections_open(), static_cast<std::size_t>(on_b));
  for (auto& t : tunnels) EXPECT_TRUE(t->close()) << t->last_error();
  EXPECT_TRUE(wait_until([&] { return metric_text("ringproxy_tunnels_active") == "0"; }, 10s));
}

}  // namespace
}  // namespace ringproxy::test
