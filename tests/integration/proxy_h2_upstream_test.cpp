// HTTP/2 to backends (issue #20, the backend side): upstream protocol "h2c" and "h2" (TLS,
// ALPN) against a Python h2 origin (tests/integration/h2_origin.py): fields and bodies both
// ways, trailers, streams multiplexed on few connections, large bodies streamed, full duplex,
// GOAWAY, backend failures, breaker, deadlines and health checks.
#include <future>
#include <thread>

#include "h2_upstream_fixture.hpp"

namespace ringproxy::test {
namespace {

TEST_F(H2UpstreamTest, H2cBackendGetsTheRequestAndTheClientItsResponse) {
  ScriptOrigin& o = start_h2_origin();
  ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {o.address()})));
  auto client = connect();
  ASSERT_TRUE(client);
  HttpResponse r = client->get("/hello?x=1", {{"Host", "app.example"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello /hello");
  EXPECT_EQ(r.header("x-method"), "GET");
  EXPECT_EQ(r.header("x-path"), "/hello?x=1");
  EXPECT_EQ(r.header("x-scheme"), "http");
  EXPECT_EQ(r.header("x-authority"), "app.example");
  EXPECT_EQ(r.header("x-forwarded-for"), "127.0.0.1");
  EXPECT_TRUE(contains(r.header("Via"), "ringproxy"));
  EXPECT_TRUE(r.chunked);  // no content-length from the backend: chunked to the client
  EXPECT_TRUE(r.keep_alive);
  r = client->request("POST", "/echo", {}, "a body for the backend");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "a body for the backend");
  EXPECT_EQ(r.header("x-method"), "POST");
  r = client->get("/sized");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.chunked);
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
  r = client->get("/status?code=404");
  EXPECT_EQ(r.status, 404);
  r = client->request("HEAD", "/sized");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(client->get("/again").status, 200);  // the connection is still in step
}

TEST_F(H2UpstreamTest, ResponseTrailersReachAClientThatAcceptsThem) {
  ScriptOrigin& o = start_h2_origin();
  ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {o.address()})));
  Conversation with;
  ASSERT_TRUE(with.connect(port()));
  ASSERT_TRUE(with.send("GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n"));
  const std::string got = with.read_until("x-trailer: done\r\n\r\n", 5s);
  EXPECT_TRUE(contains(got, "HTTP/1.1 200")) << got;
  EXPECT_TRUE(contains(got, "4\r\ndata\r\n0\r\ngrpc-status: 0\r\nx-trailer: done\r\n\r\n")) << got;
  // The backend was told the client takes trailers (gRPC servers want it).
  ASSERT_TRUE(with.send("GET /te HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n"));
  EXPECT_TRUE(contains(with.read_until("\r\n0\r\n\r\n", 5s), "x-te: trailers"));
  Conversation without;
  ASSERT_TRUE(without.connect(port()));
  ASSERT_TRUE(without.send("GET /trailers HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string plain = without.read_until("\r\n0\r\n\r\n", 5s);
  EXPECT_TRUE(contains(plain, "4\r\ndata\r\n0\r\n\r\n")) << plain;
  EXPECT_FALSE(contains(plain, "grpc-status")) << plain;
}

TEST_F(H2UpstreamTest, ConcurrentRequestsShareFewBackendConnections) {
  ScriptOrigin& o = start_h2_origin();
  ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {o.address()})));
  constexpr int kClients = 16;
  constexpr int kEach = 20;
  std::vector<std::future<int>> done;
  for (int c = 0; c < kClients; ++c) {
    done.push_back(std::async(std::launch::async, [this, c] {
      HttpClient client;
      client.set_timeout(10s);
      if (!client.connect(port())) return 0;
      int ok = 0;
      for (int i = 0; i < kEach; ++i) {
        const auto r = client.get("/c" + std::to_string(c) + "/" + std::to_string(i));
        ok += r.status == 200 && r.body == "hello /c" + std::to_string(c) + "/" + std::to_string(i);
      }
      return ok;
    }));
  }
  int ok = 0;
  for (auto& f : done) ok += f.get();
  EXPECT_EQ(ok, kClients * kEach);
  // 16 clients at once, one worker: their streams share the connection the first opened.
  const int connections = origin_connections();
  EXPECT_GE(connections, 1);
  EXPECT_LE(connections, 2) << "streams were not multiplexed";
}

TEST_F(H2UpstreamTest, LargeUploadAndDownloadStreamThroughBoundedMemory) {
  ScriptOrigin& o = start_h2_origin();
  ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {o.address()})));
  auto client = connect(30s);
  ASSERT_TRUE(client);
  ASSERT_EQ(client->get("/warm").status, 200);
  const long before = proxy_->rss_kb();
  constexpr std::uint64_t kBytes = 48ull << 20;
  const HttpResponse up = client->upload("/upload", kBytes, true);
  EXPECT_EQ(up.status, 200);
  EXPECT_EQ(up.body, "bytes=" + std::to_string(kBytes));
  const StreamResult down = client->download("/big?n=" + std::to_string(kBytes));
  EXPECT_EQ(down.status, 200);
  EXPECT_EQ(down.bytes, kBytes);
  EXPECT_TRUE(down.pattern_ok);
  EXPECT_TRUE(down.complete);
  // Flow control both ways: the proxy never holds more than windows' worth of either body.
  const long grown_mb = (proxy_->peak_rss_kb() - before) / 1024;
  EXPECT_LT(grown_mb, 24) << "the proxy's memory grew with the bodies";
}

TEST_F(H2UpstreamTest, BackendAnswersAndKeepsReadingWhileTheClientStillSends) {
  ScriptOrigin& o = start_h2_origin();
  ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {o.address()}), "request_buffer_bytes = 0"));
  Conversation s;
  ASSERT_TRUE(s.connect(port()));
  ASSERT_TRUE(
      s.send("POST /duplex HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nping1\r\n"));
  // The backend's answer and its echo of the first piece come while the upload is open.
  std::string got = s.read_until("ping1", 5s);
  EXPECT_TRUE(contains(got, "HTTP/1.1 200")) << got;
  ASSERT_TRUE(contains(got, "ping1")) << got;
  ASSERT_TRUE(s.send("5\r\nping2\r\n"));
  got = s.read_until("ping2", 5s);
  ASSERT_TRUE(contains(got, "ping2")) << got;
  ASSERT_TRUE(s.send("0\r\n\r\n"));
  got = s.read_until("0\r\n\r\n", 5s);
  EXPECT_TRUE(contains(got, "0\r\n\r\n")) << got;
}

// A chunked request's trailer section reaches an HTTP/2 backend as a trailing HEADERS frame
// (lower-case names, forbidden fields dropped), whether the body streams or came whole with
// its first chunk; a section over max_header_bytes is a 431.
TEST_F(H2UpstreamTest, RequestTrailersReachTheBackendAsTrailingHeaders) {
  ScriptOrigin& o = start_h2_origin();
  ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {o.address()}), "max_header_bytes = 2048"));
  Conversation s;
  ASSERT_TRUE(s.connect(port()));
  ASSERT_TRUE(
      s.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nHost: evil.test\r\nx-note: n\r\n\r\n"));
  std::string got = s.read_until("0\r\n\r\n", 5s);
  EXPECT_TRUE(contains(got, "HTTP/1.1 200")) << got;
  EXPECT_TRUE(contains(got, "x-request-trailers: x-checksum=abc;x-note=n\r\n")) << got;
  EXPECT_TRUE(contains(got, "hello")) << got;
  // Streamed: the trailers come after the head went to the backend.
  ASSERT_TRUE(
      s.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nfirst\r\n"));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(s.send("6\r\nsecond\r\n0\r\nX-Late: yes\r\n\r\n"));
  got = s.read_until("0\r\n\r\n", 5s);
  EXPECT_TRUE(contains(got, "x-request-trailers: x-late=yes\r\n")) << got;
  EXPECT_TRUE(contains(got, "firstsecond")) << got;
  // Over the head limit: 431, and nothing of it is passed on.
  Conversation big;
  ASSERT_TRUE(big.connect(port()));
  ASSERT_TRUE(
      big.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n0\r\nX-Big: " +
               std::string(3000, 'b') + "\r\n\r\n"));
  got = big.read_until("\r\n\r\n", 5s);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 431")) << got;
}

TEST_F(H2UpstreamTest, BackendGoawayMidLoadLosesNoRequest) {
  // Each connection processes 15 streams, then GOAWAY: streams past it go again on a new one.
  ScriptOrigin& o = start_h2_origin({"--goaway-after", "15"});
  ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {o.address()})));
  constexpr int kClients = 8;
  constexpr int kEach = 25;
  std::vector<std::future<int>> done;
  for (int c = 0; c < kClients; ++c) {
    done.push_back(std::async(std::launch::async, [this] {
      HttpClient client;
      client.set_timeout(10s);
      if (!client.connect(port())) return 0;
      int ok = 0;
      for (int i = 0; i < kEach; ++i) {
        const auto r = client.get("/g");
        ok += r.status == 200;
        if (!client.is_open()) client.connect(port());
      }
      return ok;
    }));
  }
  int ok = 0;
  for (auto& f : done) ok += f.get();
  EXPECT_EQ(ok, kClients * kEach);
  EXPECT_GE(origin_connections(), 200 / 15);
}

TEST_F(H2UpstreamTest, BackendDownIs502AndBreakerOpenIs503) {
  ReservedPort dead;
  ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {"127.0.0.1:" + std::to_string(dead.port())})));
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->get("/x").status, 502);
}

TEST_F(H2UpstreamTest, BreakerCountsH2StreamsAndOpens) {
  ScriptOrigin& o = start_h2_origin();
  ASSERT_TRUE(start_h2_proxy(h2_upstream(
      "h2c", {o.address()},
      "  [upstream.circuit_breaker]\n  failure_threshold = 3\n  open_duration = \"30s\"\n")));
  auto client = connect();
  ASSERT_TRUE(client);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client->get("/status?code=500").status, 500);
  const HttpResponse r = client->get("/fine");
  EXPECT_EQ(r.status, 503);
  EXPECT_FALSE(r.header("Retry-After").empty());
}

TEST_F(H2UpstreamTest, ResponseTimeoutAndGrpcTimeoutGive504) {
  ScriptOrigin& o = start_h2_origin();
  ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {o.address()}, "response_timeout = \"300ms\"")));
  auto client = connect();
  ASSERT_TRUE(client);
  auto start = Clock::now();
  EXPECT_EQ(client->get("/slow?ms=3000").status, 504);
  EXPECT_LT(ms_since(start), 2500);
  // grpc-timeout shorter than response_timeout is honoured.
  if (!client->is_open()) client->connect(port());
  start = Clock::now();
  EXPECT_EQ(client->get("/slow?ms=3000", {{"grpc-timeout", "100m"}}).status, 504);
  EXPECT_LT(ms_since(start), 290 + 1000);
  if (!client->is_open()) client->connect(port());
  EXPECT_EQ(client->get("/quick").status, 200);  // the connection serves on
}

TEST_F(H2UpstreamTest, HealthChecksSpeakH2AndMarkADeadBackendDown) {
  ScriptOrigin& a = start_h2_origin({"--name", "a"});
  ScriptOrigin& b = start_h2_origin({"--name", "b"});
  ASSERT_TRUE(start_h2_proxy(
      h2_upstream("h2c", {a.address(), b.address()},
                  "hash_key = \"uri\"\n  [upstream.health_check]\n  path = \"/healthz\"\n"
                  "  interval = \"100ms\"\n  timeout = \"100ms\"\n  unhealthy_threshold = 1\n"
                  "  healthy_threshold = 1\n")));
  b.kill();
  EXPECT_TRUE(proxy_->wait_for_log("is down", 5s)) << "no health check marked the dead backend";
  auto client = connect();
  ASSERT_TRUE(client);
  // Every key now lands on the live backend: no request pays for the dead one.
  for (int i = 0; i < 20; ++i) {
    const auto r = client->get("/k" + std::to_string(i));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-origin"), "a");
  }
  // The live one passed its h2 checks all along: it was never marked down.
  EXPECT_EQ(proxy_->log_count("is down"), 1u) << proxy_->log();
}

TEST_F(H2UpstreamTest, H2OverTlsIsAgreedByAlpn) {
  dir_ = make_temp_dir("ringproxy-h2tls");
  const std::string crt = (dir_ / "o.crt").string();
  const std::string key = (dir_ / "o.key").string();
  const auto made =
      ProxyProcess::run("/usr/bin/openssl",
                        {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=origin",
                         "-addext", "subjectAltName=IP:127.0.0.1"},
                        60s);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  ScriptOrigin& o = start_h2_origin({"--tls", crt, key});
  ASSERT_TRUE(start_h2_proxy(
      h2_upstream("h2", {o.address()}, "tls = { ca = \"" + crt + "\", verify = true }")));
  auto client = connect();
  ASSERT_TRUE(client);
  HttpResponse r = client->get("/over-tls");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-scheme"), "https");
  EXPECT_EQ(r.body, "hello /over-tls");
  r = client->request("POST", "/echo", {}, "secret");
  EXPECT_EQ(r.body, "secret");
  Conversation s;
  ASSERT_TRUE(s.connect(port()));
  ASSERT_TRUE(s.send("GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n"));
  EXPECT_TRUE(contains(s.read_until("x-trailer: done\r\n\r\n", 5s), "grpc-status: 0"));
}

}  // namespace
}  // namespace ringproxy::test
