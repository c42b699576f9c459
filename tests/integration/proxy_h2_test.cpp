// HTTP/2 from clients (issue #20, the client side): ALPN "h2" on TLS listeners, h2c with
// prior knowledge, each stream through the HTTP/1.1 pipeline to the origin; RFC 9113
// conformance at the frame level (h2_conformance.py) and the flood defences (h2_attacks.py),
// both driven by Debian's python3-h2 stack (hpack); GOAWAY on drain.
#include <fstream>
#include <future>
#include <string>
#include <string_view>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

class H2Test : public ProxyTest {
 protected:
  void SetUp() override { dir_ = make_temp_dir("ringproxy-h2"); }
  void TearDown() override {
    ProxyTest::TearDown();
    remove_temp_dir(dir_);
  }

  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  static ProxyProcess::RunResult run(const std::string& binary,
                                     const std::vector<std::string>& args) {
    return ProxyProcess::run(binary, args, 120s);
  }

  // site.crt / site.key: a self-signed ECDSA P-256 certificate for site.test.
  void make_cert() {
    const auto r = run("/usr/bin/openssl",
                       {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", file("site.key"), "-subj", "/CN=site.test", "-x509", "-days",
                        "2", "-out", file("site.crt"), "-addext", "subjectAltName=DNS:site.test"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  std::string tls_tables() const {
    return "\n[tls]\nlisten = [\"127.0.0.1:0\"]\n  [[tls.certificate]]\n  cert = \"" +
           file("site.crt") + "\"\n  key = \"" + file("site.key") + "\"\n";
  }

  // A Python helper of tests/integration, run to its end.
  ProxyProcess::RunResult python(const std::string& script, const std::vector<std::string>& args) {
    std::vector<std::string> all{kSourceDir + "/tests/integration/" + script};
    all.insert(all.end(), args.begin(), args.end());
    return run("/usr/bin/python3", all);
  }

  std::filesystem::path dir_;
};

TEST_F(H2Test, CurlWithPriorKnowledgeIsProxiedToTheHttp11Origin) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true")));
  const std::string base = "http://127.0.0.1:" + std::to_string(port());
  const auto get =
      run("/usr/bin/curl", {"-sS", "--http2-prior-knowledge", "-w", "\nversion %{http_version}\n",
                            "-H", "x-from: curl", base + "/h2c?q=1"});
  EXPECT_TRUE(contains(get.output, "version 2\n")) << get.output;
  EXPECT_TRUE(contains(get.output, "target: /h2c?q=1\n")) << get.output;
  EXPECT_TRUE(contains(get.output, "header: x-from: curl\n")) << get.output;
  EXPECT_TRUE(contains(get.output, "header: Host: 127.0.0.1:" + std::to_string(port())))
      << get.output;
  EXPECT_TRUE(contains(get.output, "header: Via: 1.1 ringproxy\n")) << get.output;
  // A body larger than the stream window streams through flow control, both ways.
  const std::string upload = file("upload.bin");
  std::ofstream(upload, std::ios::binary) << std::string(3 * 1024 * 1024, 'u');
  const auto post = run("/usr/bin/curl", {"-sS", "--http2-prior-knowledge", "--data-binary",
                                          "@" + upload, base + "/sink"});
  EXPECT_TRUE(contains(post.output, "body-bytes: 3145728\n")) << post.output;
  const auto big = run("/usr/bin/curl", {"-sS", "--http2-prior-knowledge", "-o", file("big.out"),
                                         "-w", "%{size_download}", base + "/big?bytes=5000000"});
  EXPECT_EQ(big.output, "5000000");
  // HTTP/1.1 on the same listener is untouched.
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->get("/h1").status, 200);
  // Every connection closed: none counted, and their memory given back to the byte.
  EXPECT_TRUE(
      wait_until([&] { return metric_text("ringproxy_h2_connections_active") == "0"; }, 5s));
  EXPECT_TRUE(wait_until([&] { return metric_text("ringproxy_h2_memory_bytes") == "0"; }, 5s))
      << metric_text("ringproxy_h2_memory_bytes");
  EXPECT_EQ(metric_text("ringproxy_h2_streams_total"), "3");
}

// Large bodies both ways hold no more than windows' worth in the proxy: the in-memory queues
// between a stream and its pipeline drop what was taken, they do not grow with the body.
TEST_F(H2Test, LargeBodiesBothWaysStreamThroughBoundedMemory) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true")));
  const std::string base = "http://127.0.0.1:" + std::to_string(port());
  ASSERT_EQ(run("/usr/bin/curl", {"-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                                  "%{http_code}", base + "/warm"})
                .output,
            "200");
  const long before = proxy_->rss_kb();
  constexpr std::size_t kBytes = 48u << 20;
  const std::string upload = file("upload48.bin");
  std::ofstream(upload, std::ios::binary) << std::string(kBytes, 'u');
  const auto post = run("/usr/bin/curl", {"-sS", "--http2-prior-knowledge", "--data-binary",
                                          "@" + upload, base + "/sink"});
  EXPECT_TRUE(contains(post.output, "body-bytes: " + std::to_string(kBytes) + "\n"))
      << post.output.substr(0, 500);
  const auto big =
      run("/usr/bin/curl", {"-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                            "%{size_download}", base + "/big?bytes=" + std::to_string(kBytes)});
  EXPECT_EQ(big.output, std::to_string(kBytes));
  const long grown_mb = (proxy_->peak_rss_kb() - before) / 1024;
  EXPECT_LT(grown_mb, 24) << "the proxy's memory grew with the bodies";
}

TEST_F(H2Test, PriorKnowledgeIsRefusedWithoutH2c) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  const auto get = run("/usr/bin/curl", {"-sS", "--http2-prior-knowledge",
                                         "http://127.0.0.1:" + std::to_string(port()) + "/"});
  EXPECT_NE(get.exit_code, 0) << get.output;
  EXPECT_EQ(origin().requests_seen(), 0u);
}

TEST_F(H2Test, AlpnChoosesH2OnTlsAndCurlIsServed) {
  start_origins(1);
  make_cert();
  ASSERT_TRUE(start_proxy(
      ProxyOptions().only_tables(upstream_toml("app", {origin().address()}) + tls_tables())));
  const std::string port = std::to_string(proxy_->port(1));
  const auto curl =
      run("/usr/bin/curl", {"-sS", "--http2", "--cacert", file("site.crt"), "--resolve",
                            "site.test:" + port + ":127.0.0.1", "-w", "\nversion %{http_version}\n",
                            "https://site.test:" + port + "/over-tls"});
  EXPECT_TRUE(contains(curl.output, "version 2\n")) << curl.output;
  EXPECT_TRUE(contains(curl.output, "target: /over-tls\n")) << curl.output;
  EXPECT_TRUE(contains(curl.output, "header: X-Forwarded-Proto: https\n")) << curl.output;
  // Clients that do not offer h2 still get HTTP/1.1.
  const auto h1 =
      run("/usr/bin/curl", {"-sS", "--http1.1", "--cacert", file("site.crt"), "--resolve",
                            "site.test:" + port + ":127.0.0.1", "-w", "\nversion %{http_version}\n",
                            "https://site.test:" + port + "/h1"});
  EXPECT_TRUE(contains(h1.output, "version 1.1\n")) << h1.output;
}

TEST_F(H2Test, Rfc9113ConformanceCases) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true")));
  const auto r = python("h2_conformance.py", {std::to_string(port())});
  std::cout << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, " cases, 0 failed")) << r.output;
}

// One flood on its own connection: GOAWAY ENHANCE_YOUR_CALM, at most max_attack of its
// requests at the origin (besides the normal client's), and the normal client on another
// connection served all along.
void expect_flood_answered(const ProxyProcess::RunResult& r, const OriginServer& origin,
                           std::size_t before, std::size_t max_attack) {
  EXPECT_TRUE(contains(r.output, "goaway ENHANCE_YOUR_CALM\n")) << r.output;
  const auto at = r.output.find("normal ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string normal = r.output.substr(at + 7, r.output.find('\n', at) - at - 7);
  const auto slash = normal.find('/');
  EXPECT_EQ(normal.substr(0, slash), normal.substr(slash + 1)) << r.output;
  const std::size_t normal_requests = std::stoul(normal.substr(slash + 1));
  EXPECT_LE(origin.requests_seen(), before + normal_requests + max_attack) << r.output;
}

TEST_F(H2Test, FloodsGetGoawayWhileANormalClientIsServed) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true")));
  const std::string p = std::to_string(port());
  std::size_t before = 0;
  for (const char* mode : {"rapid_reset", "continuation", "settings", "ping", "empty"}) {
    SCOPED_TRACE(mode);
    const auto r = python("h2_attacks.py", {p, mode});
    // Rapid reset: a stream whose RST_STREAM comes right behind its HEADERS in the same read
    // never starts, so only a pair that two reads cut apart can reach the origin.
    const bool rapid_reset = std::string_view(mode) == "rapid_reset";
    expect_flood_answered(r, origin(), before, rapid_reset ? 20 : 300);
    before = origin().requests_seen();
  }
  EXPECT_EQ(metric_text("ringproxy_h2_flood_goaways_total"), "5");
}

TEST_F(H2Test, GrpcRequestsTheProxyFailsGetAGrpcStatus) {
  // No backend up: 14 UNAVAILABLE, not a bare 503.
  const ReservedPort dead;
  ASSERT_TRUE(start_proxy(ProxyOptions()
                              .server("h2c = true")
                              .only_tables(upstream_toml("app", {dead.address()}) +
                                           "\n[rate_limit]\nrate = 0.001\nburst = 2\n")));
  const auto down = python("grpc_call.py", {std::to_string(port())});
  EXPECT_TRUE(contains(down.output, "code UNAVAILABLE details ")) << down.output;
  // Rate limited (burst 2, the first call took one): 8 RESOURCE_EXHAUSTED.
  const auto limited = python("grpc_call.py", {std::to_string(port()), "2"});
  EXPECT_TRUE(contains(limited.output, "code RESOURCE_EXHAUSTED details rate limited"))
      << limited.output;
}

TEST_F(H2Test, DrainSendsGoawayAndTheStreamInFlightFinishes) {
  start_origins(1);
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true\ndrain_timeout = \"10s\"")));
  // A slow response in flight when SIGTERM comes: it completes, after a GOAWAY.
  auto slow = std::async(std::launch::async, [&] {
    return run("/usr/bin/curl",
               {"-sS", "--http2-prior-knowledge", "-w", "\nstatus %{http_code}",
                "http://127.0.0.1:" + std::to_string(port()) + "/slow?delay_ms=1500"});
  });
  ASSERT_TRUE(
      wait_until([&] { return metric_text("ringproxy_h2_connections_active") == "1"; }, 5s));
  ASSERT_TRUE(wait_until([&] { return origin().requests_seen() == 1; }, 5s));
  // An open connection's memory is reported (its nghttp2 session at least), and bounded.
  const std::string memory = metric_text("ringproxy_h2_memory_bytes");
  EXPECT_GT(std::stoll(memory.empty() ? "0" : memory), 0);
  EXPECT_LT(std::stoll(memory.empty() ? "0" : memory), 1024 * 1024);
  proxy_->signal(SIGTERM);
  const auto r = slow.get();
  EXPECT_TRUE(contains(r.output, "status 200")) << r.output;
  EXPECT_EQ(proxy_->wait_exit(kExitWait), std::optional<int>(0));
}

// A reload that removes a listener: its HTTP/2 connections get GOAWAY (NO_ERROR, the last
// stream taken), the stream in flight finishes with its whole body, then the connection
// closes; the listener refuses new connections; a connection on a kept listener goes on.
TEST_F(H2Test, ListenerRemovedByReloadSendsGoawayAndTheStreamInFlightFinishes) {
  start_origins(1);
  const std::string two = "listen = [\"127.0.0.1:0\", \"127.0.0.2:0\"]";
  ASSERT_TRUE(start_proxy(ProxyOptions().server("h2c = true")));
  // The fixture's listen line, replaced by two listeners: A (127.0.0.1) and B (127.0.0.2).
  const std::string one = "listen = [\"127.0.0.1:0\"]";
  std::string config = proxy_config_;
  config.replace(config.find(one), one.size(), two);
  ASSERT_TRUE(proxy_->write_config(config));
  ASSERT_EQ(admin("POST", "/reload").status, 200);
  const std::uint16_t port_b = announced_port("listening on ", "127.0.0.2");
  ASSERT_NE(port_b, 0);
  const std::uint16_t port_a = port();
  // A slow body: its head at once, then 4 pieces of 64 KiB 700 ms apart.
  const std::string path = "/drip?bytes=262144&drip_ms=700";
  auto client = std::async(std::launch::async, [&] {
    return python("h2_listener_goaway.py", {std::to_string(port_a), std::to_string(port_b), path});
  });
  ASSERT_TRUE(wait_until([&] { return origin().requests_seen() == 2; }, 10s))
      << client.get().output;
  std::string only_b = proxy_config_;
  only_b.replace(only_b.find(one), one.size(), "listen = [\"127.0.0.2:0\"]");
  ASSERT_TRUE(proxy_->write_config(only_b));
  ASSERT_EQ(admin("POST", "/reload").status, 200);
  const auto r = client.get();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "b-before 200\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "goaway NO_ERROR last 1\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "a-status 200\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "a-bytes 262144\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "a-order goaway-before-end\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "a-closed after []\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "b-again 200\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "b-goaway none\n")) << r.output;
  HttpClient probe;
  probe.set_timeout(1s);
  EXPECT_FALSE(probe.connect(port_a)) << "the removed listener still accepts";
}

}  // namespace
}  // namespace ringproxy::test
