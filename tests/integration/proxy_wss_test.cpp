// WebSocket tunnels over TLS (issue 19 once #18 landed): wss:// through a ringproxy TLS
// listener to the origins' echo, with Python's websockets and Beast's client over TLS;
// messages of 1 byte to 1 MiB, ping/pong and the close handshake, the same key on the same
// backend, reloads, SIGTERM after drain_timeout, a tunnel to a TLS upstream, and the tunnel's
// access log line and metrics.
#include <set>

#include "integration/tls_fixture.hpp"
#include "integration/tunnel_drain.hpp"
#include "support/tls_client.hpp"
#include "support/ws_client.hpp"

namespace ringproxy::test {
namespace {

class WssTest : public TlsProxyTest {
 protected:
  void SetUp() override {
    TlsProxyTest::SetUp();
    make_cert("site", "/CN=site.test", {"site.test"});
  }

  // The default upstream over `backends` (with `extra` lines), a TLS listener with site.crt,
  // and `server` lines; the access log on stdout when `access_log`.
  std::string wss_config(const std::vector<std::string>& backends, const std::string& extra = "",
                         const std::string& server = "", bool access_log = false) const {
    std::string toml = build_config(ProxyOptions().server(server).only_tables(
        upstream_toml("app", backends, extra) + tls_table(cert_table("site"))));
    if (access_log) {
      const std::string off = "access_log = \"off\"";
      toml.replace(toml.find(off), off.size(), "access_log = \"stdout\"");
    }
    return toml;
  }
  bool start_wss_proxy(const std::string& toml) {
    proxy_config_ = toml;
    proxy_ = ProxyProcess::start(kProxyBinary, proxy_config_);
    if (proxy_ == nullptr || proxy_->port() == 0) return false;
    if (Resources r = resources(); r.valid()) baseline_ = r;
    return true;
  }
  std::vector<std::string> origin_addresses() {
    std::vector<std::string> out;
    for (const auto& o : origins_) out.push_back(o->address());
    return out;
  }

  // A wss tunnel through the TLS listener (site.test, verified), or nullptr (failure reported).
  std::unique_ptr<WsClient> open_wss(const HeaderList& headers = {},
                                     std::string_view target = "/ws",
                                     boost::asio::io_context* ioc = nullptr) {
    auto ws = std::make_unique<WsClient>(ioc, WsTlsOptions{"site.test", file("site.crt")});
    if (!ws->connect(tls_port(), target, headers)) {
      ADD_FAILURE() << "wss upgrade failed: " << ws->last_error() << " (status " << ws->status()
                    << ")";
      return nullptr;
    }
    return ws;
  }

  // Runs tests/integration/ws_client.py (Python websockets) against wss://site.test:port/ws.
  ProxyProcess::RunResult python_ws(std::uint16_t tls, int messages, const std::string& ca,
                                    const std::vector<std::string>& headers = {}) {
    std::vector<std::string> args = {kSourceDir + "/tests/integration/ws_client.py",
                                     "wss://site.test:" + std::to_string(tls) + "/ws?room=9", ca,
                                     std::to_string(messages)};
    args.insert(args.end(), headers.begin(), headers.end());
    return ProxyProcess::run("/usr/bin/python3", args, 120s);
  }

  // The access log line of the (first) tunnel that closed, "" if none yet.
  static std::string tunnel_line(const std::string& log) {
    const auto at = log.find("\"tunnel_closed_by\":");
    if (at == std::string::npos) return "";
    const auto begin = log.rfind('{', at);
    return log.substr(begin, log.find('\n', at) - begin);
  }
  long long metric(std::string_view name) {
    const std::string text = metric_text(name);
    return text.empty() ? -1 : std::stoll(text);
  }
};

TEST_F(WssTest, PythonWebsocketsEchoesAThousandMessagesPingsAndClosesAndTheTunnelIsLogged) {
  start_origins(1);
  ASSERT_TRUE(start_wss_proxy(wss_config(origin_addresses(), "", "", true)));
  const auto py = python_ws(tls_port(), 1000, file("site.crt"), {"X-Request-Id: wss-1"});
  EXPECT_EQ(py.exit_code, 0) << py.output;
  EXPECT_TRUE(contains(py.output, "x-origin o0\n")) << py.output;
  EXPECT_TRUE(contains(py.output, "echoed 1000\n")) << py.output;
  EXPECT_TRUE(contains(py.output, "pong are-you-there\n")) << py.output;
  EXPECT_TRUE(contains(py.output, "close_code 1000\n")) << py.output;
  // One line for the tunnel, at its close, with the TLS fields of the client's connection.
  ASSERT_TRUE(proxy_->wait_for_log("\"tunnel_closed_by\":", 5s)) << proxy_->log();
  const std::string line = tunnel_line(proxy_->log());
  EXPECT_EQ(proxy_->log_count("\"tunnel_closed_by\":"), 1u);
  EXPECT_TRUE(contains(line, "\"status\":101")) << line;
  EXPECT_TRUE(contains(line, "\"path\":\"/ws?room=9\"")) << line;
  EXPECT_TRUE(contains(line, "\"request_id\":\"wss-1\"")) << line;
  EXPECT_TRUE(contains(line, "\"tls_version\":\"TLSv1.3\"")) << line;
  EXPECT_TRUE(contains(line, "\"tls_cipher\":\"TLS_")) << line;
  EXPECT_FALSE(contains(line, "\"bytes_in\":0,")) << line;
  EXPECT_FALSE(contains(line, "\"bytes_out\":0,")) << line;
  // The metrics count it as any tunnel: closed now, every payload byte relayed both ways.
  EXPECT_TRUE(wait_until([&] { return metric("ringproxy_tunnels_active") == 0; }, 5s));
  const auto bytes_line = py.output.find("bytes ");
  ASSERT_NE(bytes_line, std::string::npos) << py.output;
  const long long payload = std::stoll(py.output.substr(bytes_line + 6));
  EXPECT_GE(metric("ringproxy_tunnel_bytes_total{direction=\"client_to_backend\"}"), payload);
  EXPECT_GE(metric("ringproxy_tunnel_bytes_total{direction=\"backend_to_client\"}"), payload);
  EXPECT_EQ(tls_metric("tls_handshakes_total"), "1");
}

TEST_F(WssTest, TheSameUserKeyLandsOnTheSameBackendOverTls) {
  start_origins(3);
  ASSERT_TRUE(start_wss_proxy(wss_config(origin_addresses(), "hash_key = \"header:X-User\"")));
  std::set<std::string> used;
  for (int u = 0; u < 16; ++u) {
    // The backend a plain HTTPS request with the key goes to.
    TlsClient https;
    ASSERT_TRUE(https.connect(tls_port(), {.sni = "site.test"})) << https.error();
    const TlsResponse plain = https.get("/", "site.test", "X-User: " + user_name(u) + "\r\n");
    ASSERT_EQ(plain.status, 200) << plain.error;
    const std::string backend = echo_line(plain.body, "origin");
    ASSERT_FALSE(backend.empty()) << plain.body;
    used.insert(backend);
    for (int k = 0; k < 2; ++k) {
      auto ws = open_wss({{"X-User", user_name(u)}});
      ASSERT_TRUE(ws);
      EXPECT_EQ(ws->tls_version(), "TLSv1.3");
      EXPECT_EQ(find_header(ws->response_headers(), "X-Origin"), backend) << "user " << u;
      ASSERT_TRUE(ws->send("hello " + user_name(u), false)) << ws->last_error();
      EXPECT_EQ(ws->receive().value_or(""), "hello " + user_name(u)) << ws->last_error();
      EXPECT_TRUE(ws->close()) << ws->last_error();
    }
  }
  EXPECT_GE(used.size(), 2u) << "the keys all hashed to one backend";
}

TEST_F(WssTest, TlsTunnelsLiveThroughReloadsThatRemoveTheirBackendAndRenewTheCertificate) {
  constexpr int kTunnels = 40;
  constexpr int kReloads = 10;
  start_origins(2);
  const std::string key = "hash_key = \"header:X-User\"";
  const std::string both = wss_config(origin_addresses(), key);
  const std::string only_o0 = wss_config({origin(0).address()}, key);
  ASSERT_TRUE(start_wss_proxy(both));
  boost::asio::io_context ioc;  // one loop for every client, used one step at a time
  std::vector<std::unique_ptr<WsClient>> tunnels;
  std::vector<std::string> on;
  for (int i = 0; i < kTunnels; ++i) {
    tunnels.push_back(open_wss({{"X-User", user_name(i)}}, "/ws", &ioc));
    ASSERT_TRUE(tunnels.back());
    on.push_back(find_header(tunnels.back()->response_headers(), "X-Origin"));
  }
  const auto on_o1 = static_cast<std::size_t>(std::count(on.begin(), on.end(), "o1"));
  ASSERT_GE(on_o1, 5u) << "too few tunnels on the backend the reloads remove";
  ASSERT_LE(on_o1, static_cast<std::size_t>(kTunnels - 5));
  const int user_on_o1 = static_cast<int>(std::find(on.begin(), on.end(), "o1") - on.begin());
  for (int r = 1; r <= kReloads; ++r) {
    // Odd reloads remove o1 and renew the certificate (the same files, new contents); even
    // ones bring o1 back.
    if (r % 2 == 1) make_cert("site", "/CN=renewed-" + std::to_string(r), {"site.test"});
    ASSERT_TRUE(proxy_->write_config(r % 2 == 1 ? only_o0 : both));
    const HttpResponse reload = post_reload();
    ASSERT_EQ(reload.status, 200) << "reload " << r << ": " << reload.body;
    for (int i = 0; i < kTunnels; ++i) {
      const std::string m = "reload " + std::to_string(r) + " tunnel " + std::to_string(i);
      ASSERT_TRUE(tunnels[i]->send(m, false)) << i << ": " << tunnels[i]->last_error();
      ASSERT_EQ(tunnels[i]->receive().value_or(""), m)
          << "tunnel " << i << " (on " << on[i] << ") after reload " << r << ": "
          << tunnels[i]->last_error();
    }
    if (r == 1) {
      // New connections get the new certificate and the new config: o1's user goes to o0.
      TlsClient fresh_tls;
      ASSERT_TRUE(fresh_tls.connect(tls_port(), {.sni = "site.test"}));
      EXPECT_EQ(fresh_tls.peer_common_name(), "renewed-1");
      auto fresh = open_wss({{"X-User", user_name(user_on_o1)}});
      ASSERT_TRUE(fresh);
      EXPECT_EQ(find_header(fresh->response_headers(), "X-Origin"), "o0");
      EXPECT_TRUE(fresh->close()) << fresh->last_error();
    }
  }
  // The tunnels on o1 are still its connections: no tunnel moved or reconnected.
  EXPECT_GE(origin(1).connections_open(), on_o1);
  EXPECT_EQ(metric("ringproxy_tunnels_active"), kTunnels);
  EXPECT_EQ(active_connections(), std::to_string(kTunnels));  // each TLS client connection once
  for (auto& t : tunnels) EXPECT_TRUE(t->close()) << t->last_error();
  EXPECT_TRUE(wait_until([&] { return metric("ringproxy_tunnels_active") == 0; }, 10s));
}

TEST_F(WssTest, SigtermClosesTlsTunnelsAfterDrainTimeout) {
  start_origins(1);
  ASSERT_TRUE(
      start_wss_proxy(wss_config(origin_addresses(), "", "drain_timeout = \"1500ms\"", true)));
  std::vector<std::unique_ptr<WsClient>> tunnels;
  for (int i = 0; i < 5; ++i) {
    tunnels.push_back(open_wss());
    ASSERT_TRUE(tunnels.back());
  }
  expect_sigterm_drains_tunnels(*proxy_, tunnels, kExitWait);
  EXPECT_TRUE(proxy_->wait_output_end(5s));
  // Their lines say the drain closed them (a worker starved past the 250 ms the process waits
  // for them would close them unlogged: not counted, lest a loaded machine fail the test).
  EXPECT_EQ(proxy_->log_count("\"tunnel_closed_by\":\"drain\""),
            proxy_->log_count("\"tunnel_closed_by\":"))
      << proxy_->log();
}

// A client may send its first frame right behind its upgrade request, before the 101 (in
// the same TLS record over wss): the proxy holds it and hands it to the backend after the 101.
TEST_F(WssTest, AFrameSentWithTheUpgradeRequestReachesTheBackendOverTlsAndTcp) {
  start_origins(1);
  ASSERT_TRUE(start_wss_proxy(wss_config(origin_addresses())));
  const std::string script = kSourceDir + "/tests/integration/ws_client.py";
  for (const std::string& uri : {"wss://site.test:" + std::to_string(tls_port()) + "/ws",
                                 "ws://site.test:" + std::to_string(port()) + "/ws"}) {
    const auto r =
        ProxyProcess::run("/usr/bin/python3", {script, "--early", uri, file("site.crt")}, 30s);
    EXPECT_EQ(r.exit_code, 0) << uri << ": " << r.output;
    EXPECT_TRUE(contains(r.output, "status 101\n")) << uri << ": " << r.output;
    EXPECT_TRUE(contains(r.output, "early echo early-bird\n")) << uri << ": " << r.output;
  }
  EXPECT_TRUE(wait_until([&] { return metric("ringproxy_tunnels_active") == 0; }, 5s));
}

TEST_F(WssTest, ATunnelToATlsUpstreamRelaysEveryMessagePingAndClose) {
  start_origins(1);
  make_cert("backend", "/CN=backend.test", {"backend.test"});
  // The TLS backend: another ringproxy terminating TLS in front of the origin's echo.
  auto backend = ProxyProcess::start(
      kProxyBinary,
      build_config(ProxyOptions().only_tables(upstream_toml("app", {origin().address()}) +
                                              tls_table(cert_table("backend")))));
  ASSERT_NE(backend, nullptr);
  const std::string address = "127.0.0.1:" + std::to_string(backend->port(1));
  ASSERT_TRUE(start_wss_proxy(wss_config(
      {address}, "tls = { ca = \"" + file("backend.crt") + "\", server_name = \"backend.test\" }",
      "", true)));
  // Python's client over TLS to the front, TLS from the front to the backend proxy.
  const auto py = python_ws(tls_port(), 300, file("site.crt"));
  EXPECT_EQ(py.exit_code, 0) << py.output;
  EXPECT_TRUE(contains(py.output, "x-origin o0\n")) << py.output;
  EXPECT_TRUE(contains(py.output, "echoed 300\n")) << py.output;
  EXPECT_TRUE(contains(py.output, "pong are-you-there\n")) << py.output;
  EXPECT_TRUE(contains(py.output, "close_code 1000\n")) << py.output;
  // A plain ws client through the cleartext listener, to the TLS backend too; while it is open
  // the backend proxy holds a tunnel: the front's backend connection is one TLS byte stream.
  WsClient ws;
  ASSERT_TRUE(ws.connect(port(), "/ws")) << ws.last_error();
  HttpClient backend_admin;
  ASSERT_TRUE(backend_admin.connect(backend->admin_port()));
  EXPECT_TRUE(contains(backend_admin.get("/metrics").body, "\nringproxy_tunnels_active 1\n"));
  const std::string big(1024 * 1024, 'b');
  ASSERT_TRUE(ws.send(big)) << ws.last_error();
  EXPECT_TRUE(ws.receive() == big) << ws.last_error();
  EXPECT_TRUE(ws.close()) << ws.last_error();
  ASSERT_TRUE(proxy_->wait_for_log("\"tunnel_closed_by\":", 5s)) << proxy_->log();
  const std::string line = tunnel_line(proxy_->log());
  EXPECT_TRUE(contains(line, "\"backend\":\"" + address + "\"")) << line;
  EXPECT_TRUE(wait_until([&] { return metric("ringproxy_tunnels_active") == 0; }, 5s));
  backend->signal(SIGTERM);
  EXPECT_EQ(backend->wait_exit(kExitWait), std::optional<int>(0));
}

}  // namespace
}  // namespace ringproxy::test
