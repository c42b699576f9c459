// WebSocket / Upgrade tunnels through the real proxy (issue 19): messages echoed intact, ping,
// pong and the close handshake relayed, hashing, max_concurrent, non-101 answers, h2c refused,
// idle tunnels closed, SIGTERM after drain_timeout.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <set>

#include "integration/proxy_fixture.hpp"
#include "integration/tunnel_drain.hpp"
#include "support/ws_client.hpp"

namespace ringproxy::test {
namespace {

class TunnelTest : public ProxyTest {
 protected:
  // A tunnel through the proxy to the origins' echo, or nullptr (the failure is reported).
  std::unique_ptr<WsClient> open_tunnel(const HeaderList& headers = {},
                                        std::string_view target = "/ws") {
    auto ws = std::make_unique<WsClient>();
    if (!ws->connect(port(), target, headers)) {
      ADD_FAILURE() << "upgrade failed: " << ws->last_error() << " (status " << ws->status() << ")";
      return nullptr;
    }
    return ws;
  }
  long long metric(std::string_view name) {
    const std::string text = metric_text(name);
    return text.empty() ? -1 : std::stoll(text);
  }
  // The message of test i: `size` bytes that differ from one message to the next.
  static std::string message(std::size_t size, std::size_t i) {
    std::string m(size, '\0');
    for (std::size_t k = 0; k < size; ++k) m[k] = static_cast<char>((k * 31 + i * 7) & 0xff);
    return m;
  }
};

TEST_F(TunnelTest, EchoesAThousandMessagesFromOneByteToOneMebibyte) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("upgrade_protocols = [\"websocket\"]")));
  auto ws = open_tunnel();
  ASSERT_TRUE(ws);
  EXPECT_EQ(ws->status(), 101);
  EXPECT_EQ(find_header(ws->response_headers(), "X-Origin"), "o0");
  EXPECT_EQ(metric("ringproxy_tunnels_active"), 1);
  constexpr std::size_t kMessages = 1000;
  constexpr std::size_t kMax = 1024 * 1024;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kMessages; ++i) {
    // Sizes from 1 byte to 1 MiB, spread over every power of two (the first is 1, the last
    // 1 MiB), text and binary.
    const std::size_t size =
        i == kMessages - 1 ? kMax : std::max<std::size_t>(1, (std::size_t{1} << (i % 21)) - i % 3);
    const bool binary = i % 2 == 0;
    // Text messages are UTF-8: letters that change along the message.
    std::string m = message(std::min(size, kMax), i);
    if (!binary) {
      for (char& c : m) c = static_cast<char>('a' + static_cast<unsigned char>(c) % 26);
    }
    ASSERT_TRUE(ws->send(m, binary)) << "message " << i << ": " << ws->last_error();
    const auto echo = ws->receive();
    ASSERT_TRUE(echo) << "message " << i << ": " << ws->last_error();
    ASSERT_EQ(echo->size(), m.size()) << "message " << i;
    ASSERT_TRUE(*echo == m) << "message " << i << " came back changed";
    total += m.size();
  }
  EXPECT_TRUE(ws->close()) << ws->last_error();
  EXPECT_TRUE(wait_until([&] { return metric("ringproxy_tunnels_active") == 0; }, 5s));
  // Every payload byte went both ways, with its framing.
  const std::string m =
      metric_text("ringproxy_tunnel_bytes_total{direction=\"client_to_backend\"}");
  EXPECT_GE(m.empty() ? 0 : std::stoull(m), total);
}

// Both ways stall and resume: the client sends 48 MiB before it reads a byte, so every buffer
// on the way fills (the proxy's writes to the origin and to the client wait, its reads stop),
// then it reads; every message comes back whole and in order.
TEST_F(TunnelTest, BackpressureBothWaysLosesNoByte) {
  namespace asio = boost::asio;
  namespace websocket = boost::beast::websocket;
  constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  asio::io_context ioc;
  websocket::stream<asio::ip::tcp::socket> ws(ioc);
  ws.next_layer().connect({asio::ip::make_address("127.0.0.1"), port()});
  ws.handshake("localhost", "/ws");
  ws.binary(true);
  ws.read_message_max(4 * 1024 * 1024);
  ws.write_buffer_bytes(64 * 1024);
  constexpr int kMessages = 48;
  constexpr std::size_t kSize = 1024 * 1024;
  int sent = 0;
  int intact = 0;
  std::string failure;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < kMessages; ++i) {
          const std::string m = message(kSize, static_cast<std::size_t>(i));
          auto [ec, n] = co_await ws.async_write(asio::buffer(m), kTuple);
          if (ec) co_return;
          ++sent;
        }
      },
      asio::detached);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer pause(ioc, 500ms);  // nothing read yet: the way fills up
        co_await pause.async_wait(kTuple);
        for (int i = 0; i < kMessages; ++i) {
          boost::beast::flat_buffer b;
          auto [ec, n] = co_await ws.async_read(b, kTuple);
          if (ec) {
            failure = "read " + std::to_string(i) + ": " + ec.message();
            co_return;
          }
          if (boost::beast::buffers_to_string(b.data()) != message(kSize, i)) {
            failure = "message " + std::to_string(i) + " came back changed";
            co_return;
          }
          ++intact;
        }
        ws.next_layer().close();
      },
      asio::detached);
  ioc.run_for(60s);
  EXPECT_EQ(failure, "");
  EXPECT_EQ(sent, kMessages);
  EXPECT_EQ(intact, kMessages);
}

TEST_F(TunnelTest, RelaysPingPongAndTheCloseHandshakeAndLogsTheTunnelOnce) {
  start_origins(1);
  // The access log on stdout, to see the tunnel's line.
  proxy_config_ = build_config(ProxyOptions());
  const std::string off = "access_log = \"off\"";
  proxy_config_.replace(proxy_config_.find(off), off.size(), "access_log = \"stdout\"");
  proxy_ = ProxyProcess::start(kProxyBinary, proxy_config_);
  ASSERT_TRUE(proxy_ && proxy_->port() != 0);

  auto ws = open_tunnel({{"X-Request-Id", "tunnel-1"}}, "/ws?room=7");
  ASSERT_TRUE(ws);
  ASSERT_TRUE(ws->ping("are-you-there")) << ws->last_error();
  // The pong comes back before the echo of a message sent after the ping.
  ASSERT_TRUE(ws->send("after-ping", false));
  ASSERT_EQ(ws->receive().value_or(""), "after-ping") << ws->last_error();
  EXPECT_EQ(ws->pongs(), 1u);
  EXPECT_EQ(ws->last_pong(), "are-you-there");
  // The close handshake: our close frame reaches the origin, its answer comes back, and the
  // connection ends cleanly.
  EXPECT_TRUE(ws->close()) << ws->last_error();
  EXPECT_EQ(ws->close_code(), 1000);
  ASSERT_TRUE(proxy_->wait_for_log("\"tunnel_closed_by\":", 5s)) << proxy_->log();
  const std::string log = proxy_->log();
  EXPECT_EQ(proxy_->log_count("\"tunnel_closed_by\":"), 1u);
  const auto line_at = log.rfind('{', log.find("\"tunnel_closed_by\":"));
  const std::string line = log.substr(line_at, log.find('\n', line_at) - line_at);
  EXPECT_TRUE(contains(line, "\"status\":101")) << line;
  EXPECT_TRUE(contains(line, "\"path\":\"/ws?room=7\"")) << line;
  EXPECT_TRUE(contains(line, "\"request_id\":\"tunnel-1\"")) << line;
  EXPECT_TRUE(contains(line, "\"backend\":\"" + origin().address() + "\"")) << line;
  // The origin ends the TCP connection after the close handshake (RFC 6455 §7.1.1), the client
  // right after it: whichever FIN the proxy saw first.
  EXPECT_TRUE(contains(line, "\"tunnel_closed_by\":\"backend\"") ||
              contains(line, "\"tunnel_closed_by\":\"client\""))
      << line;
  EXPECT_FALSE(contains(line, "\"bytes_in\":0,")) << line;
  EXPECT_FALSE(contains(line, "\"bytes_out\":0,")) << line;
}

TEST_F(TunnelTest, TheSameUserKeyLandsOnTheSameBackend) {
  start_origins(3);
  ASSERT_TRUE(start_proxy(ProxyOptions().upstream("hash_key = \"header:X-User\"")));
  std::set<std::string> used;
  for (int u = 0; u < 24; ++u) {
    const HeaderList user{{"X-User", "user-" + std::to_string(u)}};
    // The backend a plain request with the key goes to.
    auto http = connect();
    ASSERT_TRUE(http);
    const HttpResponse plain = http->get("/", user);
    ASSERT_EQ(plain.status, 200);
    const std::string backend = plain.header("X-Origin");
    used.insert(backend);
    for (int k = 0; k < 3; ++k) {
      auto ws = open_tunnel(user);
      ASSERT_TRUE(ws);
      EXPECT_EQ(find_header(ws->response_headers(), "X-Origin"), backend) << "user " << u;
      ASSERT_TRUE(ws->send("hello", false));
      EXPECT_EQ(ws->receive().value_or(""), "hello");
      EXPECT_TRUE(ws->close());
    }
  }
  EXPECT_GE(used.size(), 2u) << "the keys all hashed to one backend";
}

TEST_F(TunnelTest, ALiveTunnelHoldsOneOfTheBackendsMaxConcurrent) {
  start_origins(1);
  ASSERT_TRUE(
      start_proxy(ProxyOptions().upstream("  [upstream.circuit_breaker]\n"
                                          "  max_concurrent = 2")));
  auto first = open_tunnel();
  auto second = open_tunnel();
  ASSERT_TRUE(first && second);
  // Both slots are held by the tunnels: a third upgrade, and a plain request, are refused.
  WsClient third;
  EXPECT_FALSE(third.connect(port(), "/ws"));
  EXPECT_EQ(third.status(), 503);
  auto http = connect();
  ASSERT_TRUE(http);
  EXPECT_EQ(http->get("/").status, 503);
  ASSERT_TRUE(first->close());
  EXPECT_TRUE(wait_until([&] { return metric("ringproxy_tunnels_active") == 1; }, 5s));
  auto again = open_tunnel();
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->send("x", false));
  EXPECT_EQ(again->receive().value_or(""), "x");
}

TEST_F(TunnelTest, ANon101AnswerIsAnOrdinaryResponseAndTheConnectionStaysHttp) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  auto http = connect();
  ASSERT_TRUE(http);
  const HeaderList upgrade{{"Connection", "Upgrade"},
                           {"Upgrade", "websocket"},
                           {"Sec-WebSocket-Version", "13"},
                           {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
  const HttpResponse refused = http->get("/ws?status=403", upgrade);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.header("Upgrade"), "");
  // The connection goes on as HTTP: the next request on it is answered.
  const HttpResponse next = http->get("/after");
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(echo_line(next.body, "target"), "/after");
  EXPECT_EQ(metric("ringproxy_tunnels_active"), 0);
  // The origin saw the upgrade it was asked for.
  const HttpResponse seen = http->get("/look", upgrade);
  EXPECT_TRUE(contains(seen.body, "header: Upgrade: websocket")) << seen.body;
}

// A failed upgrade (here a 101 to another protocol, a 502) counts against the backend's
// breaker like any failed request; an upgrade refused with a 4xx does not.
TEST_F(TunnelTest, AFailedUpgradeCountsAgainstTheBreakerAndARefusedOneDoesNot) {
  const std::string breaker =
      "retries = 0\n  [upstream.circuit_breaker]\n  failure_threshold = 2\n"
      "  open_duration = \"60s\"";
  CannedOrigin wrong(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\nConnection: Upgrade\r\n\r\n", true);
  ASSERT_TRUE(
      start_proxy(ProxyOptions().only_tables(upstream_toml("app", {wrong.address()}, breaker))));
  for (int i = 0; i < 2; ++i) {
    WsClient ws;
    EXPECT_FALSE(ws.connect(port(), "/ws"));
    EXPECT_EQ(ws.status(), 502) << "upgrade " << i;
  }
  // Two failures opened the breaker: the next upgrade is refused without reaching it.
  WsClient third;
  EXPECT_FALSE(third.connect(port(), "/ws"));
  EXPECT_EQ(third.status(), 503);
  EXPECT_EQ(wrong.requests_seen(), 2u);
  proxy_->signal(SIGTERM);
  ASSERT_EQ(proxy_->wait_exit(kExitWait), std::optional<int>(0));
  // Refusals (403) are the client's business: the breaker stays closed.
  start_origins(1);
  ASSERT_TRUE(
      start_proxy(ProxyOptions().only_tables(upstream_toml("app", {origin().address()}, breaker))));
  for (int i = 0; i < 4; ++i) {
    WsClient refused;
    EXPECT_FALSE(refused.connect(port(), "/ws?status=403"));
    EXPECT_EQ(refused.status(), 403);
  }
  auto ws = open_tunnel();
  ASSERT_TRUE(ws);
  ASSERT_TRUE(ws->send("still closed", false));
  EXPECT_EQ(ws->receive().value_or(""), "still closed");
  EXPECT_TRUE(ws->close());
}

TEST_F(TunnelTest, H2cAndUnlistedUpgradesAreNotForwarded) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  auto http = connect();
  ASSERT_TRUE(http);
  const HttpResponse h2c = http->get("/", {{"Connection", "Upgrade, HTTP2-Settings"},
                                           {"Upgrade", "h2c"},
                                           {"HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"}});
  ASSERT_EQ(h2c.status, 200);  // served as plain HTTP/1.1
  EXPECT_FALSE(contains(h2c.body, "header: Upgrade")) << h2c.body;
  EXPECT_FALSE(contains(h2c.body, "HTTP2-Settings")) << h2c.body;
  EXPECT_FALSE(contains(h2c.body, "header: Connection")) << h2c.body;
  const HttpResponse other = http->get("/", {{"Connection", "upgrade"}, {"Upgrade", "foo/1"}});
  ASSERT_EQ(other.status, 200);
  EXPECT_FALSE(contains(other.body, "header: Upgrade")) << other.body;
  // A WebSocket upgrade refused by config: the origin answers it as a plain GET.
  http.reset();
  proxy_->signal(SIGTERM);
  ASSERT_EQ(proxy_->wait_exit(kExitWait), std::optional<int>(0));
  ASSERT_TRUE(start_proxy(ProxyOptions().server("upgrade_protocols = []")));
  WsClient ws;
  EXPECT_FALSE(ws.connect(port(), "/ws"));
  EXPECT_EQ(ws.status(), 200);
}

TEST_F(TunnelTest, AnIdleTunnelIsClosedAfterTunnelIdleTimeout) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("tunnel_idle_timeout = \"300ms\"")));
  auto busy = open_tunnel();
  auto idle = open_tunnel();
  ASSERT_TRUE(busy && idle);
  const auto start = Clock::now();
  // Traffic keeps one alive past the timeout; the other, silent, is closed.
  while (ms_since(start) < 700) {
    ASSERT_TRUE(busy->send("tick", false));
    ASSERT_EQ(busy->receive().value_or(""), "tick");
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(idle->wait_closed(2s));
  EXPECT_GE(ms_since(start), 250);
  ASSERT_TRUE(busy->send("still", false));
  EXPECT_EQ(busy->receive().value_or(""), "still");
}

TEST_F(TunnelTest, SigtermClosesTunnelsAfterDrainTimeout) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("drain_timeout = \"1500ms\"")));
  std::vector<std::unique_ptr<WsClient>> tunnels;
  for (int i = 0; i < 5; ++i) {
    tunnels.push_back(open_tunnel());
    ASSERT_TRUE(tunnels.back());
  }
  expect_sigterm_drains_tunnels(*proxy_, tunnels, kExitWait);
}

}  // namespace
}  // namespace ringproxy::test
