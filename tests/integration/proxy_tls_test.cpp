// TLS at the edge and to backends (issue #18): SNI, versions, resumption, reloads of
// certificates, mutual TLS, upstream verification, and curl and Python's ssl as clients. The
// certificates are made by the openssl command in a temp directory for each test.
#include <fstream>

#include "integration/tls_fixture.hpp"
#include "support/tls_client.hpp"

namespace ringproxy::test {
namespace {

using TlsTest = TlsProxyTest;

TEST_F(TlsTest, SniChoosesTheCertificateExactBeforeWildcardAndTheFirstByDefault) {
  start_origins(1);
  make_cert("default", "/CN=default.test", {"default.test"});
  make_cert("a", "/CN=a.test", {"a.test"}, /*rsa=*/true);
  make_cert("wild", "/CN=wild.example.test", {"*.example.test"});
  make_cert("exact", "/CN=x.example.test", {"x.example.test"});
  // The wildcard comes before the exact name: the exact one still wins for its name.
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(
      upstream_toml("app", {origin().address()}) +
      tls_table(cert_table("default") + cert_table("a", "[]") +
                cert_table("wild", "[\"*.example.test\"]") + cert_table("exact")))));
  const std::pair<std::string, std::string> cases[] = {
      {"a.test", "a.test"},
      {"A.TEST", "a.test"},
      {"x.example.test", "x.example.test"},
      {"y.example.test", "wild.example.test"},
      {"deep.y.example.test", "default.test"},  // a wildcard covers one label
      {"unknown.test", "default.test"},
      {"", "default.test"},  // no SNI
  };
  for (const auto& [sni, cn] : cases) {
    TlsClient c;
    ASSERT_TRUE(c.connect(tls_port(), {.sni = sni})) << sni << ": " << c.error();
    EXPECT_EQ(c.peer_common_name(), cn) << "SNI " << sni;
    EXPECT_EQ(c.get("/").status, 200) << "SNI " << sni;
  }
}

TEST_F(TlsTest, OnlyTls12And13AreSpokenWithHttp11ByAlpnAndHttpsForwarded) {
  ASSERT_TRUE(start_site_proxy());
  for (int old : {TLS1_VERSION, TLS1_1_VERSION}) {
    TlsClient c;
    EXPECT_FALSE(c.connect(tls_port(), {.min_version = old, .max_version = old, .legacy = true}))
        << "version " << old << " was accepted";
  }
  EXPECT_TRUE(wait_until(
      [&] { return tls_metric("tls_handshake_failures_total", "protocol_version") == "2"; }, 3s))
      << "protocol_version failures: "
      << tls_metric("tls_handshake_failures_total", "protocol_version");
  const std::pair<int, std::string> good[] = {{TLS1_2_VERSION, "TLSv1.2"},
                                              {TLS1_3_VERSION, "TLSv1.3"}};
  for (const auto& [v, name] : good) {
    TlsClient c;
    ASSERT_TRUE(
        c.connect(tls_port(),
                  {.sni = "site.test", .min_version = v, .max_version = v, .ca = file("site.crt")}))
        << name << ": " << c.error();
    EXPECT_EQ(c.version(), name);
    EXPECT_EQ(c.alpn(), "http/1.1");
    for (int i = 0; i < 3; ++i) {  // keep-alive over TLS
      const TlsResponse r =
          c.get("/v?" + std::to_string(i), "site.test", "X-Forwarded-Proto: spoofed\r\n");
      ASSERT_EQ(r.status, 200) << r.error;
      EXPECT_EQ(echo_line(r.body, "target"), "/v?" + std::to_string(i));
      EXPECT_TRUE(contains(r.body, "header: X-Forwarded-Proto: https\n")) << r.body;
      EXPECT_FALSE(contains(r.body, "spoofed")) << r.body;
    }
  }
  // TLS 1.3 chooses AES-128 first whatever the client's order; AES-256 for a client with no
  // other.
  const std::pair<std::string, std::string> suites[] = {
      {"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
       "TLS_AES_128_GCM_SHA256"},
      {"TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"}};
  for (const auto& [offer, chosen] : suites) {
    TlsClient c;
    ASSERT_TRUE(c.connect(tls_port(), {.sni = "site.test",
                                       .min_version = TLS1_3_VERSION,
                                       .ca = file("site.crt"),
                                       .tls13_suites = offer}))
        << offer << ": " << c.error();
    EXPECT_EQ(c.cipher(), chosen) << offer;
    EXPECT_EQ(c.get("/suite", "site.test").status, 200) << offer;
  }
  // A client offering h2 first gets it (HTTP/2 itself: H2Test.*).
  TlsClient h2;
  ASSERT_TRUE(
      h2.connect(tls_port(), {.sni = "site.test", .ca = file("site.crt"), .offer_h2 = true}))
      << h2.error();
  EXPECT_EQ(h2.alpn(), "h2");
  h2.close();
  EXPECT_TRUE(wait_until([&] { return tls_metric("tls_handshakes_total") == "5"; }, 3s))
      << tls_metric("tls_handshakes_total");
  // The cleartext listener still says http.
  auto client = connect();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(contains(client->get("/").body, "header: X-Forwarded-Proto: http\n"));
}

// TLS 1.3 KeyUpdate (RFC 8446 §4.6.3) in the middle of a keep-alive connection: the client's
// new keys are taken, an update it asks for is answered with the server's own, and the
// connection goes on serving (HTTP/2 connections run over the same TLS stream code).
TEST_F(TlsTest, KeyUpdatesMidConnectionAreTakenAnsweredAndServingGoesOn) {
  ASSERT_TRUE(start_site_proxy());
  TlsClient c;
  ASSERT_TRUE(c.connect(tls_port(), {.min_version = TLS1_3_VERSION})) << c.error();
  ASSERT_EQ(c.get("/before").status, 200);
  ASSERT_TRUE(c.key_update(/*request_peer=*/false));
  EXPECT_EQ(c.get("/after-own-update").status, 200);
  EXPECT_EQ(c.key_updates_received(), 0);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(c.key_update(/*request_peer=*/true));
    const TlsResponse r = c.get("/after-requested-update-" + std::to_string(i));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(c.key_updates_received(), i) << "the server did not update its keys";
  }
  EXPECT_EQ(origin().requests_seen(), 5u);
  EXPECT_EQ(origin().last_request().target, "/after-requested-update-3");
}

TEST_F(TlsTest, AClientThatNeverFinishesItsHandshakeIsClosedAtHandshakeTimeout) {
  start_origins(1);
  make_cert("site", "/CN=site.test", {"site.test"});
  ASSERT_TRUE(start_proxy(
      ProxyOptions().only_tables(upstream_toml("app", {origin().address()}) +
                                 tls_table(cert_table("site"), "handshake_timeout = \"300ms\""))));
  RawSocket silent;
  RawSocket partial;
  ASSERT_TRUE(silent.connect(tls_port()));
  ASSERT_TRUE(partial.connect(tls_port()));
  ASSERT_TRUE(partial.send(std::string("\x16\x03\x01\x02\x00\x01", 6)));  // a ClientHello begun
  const auto start = Clock::now();
  EXPECT_TRUE(silent.wait_closed(5s));
  EXPECT_TRUE(partial.wait_closed(5s));
  EXPECT_LT(ms_since(start), 3000);
  EXPECT_TRUE(
      wait_until([&] { return tls_metric("tls_handshake_failures_total", "timeout") == "2"; }, 3s));
}

class TlsResumptionTest : public TlsTest, public ::testing::WithParamInterface<unsigned> {};

TEST_P(TlsResumptionTest, TheSecondConnectionResumesWithATicketOnAnyWorker) {
  start_origins(1);
  make_cert("site", "/CN=site.test", {"site.test"});
  ASSERT_TRUE(start_proxy(ProxyOptions()
                              .workers(GetParam())
                              .only_tables(upstream_toml("app", {origin().address()}) +
                                           tls_table(cert_table("site")))));
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    TlsClient first;
    ASSERT_TRUE(first.connect(tls_port(), {.sni = "site.test", .max_version = version}));
    EXPECT_FALSE(first.resumed());
    ASSERT_EQ(first.get("/").status, 200);  // TLS 1.3 tickets come after the handshake
    const TlsSession session = first.session();
    first.close();
    // With several workers, connections spread over them (SO_REUSEPORT): every one resumes.
    for (int i = 0; i < 12; ++i) {
      TlsClient again;
      ASSERT_TRUE(again.connect(tls_port(),
                                {.sni = "site.test", .max_version = version, .session = session}))
          << again.error();
      EXPECT_TRUE(again.resumed()) << "connection " << i << " at version " << version;
      EXPECT_EQ(again.get("/").status, 200);
    }
  }
  EXPECT_EQ(tls_metric("tls_resumed_handshakes_total"), "24");
  EXPECT_EQ(tls_metric("tls_handshakes_total"), "26");
}

INSTANTIATE_TEST_SUITE_P(Workers, TlsResumptionTest, ::testing::Values(1u, 2u));

TEST_F(TlsTest, AReloadServesTheNewCertificateToNewConnectionsAndOpenOnesKeepWorking) {
  ASSERT_TRUE(start_site_proxy("/CN=one.test"));
  TlsClient open;
  ASSERT_TRUE(open.connect(tls_port(), {.sni = "site.test"}));
  ASSERT_EQ(open.get("/before").status, 200);
  const TlsSession session = open.session();
  // The same files, new contents: a reload reads them again.
  make_cert("site", "/CN=two.test", {"site.test"});
  const HttpResponse reload = post_reload();
  ASSERT_EQ(reload.status, 200) << reload.body;
  TlsClient fresh;
  ASSERT_TRUE(fresh.connect(tls_port(), {.sni = "site.test"}));
  EXPECT_EQ(fresh.peer_common_name(), "two.test");
  EXPECT_EQ(fresh.get("/new").status, 200);
  // The connection from before the reload goes on, with its certificate.
  EXPECT_EQ(open.peer_common_name(), "one.test");
  const TlsResponse after = open.get("/after");
  EXPECT_EQ(after.status, 200) << after.error;
  EXPECT_EQ(echo_line(after.body, "target"), "/after");
  // Ticket keys belong to the process: a session from before the reload still resumes.
  TlsClient resumed;
  ASSERT_TRUE(resumed.connect(tls_port(), {.sni = "site.test", .session = session}));
  EXPECT_TRUE(resumed.resumed());
}

TEST_F(TlsTest, AReloadWithABadCertificateIsRefusedNamingTheFileAndChangesNothing) {
  start_origins(1);
  make_cert("site", "/CN=site.test", {"site.test"});
  make_cert("other", "/CN=other.test", {"other.test"});
  const std::string upstream = upstream_toml("app", {origin().address()});
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(upstream + tls_table(cert_table("site")))));
  // A key that belongs to another certificate.
  const std::string mismatched = "  [[tls.certificate]]\n  cert = \"" + file("site.crt") +
                                 "\"\n  key = \"" + file("other.key") + "\"\n";
  ASSERT_TRUE(proxy_->write_config(
      build_config(ProxyOptions().only_tables(upstream + tls_table(mismatched)))));
  HttpResponse r = post_reload();
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(contains(r.body, file("other.key"))) << r.body;
  EXPECT_TRUE(contains(r.body, "does not match the certificate")) << r.body;
  // A file that is not there, and one that is not PEM.
  std::ofstream(file("junk.crt")) << "not a certificate\n";
  const std::string missing = "  [[tls.certificate]]\n  cert = \"" + file("junk.crt") +
                              "\"\n  key = \"" + file("gone.key") + "\"\n";
  ASSERT_TRUE(proxy_->write_config(
      build_config(ProxyOptions().only_tables(upstream + tls_table(missing)))));
  r = post_reload();
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(contains(r.body, file("gone.key") + "\": cannot read: No such file")) << r.body;
  // --check says the same, with the line.
  const auto check =
      ProxyProcess::run(kProxyBinary, {"--check", "--config", proxy_->config_path()});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_TRUE(contains(check.output, file("gone.key"))) << check.output;
  EXPECT_TRUE(contains(check.output, "cannot read")) << check.output;
  // Nothing changed: the first certificate is served, the generation did not move.
  TlsClient c;
  ASSERT_TRUE(c.connect(tls_port(), {.sni = "site.test"}));
  EXPECT_EQ(c.peer_common_name(), "site.test");
  EXPECT_EQ(c.get("/").status, 200);
  EXPECT_EQ(metric_text("ringproxy_config_generation"), "1");
}

TEST_F(TlsTest, RequiredClientCertificatesRefuseOthersAndPassTheVerifiedSubjectUpstream) {
  start_origins(1);
  make_cert("site", "/CN=site.test", {"site.test"});
  make_cert("clients-ca", "/CN=Test Clients CA", {});
  make_cert("alice", "/O=Example/CN=alice", {}, false, "clients-ca");
  make_cert("mallory", "/CN=mallory", {});  // self-signed: not from the clients' CA
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(
      upstream_toml("app", {origin().address()}) +
      tls_table(cert_table("site"),
                "[tls.client_auth]\nca = \"" + file("clients-ca.crt") + "\"\nrequired = true\n"))));
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    TlsClient none;
    const bool refused =
        !none.connect(tls_port(), {.max_version = version}) || none.get("/").status == 0;
    EXPECT_TRUE(refused) << "a client without a certificate was served at " << version;
    TlsClient stranger;
    const bool stranger_refused = !stranger.connect(tls_port(), {.max_version = version,
                                                                 .cert = file("mallory.crt"),
                                                                 .key = file("mallory.key")}) ||
                                  stranger.get("/").status == 0;
    EXPECT_TRUE(stranger_refused) << "a client with an unknown CA's certificate was served";
  }
  TlsClient alice;
  ASSERT_TRUE(alice.connect(tls_port(), {.cert = file("alice.crt"), .key = file("alice.key")}))
      << alice.error();
  const TlsResponse r = alice.get("/", "site.test", "X-Client-Cert-Subject: CN=admin\r\n");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(contains(r.body, "header: X-Client-Cert-Subject: CN=alice,O=Example\n")) << r.body;
  EXPECT_FALSE(contains(r.body, "CN=admin")) << r.body;
  EXPECT_TRUE(wait_until(
      [&] { return tls_metric("tls_handshake_failures_total", "no_client_certificate") == "2"; },
      3s));
}

TEST_F(TlsTest, UpstreamTlsVerifiesTheBackendReusesConnectionsAndAFailureIs502) {
  start_origins(1);
  make_cert("backend", "/CN=backend.test", {"backend.test"});
  make_cert("other", "/CN=other.test", {"other.test"});
  // The TLS backend: another ringproxy terminating TLS in front of the origin.
  const std::string backend_toml = build_config(ProxyOptions().only_tables(
      upstream_toml("app", {origin().address()}) + tls_table(cert_table("backend"))));
  auto backend = ProxyProcess::start(kProxyBinary, backend_toml);
  ASSERT_NE(backend, nullptr);
  const std::string address = "127.0.0.1:" + std::to_string(backend->port(1));
  auto upstream = [&](const std::string& name, const std::string& ca, const std::string& more) {
    return upstream_toml(name, {address},
                         "retries = 0\ntls = { ca = \"" + file(ca + ".crt") +
                             "\", server_name = \"backend.test\" }\n" + more);
  };
  // Health checks go over TLS too: with one failure enough to mark it down, it stays up.
  const std::string checks =
      "  [upstream.health_check]\n  interval = \"500ms\"\n  unhealthy_threshold = 1\n";
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(
      upstream("good", "backend", checks) + upstream("bad", "other", "") +
      "\n[[route]]\npath_prefix = \"/bad\"\nupstream = \"bad\"\n"
      "\n[[route]]\nupstream = \"good\"\n")));
  auto client = connect();
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 5; ++i) {
    const HttpResponse r = client->get("/good");
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(contains(r.body, "origin: ")) << r.body;
  }
  // One TLS connection to the backend carried them all (health checks aside).
  EXPECT_EQ(metric_text("ringproxy_upstream_connects_total{upstream=\"good\",backend=\"" + address +
                        "\"}"),
            "1");
  HttpClient admin;
  ASSERT_TRUE(admin.connect(backend->admin_port()));
  const auto backend_handshakes = [&] {
    const std::string body = admin.get("/metrics").body;
    const std::string key = "ringproxy_tls_handshakes_total{listener=\"127.0.0.1:0\"} ";
    const auto at = body.find(key);
    return at == std::string::npos ? 0 : std::stoi(body.substr(at + key.size()));
  };
  EXPECT_TRUE(wait_until([&] { return backend_handshakes() >= 4; }, 10s));  // 3 checks at least
  EXPECT_EQ(metric_text("ringproxy_backend_healthy{upstream=\"good\",backend=\"" + address + "\"}"),
            "1");
  EXPECT_EQ(client->get("/bad").status, 502);
  EXPECT_TRUE(proxy_->wait_for_log("TLS to backend " + address +
                                       " of upstream bad: certificate verification failed: "
                                       "self-signed certificate",
                                   5s))
      << proxy_->log();
  backend->signal(SIGTERM);
  EXPECT_EQ(backend->wait_exit(kExitWait), std::optional<int>(0));
}

TEST_F(TlsTest, CurlAndPythonsSslModuleAreServed) {
  ASSERT_TRUE(start_site_proxy());
  const std::string port = std::to_string(tls_port());
  const auto curl = run("/usr/bin/curl", {"-sS", "--cacert", file("site.crt"), "--resolve",
                                          "site.test:" + port + ":127.0.0.1",
                                          "https://site.test:" + port + "/from-curl"});
  EXPECT_TRUE(contains(curl.output, "target: /from-curl\n")) << curl.output;
  EXPECT_TRUE(contains(curl.output, "header: X-Forwarded-Proto: https\n")) << curl.output;
  const auto python = run("/usr/bin/python3", {kSourceDir + "/tests/integration/tls_client.py",
                                               port, "site.test", file("site.crt"), "/from-py"});
  EXPECT_TRUE(contains(python.output, "status 200\n")) << python.output;
  EXPECT_TRUE(contains(python.output, "version TLSv1.3\n")) << python.output;
  EXPECT_TRUE(contains(python.output, "alpn http/1.1\n")) << python.output;
  EXPECT_TRUE(contains(python.output, "reused True\n")) << python.output;
  EXPECT_TRUE(contains(python.output, "target: /from-py\n")) << python.output;
  // Large bodies both ways over TLS: records split over TCP segments, full socket buffers.
  const std::string upload = file("upload.bin");
  std::ofstream(upload, std::ios::binary) << std::string(3 * 1024 * 1024, 'u');
  const auto sink = run("/usr/bin/curl", {"-sS", "--cacert", file("site.crt"), "--resolve",
                                          "site.test:" + port + ":127.0.0.1", "--data-binary",
                                          "@" + upload, "https://site.test:" + port + "/sink"});
  EXPECT_TRUE(contains(sink.output, "body-bytes: 3145728\n")) << sink.output;
  TlsClient big;
  ASSERT_TRUE(big.connect(tls_port(), {.sni = "site.test"}));
  for (int i = 0; i < 2; ++i) {
    const TlsResponse r = big.get("/big?bytes=5000000", "site.test");
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body.size(), 5000000u);
  }
}

}  // namespace
}  // namespace ringproxy::test
