// TLS connections and sessions that go on (issue #18's idle memory and handshake targets):
// idle ones parked after a moment of silence as their descriptor and their SSL, without a
// session or buffers; served again when they speak (the same TLS session, no new handshake),
// closed at their idle timeout while parked, and cheap while they wait; a TLS 1.3 resumption
// gets a fresh ticket, so a client that uses each ticket once resumes every time.
#include <string>
#include <vector>

#include "proxy_fixture.hpp"
#include "support/tls_client.hpp"

namespace ringproxy::test {
namespace {

constexpr std::size_t kIdle = 100;

class TlsIdleTest : public ProxyTest {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("ringproxy-tls-idle");
    start_origins(1);
    const auto r = ProxyProcess::run(
        "/usr/bin/openssl",
        {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days",
         "2", "-subj", "/CN=site.test", "-addext", "subjectAltName=DNS:site.test", "-keyout",
         (dir_ / "site.key").string(), "-out", (dir_ / "site.crt").string()},
        60s);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  void TearDown() override {
    ProxyTest::TearDown();
    remove_temp_dir(dir_);
  }

  bool start(const std::string& server_lines) {
    return start_proxy(ProxyOptions()
                           .server(server_lines)
                           .only_tables(upstream_toml("app", {origin().address()}) +
                                        "\n[tls]\nlisten = [\"127.0.0.1:0\"]\n" +
                                        "  [[tls.certificate]]\n  cert = \"" +
                                        (dir_ / "site.crt").string() + "\"\n  key = \"" +
                                        (dir_ / "site.key").string() + "\"\n"));
  }
  std::uint16_t tls_port() const { return proxy_->port(1); }
  std::string parked() { return metric_text("ringproxy_parked_connections"); }
  bool parked_becomes(std::size_t n) {
    return wait_until([&] { return parked() == std::to_string(n); }, 5s);
  }
  std::string handshakes() {
    return metric_text("ringproxy_tls_handshakes_total{listener=\"127.0.0.1:0\"}");
  }

  std::filesystem::path dir_;
};

TEST_F(TlsIdleTest, IdleTlsConnectionsAreParkedCheaplyAndServedWhenTheySpeakAgain) {
  ASSERT_TRUE(start("idle_timeout = \"30s\""));
  const Resources before = resources();
  ASSERT_TRUE(before.valid());
  std::vector<std::unique_ptr<TlsClient>> clients;
  for (std::size_t i = 0; i < kIdle; ++i) {
    clients.push_back(std::make_unique<TlsClient>());
    ASSERT_TRUE(clients[i]->connect(tls_port(), {.sni = "site.test"})) << clients[i]->error();
    const TlsResponse r = clients[i]->get("/first/" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << r.error;
  }
  // Quiet for a moment: every one is parked, holding its SSL but no session.
  ASSERT_TRUE(parked_becomes(kIdle)) << "parked: " << parked();
  EXPECT_EQ(active_connections(), std::to_string(kIdle));
  const Resources idle = resources();
  ASSERT_TRUE(idle.valid());
  const long long per_connection = (idle.heap - before.heap) / static_cast<long long>(kIdle);
  std::cout << "[ idle ] " << per_connection << " bytes of heap per parked TLS connection\n";
  // OpenSSL's SSL with its session and keys is nearly all of it (about 15 KB with OpenSSL
  // 3.0: the SSL itself 7.6 KB, the two AES-GCM contexts, the session); a session of ours with
  // its coroutine and buffers would add kilobytes.
  EXPECT_LT(per_connection, 16500) << "heap per idle TLS connection";

  // Each speaks again on its TLS session (no new handshake), then is parked again.
  for (std::size_t i = 0; i < kIdle; ++i) {
    const TlsResponse r = clients[i]->get("/second/" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(echo_line(r.body, "target"), "/second/" + std::to_string(i));
  }
  EXPECT_EQ(handshakes(), std::to_string(kIdle));
  EXPECT_EQ(origin().requests_seen(), 2 * kIdle);
  ASSERT_TRUE(parked_becomes(kIdle)) << "parked: " << parked();

  // Closed by the client while parked: the proxy lets go of each, and of its SSL.
  clients.clear();
  ASSERT_TRUE(parked_becomes(0)) << "parked: " << parked();
  ASSERT_TRUE(wait_until([&] { return active_connections() == "0"; }, 5s));
}

TEST_F(TlsIdleTest, AParkedTlsConnectionIsClosedAtItsIdleTimeout) {
  ASSERT_TRUE(start("idle_timeout = \"1500ms\""));
  TlsClient client;
  ASSERT_TRUE(client.connect(tls_port(), {.sni = "site.test"})) << client.error();
  ASSERT_EQ(client.get("/once").status, 200);
  const auto answered = Clock::now();
  ASSERT_TRUE(parked_becomes(1));
  ASSERT_TRUE(wait_until([&] { return parked() == "0"; }, 4s))
      << "a parked TLS connection outlived its idle timeout";
  const auto elapsed = ms_since(answered);
  EXPECT_GE(elapsed, 1300);
  EXPECT_LE(elapsed, 3000);
  // Closed, not just unparked: no connection is left.
  EXPECT_TRUE(wait_until([&] { return active_connections() == "0"; }, 2s));
}

TEST_F(TlsIdleTest, ASilentTlsClientAfterItsHandshakeIsParkedThenServedWhenItSpeaks) {
  ASSERT_TRUE(start(""));
  TlsClient client;
  ASSERT_TRUE(client.connect(tls_port(), {.sni = "site.test"})) << client.error();
  // Nothing sent after the handshake: parked as a new connection (its head's deadline kept).
  ASSERT_TRUE(parked_becomes(1));
  const TlsResponse r = client.get("/after-park");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(echo_line(r.body, "target"), "/after-park");
  EXPECT_EQ(client.get("/again").status, 200);
}

// The ticket a session carries, as bytes.
std::string ticket_of(const TlsSession& session) {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  SSL_SESSION_get0_ticket(session.get(), &data, &size);
  return std::string(reinterpret_cast<const char*>(data), size);
}

TEST_F(TlsIdleTest, EveryTls13ResumptionGetsAFreshTicketSoSingleUseClientsResumeEveryTime) {
  ASSERT_TRUE(start(""));
  TlsSession session;
  {
    TlsClient first;
    ASSERT_TRUE(first.connect(tls_port(), {.sni = "site.test", .min_version = TLS1_3_VERSION}));
    ASSERT_EQ(first.get("/").status, 200);  // TLS 1.3 tickets come after the handshake
    session = first.session();
  }
  ASSERT_FALSE(ticket_of(session).empty());
  // Like OpenSSL's client (wrk, curl): each connection resumes with the latest ticket only.
  for (int i = 0; i < 3; ++i) {
    TlsClient again;
    ASSERT_TRUE(again.connect(
        tls_port(), {.sni = "site.test", .min_version = TLS1_3_VERSION, .session = session}))
        << again.error();
    EXPECT_TRUE(again.resumed()) << "resumption " << i;
    ASSERT_EQ(again.get("/").status, 200);
    const TlsSession next = again.session();
    EXPECT_NE(ticket_of(next), ticket_of(session)) << "no fresh ticket after resumption " << i;
    session = next;
  }
}

}  // namespace
}  // namespace ringproxy::test
