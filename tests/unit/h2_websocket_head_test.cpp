// A request's HTTP/2 header block as the HTTP/1.1 head the pipeline reads; WebSocket over
// HTTP/2 (RFC 8441): the HTTP/1.1 upgrade an extended CONNECT becomes, and the handshake's key
// and accept values (RFC 6455 §1.3's example).
#include <gtest/gtest.h>

#include <initializer_list>
#include <string_view>
#include <utility>

#include "http/h2_messages.hpp"
#include "http/websocket_key.hpp"

namespace ringproxy {
namespace {

using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// A header block as nghttp2 hands it over, field by field.
H2RequestHead head_of(Fields fields) {
  H2RequestHead h;
  for (const auto& [name, value] : fields) h.add(name, value, 16384);
  return h;
}

// A WebSocket-like request (method and :protocol given; none when empty).
H2RequestHead head(std::string_view method, std::string_view protocol) {
  H2RequestHead h = head_of({{":method", method}});
  if (!protocol.empty()) h.add(":protocol", protocol, 16384);
  for (const auto& [name, value] : Fields{{":scheme", "https"},
                                          {":path", "/chat?room=1"},
                                          {":authority", "ws.test"},
                                          {"sec-websocket-version", "13"},
                                          {"sec-websocket-key", "client-key-not-for-http2"},
                                          {"sec-websocket-protocol", "chat, superchat"},
                                          {"origin", "https://ws.test"}}) {
    h.add(name, value, 16384);
  }
  return h;
}

TEST(H2RequestHead, ARequestBecomesAnHttp11HeadWithHostFirstAndCookiesJoined) {
  H2RequestHead h = head_of({{":method", "POST"},
                             {":scheme", "https"},
                             {":path", "/upload/a-path-longer-than-sso?x=1"},
                             {":authority", "app.test:8443"},
                             {"cookie", "a=1"},
                             {"accept", "*/*"},
                             {"cookie", "b=2"}});
  bool chunked = false;
  EXPECT_EQ(h.take_text(true, &chunked),
            "POST /upload/a-path-longer-than-sso?x=1 HTTP/1.1\r\n"
            "host: app.test:8443\r\n"
            "accept: */*\r\n"
            "cookie: a=1; b=2\r\n"
            "transfer-encoding: chunked\r\n\r\n");
  EXPECT_TRUE(chunked);
}

TEST(H2RequestHead, WithContentLengthOrNoBodyItIsNotChunked) {
  H2RequestHead with_length =
      head_of({{":method", "PUT"}, {":path", "/"}, {"host", "h.test"}, {"content-length", "3"}});
  bool chunked = true;
  EXPECT_EQ(with_length.take_text(true, &chunked),
            "PUT / HTTP/1.1\r\nhost: h.test\r\ncontent-length: 3\r\n\r\n");
  EXPECT_FALSE(chunked);
  H2RequestHead bare = head_of({{":method", "GET"}, {":path", "/"}});
  EXPECT_EQ(bare.take_text(false, &chunked), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_FALSE(chunked);
}

TEST(H2WebSocketHead, AcceptIsRfc6455sExample) {
  EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(H2WebSocketHead, KeysAreFreshBase64OfSixteenBytes) {
  const std::string a = websocket_key();
  const std::string b = websocket_key();
  EXPECT_EQ(a.size(), 24u);
  EXPECT_EQ(a.substr(22), "==");
  EXPECT_NE(a, b);
}

TEST(H2WebSocketHead, ExtendedConnectForWebSocketBecomesAnHttp11Upgrade) {
  H2RequestHead h = head("CONNECT", "websocket");
  ASSERT_TRUE(h.websocket());
  EXPECT_EQ(h.take_websocket_text("KEY"),
            "GET /chat?room=1 HTTP/1.1\r\n"
            "host: ws.test\r\n"
            "sec-websocket-protocol: chat, superchat\r\n"
            "origin: https://ws.test\r\n"
            "connection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n"
            "sec-websocket-key: KEY\r\n\r\n");
}

TEST(H2WebSocketHead, OnlyCONNECTWithTheWebSocketProtocolIsOne) {
  EXPECT_TRUE(head("CONNECT", "WebSocket").websocket());
  EXPECT_FALSE(head("CONNECT", "foo").websocket());
  EXPECT_FALSE(head("CONNECT", "").websocket());
  EXPECT_FALSE(head("GET", "websocket").websocket());
}

}  // namespace
}  // namespace ringproxy
