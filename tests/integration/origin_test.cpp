// Self-test of the test support: OriginServer, HttpClient and ProxyProcess against each other.

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"
#include "support/origin_server.hpp"
#include "support/proxy_process.hpp"

namespace ringproxy::test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kMiB = 1024 * 1024;

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

long own_peak_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
  return -1;
}

TEST(OriginServer, AnswersGetWithNameAndEchoedHeaders) {
  OriginServer origin("alpha");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port())) << client.last_error();
  auto r = client.request("GET", "/hello?x=1", {{"X-Test", "one"}, {"X-Test", "two"}});
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.reason, "OK");
  EXPECT_EQ(r.header("x-origin"), "alpha");
  EXPECT_EQ(r.header("Content-Type"), "text/plain");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(r.chunked);
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
  EXPECT_TRUE(contains(r.body, "origin: alpha\nmethod: GET\ntarget: /hello?x=1\nbody-bytes: 0\n"))
      << r.body;
  EXPECT_TRUE(contains(r.body, "body-fnv: " + fnv_hex(kFnv1a64Offset) + "\n")) << r.body;
  EXPECT_TRUE(
      contains(r.body, "header: X-Test: one\nheader: X-Test: two\nheader: Host: localhost\n"))
      << r.body;

  auto seen = origin.last_request();
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.target, "/hello?x=1");
  EXPECT_EQ(seen.version, 11);
  ASSERT_EQ(seen.headers.size(), 3u);
  EXPECT_EQ(seen.headers[0], (std::pair<std::string, std::string>{"X-Test", "one"}));
  EXPECT_EQ(seen.headers[1], (std::pair<std::string, std::string>{"X-Test", "two"}));
  EXPECT_EQ(seen.header("host"), "localhost");
  EXPECT_EQ(count_header(seen.headers, "x-test"), 2u);
}

TEST(OriginServer, KeepAliveServesTwoRequestsOnOneConnection) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  EXPECT_EQ(client.get("/one").status, 200);
  EXPECT_EQ(client.get("/two").status, 200);
  EXPECT_EQ(origin.connections_accepted(), 1u);
  EXPECT_EQ(origin.requests_seen(), 2u);
  EXPECT_EQ(origin.last_request().target, "/two");
}

TEST(OriginServer, AnswersPipelinedRequestsInOrder) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  ASSERT_TRUE(
      client.send_raw("GET /first?delay_ms=50 HTTP/1.1\r\nHost: x\r\n\r\n"
                      "POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                      "GET /third HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto first = client.read_response();
  auto second = client.read_response();
  auto third = client.read_response();
  EXPECT_TRUE(contains(first.body, "target: /first?delay_ms=50\n")) << first.error;
  EXPECT_TRUE(contains(second.body, "target: /second\n")) << second.error;
  EXPECT_TRUE(contains(second.body, "body-bytes: 3\n"));
  EXPECT_TRUE(contains(third.body, "target: /third\n")) << third.error;
  EXPECT_EQ(origin.connections_accepted(), 1u);
}

TEST(OriginServer, HealthzFollowsSetStatus) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  auto ok = client.get("/healthz");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "ok");
  origin.set_health_status(503);
  auto down = client.get("/healthz");
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.body, "ok");
  EXPECT_TRUE(down.keep_alive);
}

TEST(OriginServer, StatusParameterSetsTheStatus) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  auto error = client.get("/x?status=503");
  EXPECT_EQ(error.status, 503);
  EXPECT_EQ(error.reason, "Service Unavailable");
  EXPECT_TRUE(contains(error.body, "origin: a\n"));
  auto no_content = client.get("/x?status=204");
  EXPECT_EQ(no_content.status, 204);
  EXPECT_TRUE(no_content.body.empty());
  EXPECT_EQ(no_content.header_count("Content-Length"), 0u);
  EXPECT_EQ(client.get("/after").status, 200);  // the connection is still in step
  EXPECT_EQ(origin.connections_accepted(), 1u);
}

TEST(OriginServer, DownloadsPatternPlainAndChunked) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  auto plain = client.download("/big?bytes=" + std::to_string(10 * kMiB));
  EXPECT_EQ(plain.status, 200) << plain.error;
  EXPECT_EQ(plain.bytes, 10 * kMiB);
  EXPECT_TRUE(plain.pattern_ok);
  EXPECT_TRUE(plain.complete);
  EXPECT_FALSE(plain.chunked);
  EXPECT_EQ(plain.header("Content-Length"), std::to_string(10 * kMiB));

  auto chunked = client.download("/big?bytes=" + std::to_string(10 * kMiB + 7) + "&chunked=1");
  EXPECT_EQ(chunked.status, 200) << chunked.error;
  EXPECT_EQ(chunked.bytes, 10 * kMiB + 7);
  EXPECT_TRUE(chunked.pattern_ok);
  EXPECT_TRUE(chunked.complete);
  EXPECT_TRUE(chunked.chunked);
  EXPECT_EQ(chunked.header("Transfer-Encoding"), "chunked");

  auto empty = client.download("/big?bytes=0&chunked=1");
  EXPECT_TRUE(empty.complete);
  EXPECT_EQ(empty.bytes, 0u);

  auto echo_chunked = client.get("/t?chunked=1");
  EXPECT_TRUE(echo_chunked.chunked);
  EXPECT_TRUE(contains(echo_chunked.body, "target: /t?chunked=1\n"));
  EXPECT_EQ(origin.connections_accepted(), 1u);
}

TEST(OriginServer, DownloadOfTextIsNotThePattern) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  auto text = client.download("/text");
  EXPECT_TRUE(text.complete);
  EXPECT_FALSE(text.pattern_ok);
}

TEST(OriginServer, CountsAndHashesUploads) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  const std::uint64_t size = 20 * kMiB;
  const std::string expected_fnv = fnv_hex(pattern_fnv1a64(size));
  auto plain = client.upload("/up", size, false);
  ASSERT_EQ(plain.status, 200) << plain.error;
  EXPECT_TRUE(contains(plain.body, "body-bytes: " + std::to_string(size) + "\n")) << plain.body;
  EXPECT_TRUE(contains(plain.body, "body-fnv: " + expected_fnv + "\n")) << plain.body;
  EXPECT_TRUE(contains(plain.body, "header: Content-Length: " + std::to_string(size) + "\n"));
  EXPECT_EQ(origin.last_request().body_bytes, size);
  EXPECT_EQ(origin.last_request().body_fnv1a64, pattern_fnv1a64(size));

  auto chunked = client.upload("/up", size + 3, true, {}, "PUT");
  ASSERT_EQ(chunked.status, 200) << chunked.error;
  EXPECT_TRUE(contains(chunked.body, "method: PUT\n"));
  EXPECT_TRUE(contains(chunked.body, "header: Transfer-Encoding: chunked\n"));
  EXPECT_EQ(origin.last_request().body_bytes, size + 3);
  EXPECT_EQ(origin.last_request().body_fnv1a64, pattern_fnv1a64(size + 3));
  EXPECT_EQ(fnv1a64(pattern_string(100000)), pattern_fnv1a64(100000));
}

TEST(OriginServer, EchoesBodiesStreaming) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  auto small = client.request("POST", "/echo", {}, "hello world");
  EXPECT_EQ(small.status, 200);
  EXPECT_EQ(small.body, "hello world");
  EXPECT_EQ(small.header("Content-Length"), "11");

  // Larger than the socket buffers both ways: only works because the echo streams and the
  // client reads while it writes.
  const std::uint64_t size = 8 * kMiB + 5;
  auto big = client.upload("/echo", size, false);
  EXPECT_EQ(big.status, 200) << big.error;
  EXPECT_EQ(big.header("Content-Length"), std::to_string(size));
  EXPECT_EQ(big.body.size(), size);
  EXPECT_TRUE(big.body == pattern_string(size));

  auto chunked = client.upload("/echo", size, true, {}, "PUT");
  EXPECT_EQ(chunked.status, 200) << chunked.error;
  EXPECT_TRUE(chunked.chunked);
  EXPECT_TRUE(chunked.body == pattern_string(size));
  EXPECT_EQ(origin.last_request().body_bytes, size);

  auto empty = client.request("POST", "/echo");
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body, "");
  EXPECT_EQ(origin.connections_accepted(), 1u);
}

TEST(OriginServer, TruncatedBodyIsIncomplete) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  auto r = client.download("/x?bytes=1000000&truncate=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), "1000000");
  EXPECT_EQ(r.bytes, 500000u);
  EXPECT_TRUE(r.pattern_ok);
  EXPECT_FALSE(r.complete);
  EXPECT_FALSE(r.error.empty());

  HttpClient chunked_client;
  ASSERT_TRUE(chunked_client.connect(origin.port()));
  auto c = chunked_client.download("/x?bytes=1000000&truncate=1&chunked=1");
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.bytes, 500000u);
  EXPECT_FALSE(c.complete);
}

TEST(OriginServer, CloseParameterClosesWithoutAnswer) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  auto r = client.request("POST", "/x?close=1", {}, "body");
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(origin.requests_seen(), 1u);
  EXPECT_EQ(origin.last_request().body_bytes, 4u);

  HttpClient other;
  ASSERT_TRUE(other.connect(origin.port()));
  ASSERT_TRUE(other.send_raw("GET /x?close=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(other.wait_closed(2s));
}

TEST(OriginServer, HeadGetsHeadersOnly) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  auto r = client.request("HEAD", "/x?bytes=1000");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.header("Content-Length"), "1000");
  EXPECT_TRUE(r.body.empty());
  auto text = client.request("HEAD", "/x");
  EXPECT_EQ(text.status, 200) << text.error;
  EXPECT_NE(text.header("Content-Length"), "0");
  EXPECT_TRUE(text.body.empty());
  // Had the origin sent a body, this would read it as a response and fail.
  auto next = client.get("/next");
  EXPECT_EQ(next.status, 200) << next.error;
  EXPECT_TRUE(contains(next.body, "target: /next\n"));
  EXPECT_EQ(origin.connections_accepted(), 1u);
}

TEST(OriginServer, HonoursConnectionCloseAndHttp10) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  auto r = client.request("GET", "/x", {{"Connection", "close"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(client.wait_closed(2s));

  HttpClient old;
  ASSERT_TRUE(old.connect(origin.port()));
  ASSERT_TRUE(old.send_raw("GET /old?chunked=1 HTTP/1.0\r\n\r\n"));
  auto r10 = old.read_response();
  EXPECT_EQ(r10.status, 200) << r10.error;
  EXPECT_EQ(r10.version, 11);
  EXPECT_FALSE(r10.keep_alive);
  EXPECT_FALSE(r10.chunked);  // no chunked encoding towards an HTTP/1.0 client
  EXPECT_TRUE(contains(r10.body, "target: /old?chunked=1\n"));
  EXPECT_TRUE(old.wait_closed(2s));
  EXPECT_EQ(origin.last_request().version, 10);

  HttpClient old_keep;
  ASSERT_TRUE(old_keep.connect(origin.port()));
  ASSERT_TRUE(old_keep.send_raw("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto k = old_keep.read_response();
  EXPECT_TRUE(k.keep_alive);
  EXPECT_EQ(k.header("Connection"), "keep-alive");
}

TEST(OriginServer, DelayAndClientTimeout) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(client.get("/x?delay_ms=200").status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);

  client.set_timeout(100ms);
  start = std::chrono::steady_clock::now();
  auto slow = client.get("/x?delay_ms=2000");
  EXPECT_EQ(slow.status, 0);
  EXPECT_EQ(slow.error, "timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  EXPECT_FALSE(client.is_open());
}

TEST(OriginServer, DripSlowsThePieces) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  auto start = std::chrono::steady_clock::now();
  auto r = client.download("/x?bytes=200000&drip_ms=50");  // 4 pieces, 3 pauses
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(r.pattern_ok);
  EXPECT_EQ(r.bytes, 200000u);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
}

TEST(OriginServer, BindsTheSourceAddress) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port(), "127.0.0.1", "127.0.0.2")) << client.last_error();
  EXPECT_EQ(client.get("/x").status, 200);
  EXPECT_NE(client.local_port(), 0);
}

TEST(OriginServer, ManyThreadsManyClients) {
  OriginServer origin(OriginServer::Options{.name = "mt", .threads = 4});
  constexpr int kClients = 8;
  constexpr int kRequests = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&] {
      HttpClient client;
      if (!client.connect(origin.port())) return;
      for (int i = 0; i < kRequests; ++i)
        if (client.get("/x?bytes=100").status == 200) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(origin.requests_seen(), static_cast<std::size_t>(kClients * kRequests));
  EXPECT_EQ(origin.connections_accepted(), static_cast<std::size_t>(kClients));
}

TEST(OriginServer, StopClosesConnectionsAndRefusesNewOnes) {
  auto origin = std::make_unique<OriginServer>("a");
  auto port = origin->port();
  HttpClient client;
  ASSERT_TRUE(client.connect(port));
  EXPECT_EQ(client.get("/x").status, 200);
  EXPECT_EQ(origin->connections_open(), 1u);
  origin->stop();
  origin->stop();  // idempotent
  EXPECT_TRUE(client.wait_closed(2s));
  HttpClient late;
  EXPECT_FALSE(late.connect(port));
  EXPECT_FALSE(late.last_error().empty());
  origin.reset();
  // The port can be taken again at once.
  OriginServer again(OriginServer::Options{.name = "again", .port = port});
  ASSERT_TRUE(late.connect(port));
  EXPECT_EQ(late.get("/x").header("X-Origin"), "again");
}

TEST(OriginServer, StreamsTwoHundredMegabytesWithoutHoldingThem) {
  OriginServer origin("a");
  HttpClient client;
  client.set_timeout(30s);
  ASSERT_TRUE(client.connect(origin.port()));
  long peak_before = own_peak_rss_kb();
  const std::uint64_t size = 200 * kMiB;
  auto down = client.download("/x?bytes=" + std::to_string(size));
  EXPECT_TRUE(down.complete) << down.error;
  EXPECT_TRUE(down.pattern_ok);
  EXPECT_EQ(down.bytes, size);
  auto up = client.upload("/up", size, true);
  EXPECT_EQ(up.status, 200) << up.error;
  EXPECT_EQ(origin.last_request().body_bytes, size);
  EXPECT_EQ(origin.last_request().body_fnv1a64, pattern_fnv1a64(size));
  long peak_after = own_peak_rss_kb();
  EXPECT_LT(peak_after - peak_before, 64 * 1024)
      << "peak RSS grew by " << peak_after - peak_before << " kB";
}

TEST(OriginServer, RejectsGarbageWith400) {
  OriginServer origin("a");
  HttpClient client;
  ASSERT_TRUE(client.connect(origin.port()));
  ASSERT_TRUE(client.send_raw("NOT HTTP AT ALL\r\n\r\n"));
  auto r = client.read_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(client.wait_closed(2s));
}

// ProxyProcess against a stand-in script that prints what the proxy prints.
class FakeProxyScript {
 public:
  FakeProxyScript() {
    char path[] = "/tmp/ringproxy-fake-XXXXXX";
    int fd = mkstemp(path);
    path_ = path;
    std::string script =
        "#!/bin/sh\n"
        "echo \"config is $2\"\n"
        "echo \"ringproxy: listening on 127.0.0.1:41234\"\n"
        "echo \"ringproxy: admin listening on 127.0.0.1:41235\" >&2\n"
        "echo \"ringproxy: listening on [::1]:41236\"\n"
        "printf 'no newline at the end'\n"
        "trap 'echo stopping; exit 0' TERM\n"
        "while :; do sleep 0.05; done\n";
    (void)!write(fd, script.data(), script.size());
    close(fd);
    chmod(path, 0755);
  }
  ~FakeProxyScript() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ProxyProcess, ReadsPortsAndCapturesOutput) {
  FakeProxyScript fake;
  auto proxy = ProxyProcess::start(fake.path(),
                                   "[server]\n"
                                   "listen = [\"127.0.0.1:0\",  # first\n"
                                   "          \"[::1]:0\"]\n"
                                   "[admin]\n"
                                   "listen = \"127.0.0.1:0\"\n");
  ASSERT_TRUE(proxy);
  EXPECT_EQ(proxy->port_count(), 2u);
  EXPECT_EQ(proxy->port(0), 41234);
  EXPECT_EQ(proxy->port(1), 41236);
  EXPECT_EQ(proxy->port(2), 0);
  EXPECT_EQ(proxy->admin_port(), 41235);
  EXPECT_TRUE(proxy->wait_for_log("no newline at the end", 2s));
  EXPECT_TRUE(contains(proxy->log(), "config is " + proxy->config_path()));
  EXPECT_GT(proxy->rss_kb(), 0);
  const long rss = proxy->rss_kb();
  // VmHWM read after VmRSS: not below it, but for the few pages the shell's forks may have
  // given back in between (the kernel raises the high-water mark lazily).
  EXPECT_GE(proxy->peak_rss_kb(), rss - 64);
  EXPECT_GE(proxy->open_fds(), 3);
  EXPECT_LE(proxy->open_fds(), 6);  // nothing of ours leaked into the child
  EXPECT_TRUE(proxy->running());
  EXPECT_FALSE(proxy->wait_exit(50ms).has_value());
  proxy->signal(SIGTERM);
  auto code = proxy->wait_exit(5s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_TRUE(proxy->wait_for_log("stopping", 2s));
  std::string config = proxy->config_path();
  EXPECT_EQ(access(config.c_str(), F_OK), 0);
  proxy.reset();
  EXPECT_NE(access(config.c_str(), F_OK), 0);  // temp config removed
}

// The real binary, when it is built: ports read from its log, one request through it, SIGTERM.
TEST(ProxyProcess, StartsTheRealBinary) {
  if (access(RINGPROXY_BINARY, X_OK) != 0) GTEST_SKIP() << RINGPROXY_BINARY << " is not built";
  OriginServer origin("real");
  auto proxy = ProxyProcess::start(RINGPROXY_BINARY,
                                   "[server]\n"
                                   "listen = [\"127.0.0.1:0\"]\n"
                                   "workers = 1\n"
                                   "[admin]\n"
                                   "listen = \"127.0.0.1:0\"\n"
                                   "[log]\n"
                                   "access_log = \"off\"\n"
                                   "[[upstream]]\n"
                                   "name = \"app\"\n"
                                   "[[upstream.backend]]\n"
                                   "address = \"" +
                                       origin.address() + "\"\n");
  ASSERT_TRUE(proxy);
  EXPECT_NE(proxy->port(), 0);
  EXPECT_NE(proxy->admin_port(), 0);
  EXPECT_NE(proxy->port(), proxy->admin_port());
  HttpClient client;
  ASSERT_TRUE(client.connect(proxy->port()));
  auto r = client.get("/through");
  EXPECT_EQ(r.status, 200) << r.error << "\n" << proxy->log();
  EXPECT_EQ(r.header("X-Origin"), "real");
  client.close();
  proxy->signal(SIGTERM);
  EXPECT_EQ(proxy->wait_exit(20s), std::optional<int>(0)) << proxy->log();
}

TEST(ProxyProcess, StartFailsWhenTheChildExits) {
  auto proxy = ProxyProcess::start("/bin/false", "");
  EXPECT_FALSE(proxy);
}

TEST(ProxyProcess, RunCapturesExitCodeAndOutput) {
  auto echo = ProxyProcess::run("/bin/sh", {"-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(echo.exit_code, 3);
  EXPECT_TRUE(contains(echo.output, "out\n"));
  EXPECT_TRUE(contains(echo.output, "err\n"));
  auto slow = ProxyProcess::run("/bin/sh", {"-c", "sleep 5"}, 200ms);
  EXPECT_EQ(slow.exit_code, -1);
  auto missing = ProxyProcess::run("/nonexistent/ringproxy", {"--version"});
  EXPECT_EQ(missing.exit_code, 127);
}

}  // namespace
}  // namespace ringproxy::test
