// WebSocket over HTTP/2 by extended CONNECT (RFC 8441, issue #20) onto the origins' HTTP/1.1
// WebSocket echo: driven by h2_websocket.py (Debian's python3-h2) on h2c connections.
#include <filesystem>
#include <future>

#include "proxy_fixture.hpp"
#include "support/script_origin.hpp"

namespace ringproxy::test {
namespace {

class H2WebSocketTest : public ProxyTest {
 protected:
  // h2_websocket.py MODE against the proxy, run to its end.
  void TearDown() override {
    ProxyTest::TearDown();
    if (!dir_.empty()) remove_temp_dir(dir_);
  }
  // h2_websocket.py MODE against the proxy (h2c, or TLS when cafile is given), run to its end.
  ProxyProcess::RunResult script(const std::string& mode, std::uint16_t to = 0,
                                 const std::string& cafile = "") {
    std::vector<std::string> args{kSourceDir + "/tests/integration/h2_websocket.py", mode,
                                  std::to_string(to != 0 ? to : port())};
    if (!cafile.empty()) args.push_back(cafile);
    return ProxyProcess::run("/usr/bin/python3", args, 180s);
  }
  std::filesystem::path dir_;
  long long metric(std::string_view name) {
    const std::string text = metric_text(name);
    return text.empty() ? -1 : std::stoll(text);
  }
  // The number after "key " in the script's output, or -1.
  static long long fact(const std::string& output, const std::string& key) {
    const auto at = output.find(key + " ");
    return at == std::string::npos ? -1 : std::stoll(output.substr(at + key.size() + 1));
  }
  // The proxy with its access log on stdout (the tunnel's line); by default h2c on.
  bool start_logging_proxy(const ProxyOptions& options = ProxyOptions().server("h2c = true")) {
    proxy_config_ = build_config(options);
    const std::string off = "access_log = \"off\"";
    proxy_config_.replace(proxy_config_.find(off), off.size(), "access_log = \"stdout\"");
    proxy_ = ProxyProcess::start(kProxyBinary, proxy_config_);
    return proxy_ && proxy_->port() != 0;
  }
};

// Three WebSocket streams and ordinary requests on one connection, messages of 1 B to 1 MiB
// byte for byte both ways, ping/pong and the close handshake; the origin saw an HTTP/1.1
// upgrade with the proxy's key; the tunnels were counted and each logged once.
TEST_F(H2WebSocketTest, StreamsEchoMessagesBesideOrdinaryRequests) {
  start_origins(1);
  ASSERT_TRUE(start_logging_proxy());
  const auto r = script("echo");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "ok echo")) << r.output;
  EXPECT_TRUE(contains(r.output, "x-origin o0")) << r.output;  // the 101's fields, on the 200
  // Every tunnel logged once at its close, as an HTTP/1.1 tunnel is.
  ASSERT_TRUE(wait_until([&] { return proxy_->log_count("\"tunnel_closed_by\":") == 3u; }, 5s))
      << proxy_->log();
  EXPECT_TRUE(contains(proxy_->log(), "\"status\":101")) << proxy_->log();
  EXPECT_TRUE(wait_until([&] { return metric("ringproxy_tunnels_active") == 0; }, 5s));
  const long long up = fact(r.output, "echoed-bytes");
  ASSERT_GT(up, 3 << 20) << r.output;
  EXPECT_GE(metric("ringproxy_tunnel_bytes_total{direction=\"client_to_backend\"}"), up);
  EXPECT_GE(metric("ringproxy_tunnel_bytes_total{direction=\"backend_to_client\"}"), up);
}

// Over TLS (ALPN h2), as browsers speak it: the streams share the one TLS connection.
TEST_F(H2WebSocketTest, StreamsEchoOverTlsWithAlpn) {
  start_origins(1);
  dir_ = make_temp_dir("ringproxy-h2ws");
  const std::string crt = (dir_ / "site.crt").string();
  const std::string key = (dir_ / "site.key").string();
  const auto cert =
      ProxyProcess::run("/usr/bin/openssl",
                        {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                         "-keyout", key, "-subj", "/CN=site.test", "-x509", "-days", "2", "-out",
                         crt, "-addext", "subjectAltName=DNS:site.test"},
                        60s);
  ASSERT_EQ(cert.exit_code, 0) << cert.output;
  ASSERT_TRUE(start_logging_proxy(ProxyOptions().only_tables(
      upstream_toml("app", {origin().address()}) +
      "\n[tls]\nlisten = [\"127.0.0.1:0\"]\n  [[tls.certificate]]\n  cert = \"" + crt +
      "\"\n  key = \"" + key + "\"\n")));
  const auto r = script("echo", proxy_->port(1), crt);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "ok echo")) << r.output;
  EXPECT_EQ(metric("ringproxy_tls_handshakes_total{listener=\"127.0.0.1:0\"}"), 1);
  EXPECT_TRUE(wait_until([&] { return metric("ringproxy_tunnels_active") == 0; }, 5s));
  // Each tunnel's line carries the connection's TLS, as its requests' lines do.
  ASSERT_TRUE(wait_until([&] { return proxy_->log_count("\"tunnel_closed_by\":") == 3u; }, 5s))
      << proxy_->log();
  EXPECT_EQ(proxy_->log_count("\"status\":101,"), 3u) << proxy_->log();
  EXPECT_EQ(proxy_->log_count("\"tls_version\":\"TLSv1.3\""), proxy_->log_count("\"status\":"))
      << proxy_->log();
}

// What the origin receives: a GET upgrade with the proxy's own key, version 13, and the
// client's subprotocols; the tunnel counts while open, and tunnel_idle_timeout ends it.
TEST_F(H2WebSocketTest, TheBackendSeesAnHttp11UpgradeWithTheProxysKey) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true\ntunnel_idle_timeout = \"1s\"")));
  auto held = std::async(std::launch::async, [&] { return script("hold"); });
  ASSERT_TRUE(wait_until([&] { return metric("ringproxy_tunnels_active") == 1; }, 20s));
  const RecordedRequest seen = origin().last_request();
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.target, "/ws");
  EXPECT_EQ(seen.version, 11);
  EXPECT_TRUE(contains(seen.header("connection"), "upgrade")) << seen.header("connection");
  EXPECT_EQ(seen.header("upgrade"), "websocket");
  EXPECT_EQ(seen.header("sec-websocket-version"), "13");
  EXPECT_EQ(seen.header("sec-websocket-key").size(), 24u);
  EXPECT_EQ(seen.header("sec-websocket-protocol"), "chat");
  // tunnel_idle_timeout ends the quiet tunnel, and with it the stream.
  const auto r = held.get();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GE(fact(r.output, "ended-after-ms"), 900) << r.output;
  EXPECT_LT(fact(r.output, "ended-after-ms"), 5000) << r.output;
  EXPECT_TRUE(wait_until([&] { return metric("ringproxy_tunnels_active") == 0; }, 5s));
}

// A refusal (403) is the origin's response; a 200 without a switch would read as an open
// tunnel to the client, so it becomes 502.
TEST_F(H2WebSocketTest, ABackendRefusalIsAnOrdinaryResponse) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true")));
  const auto r = script("refused");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "status 403\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "x-origin o0\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "status-200-becomes 502\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "after 200\n")) << r.output;
  EXPECT_EQ(metric("ringproxy_tunnels_active"), 0);
}

// A 101 that does not answer the proxy's key is no WebSocket handshake: 502, no tunnel kept.
TEST_F(H2WebSocketTest, AWrongAcceptIsABadGateway) {
  ScriptOrigin bad(
      {"/usr/bin/python3", kSourceDir + "/tests/integration/h2_websocket.py", "bad-origin", "0"});
  ASSERT_NE(bad.port(), 0) << bad.output();
  ASSERT_TRUE(start_proxy(
      ProxyOptions().server("h2c = true").only_tables(upstream_toml("app", {bad.address()}))));
  const auto r = script("badaccept");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "status 502\n")) << r.output;
  EXPECT_TRUE(wait_until([&] { return metric("ringproxy_tunnels_active") == 0; }, 5s));
}

// Only WebSocket: another :protocol, or a plain CONNECT, gets 405 from the proxy itself.
TEST_F(H2WebSocketTest, OtherProtocolsAndPlainConnectAreRefused) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true")));
  const auto r = script("unlisted");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "protocol-foo 405\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "plain-connect 405\n")) << r.output;
  EXPECT_EQ(origin().requests_seen(), 0u);
}

// Without "websocket" in upgrade_protocols: no SETTINGS_ENABLE_CONNECT_PROTOCOL, and a
// :protocol is a malformed request (RFC 8441 §4: RST_STREAM PROTOCOL_ERROR).
TEST_F(H2WebSocketTest, NoConnectProtocolSettingWithoutWebSocketUpgrades) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true\nupgrade_protocols = []")));
  const auto r = script("nosetting");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "enable-connect-protocol 0\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "status None reset 1\n")) << r.output;
  EXPECT_EQ(origin().requests_seen(), 0u);
}

// A reader that stops: flow control stops the writer long before 48 MiB, the proxy's memory
// does not grow with what is sent, and all of it comes back once the reader reads.
TEST_F(H2WebSocketTest, ASlowReaderHoldsTheTunnelInBoundedMemory) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true")));
  const long before = proxy_->rss_kb();
  const auto r = script("slow");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "echoed 48\n")) << r.output;
  const long long stalled_at = fact(r.output, "sent-before-stall");
  EXPECT_GT(stalled_at, 0) << r.output;
  EXPECT_LT(stalled_at, 40ll << 20) << r.output;  // socket buffers on both sides, not the proxy
  const long grown_mb = (proxy_->peak_rss_kb() - before) / 1024;
  EXPECT_LT(grown_mb, 16) << "the proxy's memory grew with the tunnel's bytes";
}

// SIGTERM: the tunnel goes on through drain_timeout, then the stream ends and the proxy exits.
TEST_F(H2WebSocketTest, DrainEndsTheTunnelStreamAfterDrainTimeout) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true\ndrain_timeout = \"1500ms\"")));
  auto held = std::async(std::launch::async, [&] { return script("hold"); });
  // The script's message has come back through the tunnel: it sends nothing more, so the
  // GOAWAY of the drain cannot come before its last send (Python's h2 refuses DATA after one).
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string back =
            metric_text("ringproxy_tunnel_bytes_total{direction=\"backend_to_client\"}");
        return !back.empty() && back != "0";
      },
      20s));
  proxy_->signal(SIGTERM);
  const auto r = held.get();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GE(fact(r.output, "ended-after-ms"), 1300) << r.output;
  EXPECT_LT(fact(r.output, "ended-after-ms"), 5000) << r.output;
  EXPECT_EQ(proxy_->wait_exit(kExitWait), std::optional<int>(0));
}

}  // namespace
}  // namespace ringproxy::test
