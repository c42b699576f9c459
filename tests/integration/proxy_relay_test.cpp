// Relaying through the real proxy: methods, bodies, statuses, keep-alive on both sides,
// chunked framing both ways and pipelining.

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// One origin behind the proxy, one worker (so that pool reuse is deterministic).
class RelayTest : public ProxyTest {
 protected:
  void SetUp() override {
    start_origins(1);
    ASSERT_TRUE(start_proxy());
  }
};

TEST_F(RelayTest, GetIsRelayedWithMethodTargetAndOriginBody) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->get("/hello/world?x=1&y=two", {{"X-Test", "one"}});
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.header("X-Origin"), "o0");
  EXPECT_EQ(echo_line(r.body, "origin"), "o0");
  EXPECT_EQ(echo_line(r.body, "method"), "GET");
  EXPECT_EQ(echo_line(r.body, "target"), "/hello/world?x=1&y=two");
  EXPECT_EQ(echo_line(r.body, "body-bytes"), "0");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));

  auto seen = origin().last_request();
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.target, "/hello/world?x=1&y=two");
  EXPECT_EQ(seen.version, 11);
  EXPECT_EQ(seen.body_bytes, 0u);
  EXPECT_EQ(seen.header("X-Test"), "one");
  EXPECT_EQ(origin().requests_seen(), 1u);
}

TEST_F(RelayTest, PostBodyArrivesWholeAtTheOrigin) {
  auto client = connect();
  ASSERT_TRUE(client);
  const std::string body = pattern_string(100000);
  auto r =
      client->request("POST", "/submit?k=v", {{"Content-Type", "application/octet-stream"}}, body);
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(echo_line(r.body, "method"), "POST");
  EXPECT_EQ(echo_line(r.body, "target"), "/submit?k=v");
  EXPECT_EQ(echo_line(r.body, "body-bytes"), "100000");
  EXPECT_EQ(echo_line(r.body, "body-fnv"), fnv_hex(fnv1a64(body)));

  auto seen = origin().last_request();
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/submit?k=v");
  EXPECT_EQ(seen.body_bytes, 100000u);
  EXPECT_EQ(seen.body_fnv1a64, fnv1a64(body));
  EXPECT_EQ(seen.header("Content-Type"), "application/octet-stream");
}

TEST_F(RelayTest, PostEchoReturnsTheBodySent) {
  auto client = connect();
  ASSERT_TRUE(client);
  const std::string body = "The quick brown fox jumps over the lazy dog\n" + pattern_string(5000);
  auto r = client->request("POST", "/echo", {}, body);
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, body);
  // /echo records the request after its last write, which may be after the client read it.
  EXPECT_TRUE(
      wait_until([&] { return origin().last_request().body_fnv1a64 == fnv1a64(body); }, 2s));
}

TEST_F(RelayTest, OriginStatusAndBodyAreRelayedAndA5xxIsNotRetried) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->get("/teapot?status=418");
  ASSERT_EQ(r.status, 418) << r.error;
  EXPECT_EQ(echo_line(r.body, "target"), "/teapot?status=418");
  auto r2 = client->get("/broken?status=503");
  ASSERT_EQ(r2.status, 503) << r2.error;
  EXPECT_EQ(echo_line(r2.body, "target"), "/broken?status=503");
  EXPECT_EQ(r2.header("X-Origin"), "o0");  // the origin's own 503, not the proxy's
  auto r3 = client->get("/nothing?status=204");
  EXPECT_EQ(r3.status, 204) << r3.error;
  EXPECT_TRUE(r3.body.empty());
  EXPECT_EQ(origin().requests_seen(), 3u);
}

TEST_F(RelayTest, ManyRequestsShareOneClientConnectionAndOneUpstreamConnection) {
  auto client = connect();
  ASSERT_TRUE(client);
  const auto local_port = client->local_port();
  for (int i = 0; i < 20; ++i) {
    const std::string target = "/ka/" + std::to_string(i);
    auto r = client->get(target);
    ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.error;
    EXPECT_TRUE(r.keep_alive) << "request " << i;
    EXPECT_EQ(echo_line(r.body, "target"), target);
    ASSERT_TRUE(client->is_open());
    EXPECT_EQ(client->local_port(), local_port);
  }
  EXPECT_EQ(origin().requests_seen(), 20u);
  EXPECT_EQ(origin().connections_accepted(), 1u);
}

TEST_F(RelayTest, UpstreamConnectionsArePooledAcrossClientConnections) {
  for (int c = 0; c < 5; ++c) {
    auto client = connect();
    ASSERT_TRUE(client);
    for (int i = 0; i < 4; ++i) {
      auto r = client->get("/pool/" + std::to_string(c) + "/" + std::to_string(i));
      ASSERT_EQ(r.status, 200) << r.error;
    }
  }
  EXPECT_EQ(origin().requests_seen(), 20u);
  // One worker, sequential requests: the pooled connection is reused by every client.
  EXPECT_LE(origin().connections_accepted(), 2u);
}

TEST_F(RelayTest, ChunkedRequestBodyArrivesWhole) {
  auto client = connect();
  ASSERT_TRUE(client);
  constexpr std::uint64_t kBytes = 3 * 1024 * 1024 + 17;
  auto r = client->upload("/chunked-up", kBytes, /*chunked=*/true);
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(echo_line(r.body, "body-bytes"), std::to_string(kBytes));
  EXPECT_EQ(echo_line(r.body, "body-fnv"), fnv_hex(pattern_fnv1a64(kBytes)));
  auto seen = origin().last_request();
  EXPECT_EQ(seen.body_bytes, kBytes);
  EXPECT_EQ(seen.body_fnv1a64, pattern_fnv1a64(kBytes));
  EXPECT_LE(count_header(seen.headers, "Transfer-Encoding") +
                count_header(seen.headers, "Content-Length"),
            1u);
}

TEST_F(RelayTest, HandWrittenChunkedRequestWithSeveralChunks) {
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send_raw(
      "POST /raw-chunks HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n"));
  auto r = client->read_response();
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(echo_line(r.body, "body-bytes"), "16");
  EXPECT_EQ(echo_line(r.body, "body-fnv"), fnv_hex(fnv1a64("hello 0123456789")));
  // The connection is still usable afterwards.
  auto r2 = client->get("/after");
  EXPECT_EQ(r2.status, 200) << r2.error;
}

TEST_F(RelayTest, ChunkedResponseIsRelayedChunkedAndIntact) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto small = client->get("/small?chunked=1");
  ASSERT_EQ(small.status, 200) << small.error;
  EXPECT_TRUE(small.chunked);
  EXPECT_EQ(small.version, 11);
  EXPECT_EQ(echo_line(small.body, "target"), "/small?chunked=1");

  auto big = client->download("/big?bytes=5000000&chunked=1");
  ASSERT_EQ(big.status, 200) << big.error;
  EXPECT_TRUE(big.chunked);
  EXPECT_TRUE(big.complete) << big.error;
  EXPECT_TRUE(big.pattern_ok);
  EXPECT_EQ(big.bytes, 5000000u);
  EXPECT_TRUE(big.keep_alive);
  // The connection survived the chunked response.
  auto after = client->get("/after-chunked");
  EXPECT_EQ(after.status, 200) << after.error;
}

TEST_F(RelayTest, ContentLengthDownloadIsIntact) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->download("/bytes?bytes=3000001");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_FALSE(r.chunked);
  EXPECT_EQ(r.header("Content-Length"), "3000001");
  EXPECT_TRUE(r.complete) << r.error;
  EXPECT_TRUE(r.pattern_ok);
  EXPECT_EQ(r.bytes, 3000001u);
}

TEST_F(RelayTest, PipelinedRequestsAreAnsweredInOrder) {
  auto client = connect();
  ASSERT_TRUE(client);
  const std::string body = "pipelined body";
  std::string batch;
  batch += "GET /p1?delay_ms=300 HTTP/1.1\r\nHost: localhost\r\n\r\n";
  batch += "GET /p2 HTTP/1.1\r\nHost: localhost\r\n\r\n";
  batch +=
      "POST /p3 HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  batch += "GET /p4?bytes=100000 HTTP/1.1\r\nHost: localhost\r\n\r\n";
  batch += "GET /p5?chunked=1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ASSERT_TRUE(client->send_raw(batch));

  auto r1 = client->read_response();
  ASSERT_EQ(r1.status, 200) << r1.error;
  EXPECT_EQ(echo_line(r1.body, "target"), "/p1?delay_ms=300");
  auto r2 = client->read_response();
  ASSERT_EQ(r2.status, 200) << r2.error;
  EXPECT_EQ(echo_line(r2.body, "target"), "/p2");
  auto r3 = client->read_response();
  ASSERT_EQ(r3.status, 200) << r3.error;
  EXPECT_EQ(echo_line(r3.body, "target"), "/p3");
  EXPECT_EQ(echo_line(r3.body, "body-fnv"), fnv_hex(fnv1a64(body)));
  auto r4 = client->read_response();
  ASSERT_EQ(r4.status, 200) << r4.error;
  EXPECT_EQ(r4.body, pattern_string(100000));
  auto r5 = client->read_response();
  ASSERT_EQ(r5.status, 200) << r5.error;
  EXPECT_EQ(echo_line(r5.body, "target"), "/p5?chunked=1");
  EXPECT_EQ(origin().requests_seen(), 5u);
}

}  // namespace
}  // namespace ringproxy::test
