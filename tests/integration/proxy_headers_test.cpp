// Request and response header rewriting: X-Forwarded-*, Via, X-Request-Id, Host, hop-by-hop
// fields, and Expect: 100-continue.

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

bool is_hex32(const std::string& s) {
  if (s.size() != 32) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// One origin behind the proxy; each test looks at what the origin received.
class HeadersTest : public ProxyTest {
 protected:
  void SetUp() override {
    start_origins(1);
    ASSERT_TRUE(start_proxy());
  }
  // Sends one GET with `headers` and returns what the origin saw.
  RecordedRequest relay(const HeaderList& headers, std::string target = "/h") {
    auto client = connect();
    if (!client) return {};
    auto r = client->get(target, headers);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(echo_line(r.body, "target"), target);
    return origin().last_request();
  }
};

TEST_F(HeadersTest, XForwardedForIsAddedWithTheClientAddress) {
  auto seen = relay({});
  EXPECT_EQ(seen.header("X-Forwarded-For"), "127.0.0.1");
  EXPECT_EQ(count_header(seen.headers, "X-Forwarded-For"), 1u);

  // From another loopback address, the proxy reports that one.
  HttpClient client;
  ASSERT_TRUE(client.connect(port(), "127.0.0.1", "127.0.0.2")) << client.last_error();
  auto r = client.get("/from-127-0-0-2");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(origin().last_request().header("X-Forwarded-For"), "127.0.0.2");
}

TEST_F(HeadersTest, IncomingXForwardedForIsAppendedTo) {
  auto seen = relay({{"X-Forwarded-For", "203.0.113.7"}});
  EXPECT_EQ(seen.header("X-Forwarded-For"), "203.0.113.7, 127.0.0.1");
  EXPECT_EQ(count_header(seen.headers, "X-Forwarded-For"), 1u);

  auto seen2 =
      relay({{"X-Forwarded-For", "203.0.113.7, 198.51.100.1"}, {"X-Forwarded-For", "10.1.2.3"}});
  EXPECT_EQ(seen2.header("X-Forwarded-For"), "203.0.113.7, 198.51.100.1, 10.1.2.3, 127.0.0.1");
  EXPECT_EQ(count_header(seen2.headers, "X-Forwarded-For"), 1u);
}

TEST_F(HeadersTest, XForwardedProtoAndHostAreSet) {
  auto seen = relay({{"Host", "shop.example.org:8443"}, {"X-Forwarded-Proto", "https"}});
  EXPECT_EQ(seen.header("X-Forwarded-Proto"), "http");
  EXPECT_EQ(count_header(seen.headers, "X-Forwarded-Proto"), 1u);
  EXPECT_EQ(seen.header("X-Forwarded-Host"), "shop.example.org:8443");
  EXPECT_EQ(count_header(seen.headers, "X-Forwarded-Host"), 1u);
}

TEST_F(HeadersTest, HostIsKeptAsSent) {
  auto seen = relay({{"Host", "Mixed.Example.COM:1234"}});
  EXPECT_EQ(seen.header("Host"), "Mixed.Example.COM:1234");
  EXPECT_EQ(count_header(seen.headers, "Host"), 1u);
}

TEST_F(HeadersTest, ViaIsAddedOrAppendedUpstreamAndOnResponses) {
  auto seen = relay({});
  EXPECT_EQ(seen.header("Via"), "1.1 ringproxy");

  auto seen2 = relay({{"Via", "1.0 fred, 1.1 p.example.net"}});
  EXPECT_EQ(seen2.header("Via"), "1.0 fred, 1.1 p.example.net, 1.1 ringproxy");
  EXPECT_EQ(count_header(seen2.headers, "Via"), 1u);

  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->get("/via");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.header("Via"), "1.1 ringproxy");
  EXPECT_EQ(r.header("X-Origin"), "o0");  // end-to-end response fields pass through
}

TEST_F(HeadersTest, XRequestIdIsKeptWhenSent) {
  auto seen = relay({{"X-Request-Id", "client-chosen-id-42"}});
  EXPECT_EQ(seen.header("X-Request-Id"), "client-chosen-id-42");
  EXPECT_EQ(count_header(seen.headers, "X-Request-Id"), 1u);
}

TEST_F(HeadersTest, XRequestIdIsGeneratedAndDiffersPerRequest) {
  auto client = connect();
  ASSERT_TRUE(client);
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = client->get("/id");
    ASSERT_EQ(r.status, 200) << r.error;
    auto seen = origin().last_request();
    EXPECT_EQ(count_header(seen.headers, "X-Request-Id"), 1u);
    const std::string id = seen.header("X-Request-Id");
    EXPECT_TRUE(is_hex32(id)) << "X-Request-Id \"" << id << "\"";
    ids.insert(id);
  }
  // A second connection gets fresh ids too.
  auto other = connect();
  ASSERT_TRUE(other);
  ASSERT_EQ(other->get("/id").status, 200);
  ids.insert(origin().last_request().header("X-Request-Id"));
  EXPECT_EQ(ids.size(), 6u);
}

TEST_F(HeadersTest, ConnectionAndTheFieldsItNamesAreRemoved) {
  auto seen = relay({{"Connection", "keep-alive, X-Secret"},
                     {"Connection", "x-other-hop"},
                     {"X-Secret", "s3cr3t"},
                     {"X-Other-Hop", "o"},
                     {"X-Keep", "k"}});
  EXPECT_EQ(count_header(seen.headers, "Connection"), 0u);
  EXPECT_EQ(count_header(seen.headers, "X-Secret"), 0u);
  EXPECT_EQ(count_header(seen.headers, "X-Other-Hop"), 0u);
  EXPECT_EQ(seen.header("X-Keep"), "k");
}

TEST_F(HeadersTest, HopByHopFieldsAreNotForwarded) {
  auto seen = relay({{"TE", "gzip"},
                     {"Upgrade", "websocket"},
                     {"Keep-Alive", "timeout=5, max=100"},
                     {"Proxy-Connection", "keep-alive"},
                     {"Trailer", "X-Checksum"},
                     {"X-End-To-End", "yes"}});
  for (const char* name : {"TE", "Upgrade", "Keep-Alive", "Proxy-Connection", "Trailer"})
    EXPECT_EQ(count_header(seen.headers, name), 0u) << name << " was forwarded";
  EXPECT_EQ(seen.header("X-End-To-End"), "yes");
}

TEST_F(HeadersTest, ChunkedRequestIsReframedWithOneTransferEncoding) {
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_TRUE(
      client->send_raw("POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "4\r\nabcd\r\n0\r\n\r\n"));
  auto r = client->read_response();
  ASSERT_EQ(r.status, 200) << r.error;
  auto seen = origin().last_request();
  EXPECT_EQ(seen.body_bytes, 4u);
  EXPECT_EQ(seen.body_fnv1a64, fnv1a64("abcd"));
  EXPECT_LE(count_header(seen.headers, "Transfer-Encoding"), 1u);
}

TEST_F(HeadersTest, ExpectContinueIsAnsweredByTheProxyAndNotForwarded) {
  auto client = connect();
  ASSERT_TRUE(client);
  const std::string body = "body after continue";
  ASSERT_TRUE(client->send_raw("POST /expect HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = client->read_response();
  ASSERT_EQ(interim.status, 100) << interim.error;
  ASSERT_TRUE(client->send_raw(body));
  auto r = client->read_response();
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(echo_line(r.body, "body-bytes"), std::to_string(body.size()));
  auto seen = origin().last_request();
  EXPECT_EQ(seen.target, "/expect");
  EXPECT_EQ(seen.body_bytes, body.size());
  EXPECT_EQ(seen.body_fnv1a64, fnv1a64(body));
  EXPECT_EQ(count_header(seen.headers, "Expect"), 0u);
}

// Response side: an origin that sends hop-by-hop fields.
class ResponseHeadersTest : public ProxyTest {};

TEST_F(ResponseHeadersTest, HopByHopFieldsAreRemovedFromResponses) {
  CannedOrigin canned(
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Hop-Field\r\nX-Hop-Field: 1\r\n"
      "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n"
      "Trailer: X-Sum\r\nVia: 1.1 origin-cache\r\nX-End-To-End: yes\r\n\r\nok");
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(upstream_toml("canned", {canned.address()}))));
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->get("/canned");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "ok");
  EXPECT_EQ(r.header("X-End-To-End"), "yes");
  for (const char* name : {"X-Hop-Field", "Keep-Alive", "Proxy-Connection", "Upgrade", "Trailer"})
    EXPECT_EQ(r.header_count(name), 0u) << name << " reached the client";
  EXPECT_FALSE(contains(r.header("Connection"), "X-Hop-Field"));
  EXPECT_EQ(r.header("Via"), "1.1 origin-cache, 1.1 ringproxy");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(canned.requests_seen(), 1u);
}

TEST_F(ResponseHeadersTest, EarlyHintsGoOnToTheClientBeforeTheResponse) {
  CannedOrigin canned(
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(upstream_toml("canned", {canned.address()}))));
  RawSocket raw;
  ASSERT_TRUE(raw.connect(port()));
  ASSERT_TRUE(raw.send("GET /hints HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(raw.wait_closed(3s));
  const std::string& got = raw.received();
  ASSERT_TRUE(got.starts_with("HTTP/1.1 103 Early Hints\r\n")) << got;
  EXPECT_TRUE(contains(got.substr(0, got.find("\r\n\r\n")), "Link: </style.css>; rel=preload"))
      << got;
  const auto final_at = got.find("HTTP/1.1 200 OK\r\n");
  ASSERT_NE(final_at, std::string::npos) << got;
  EXPECT_TRUE(got.ends_with("\r\n\r\nok")) << got;
}

TEST_F(ResponseHeadersTest, AnUnaskedProtocolSwitchIs502) {
  CannedOrigin canned(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
  ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(upstream_toml("canned", {canned.address()}))));
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->get("/switch", {{"Upgrade", "h2c"}, {"Connection", "Upgrade"}});
  EXPECT_EQ(r.status, 502) << r.error;
}

TEST_F(HeadersTest, MaxForwardsZeroOnOptionsIsAnsweredByTheProxy) {
  auto client = connect();
  ASSERT_TRUE(client);
  const std::size_t before = origin().requests_seen();
  auto r = client->request("OPTIONS", "/x", {{"Max-Forwards", "0"}});
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_FALSE(r.header("Allow").empty());
  EXPECT_TRUE(r.keep_alive);
  auto t = client->request("TRACE", "/x", {{"Max-Forwards", "0"}});
  EXPECT_EQ(t.status, 405) << t.error;
  EXPECT_EQ(origin().requests_seen(), before) << "a Max-Forwards: 0 request was forwarded";
}

TEST_F(HeadersTest, MaxForwardsIsDecrementedOnOptions) {
  auto client = connect();
  ASSERT_TRUE(client);
  auto r = client->request("OPTIONS", "/x", {{"Max-Forwards", "5"}});
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(origin().last_request().header("Max-Forwards"), "4");
  auto g = client->get("/y", {{"Max-Forwards", "5"}});  // other methods: left alone
  EXPECT_EQ(g.status, 200) << g.error;
  EXPECT_EQ(origin().last_request().header("Max-Forwards"), "5");
}

TEST_F(HeadersTest, TeIsForwardedOnlyAsTrailers) {
  auto seen = relay({{"TE", "trailers, deflate;q=0.5"}, {"Connection", "TE"}});
  EXPECT_EQ(seen.header("TE"), "trailers");
  auto plain = relay({{"TE", "gzip"}, {"Connection", "TE"}});
  EXPECT_EQ(count_header(plain.headers, "TE"), 0u);
}

}  // namespace
}  // namespace ringproxy::test
