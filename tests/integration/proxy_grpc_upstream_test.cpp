// gRPC behind an h2c upstream (issue #20, the backend side): Debian's python3-grpcio as the
// server (tests/integration/grpc_origin.py), an HTTP/1.1 client speaking gRPC's framing with
// TE: trailers: unary calls with trailing metadata, bidirectional streaming while both sides
// send, error statuses and grpc-timeout.
#include "h2_upstream_fixture.hpp"

namespace ringproxy::test {
namespace {

const std::string kGrpcScript = kSourceDir + "/tests/integration/grpc_origin.py";

// One gRPC length-prefixed message (uncompressed).
std::string grpc_frame(std::string_view message) {
  std::string out(5, '\0');
  const auto n = static_cast<std::uint32_t>(message.size());
  out[1] = static_cast<char>(n >> 24);
  out[2] = static_cast<char>(n >> 16);
  out[3] = static_cast<char>(n >> 8);
  out[4] = static_cast<char>(n);
  return out.append(message);
}

// The same framed as one chunk of an HTTP/1.1 chunked body.
std::string chunk(std::string_view data) {
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size) + std::string(data) + "\r\n";
}

std::string call_head(std::string_view method, std::string_view extra = "") {
  return "POST /test.Echo/" + std::string(method) +
         " HTTP/1.1\r\nHost: grpc\r\nContent-Type: application/grpc\r\nTE: trailers\r\n" +
         std::string(extra);
}

class GrpcUpstreamTest : public H2UpstreamTest {
 protected:
  void start() {
    ScriptOrigin& o = start_h2_origin({}, kGrpcScript);
    // request_buffer_bytes as by default: a chunked body to an HTTP/2 backend streams anyway.
    ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {o.address()})));
  }
};

TEST_F(GrpcUpstreamTest, UnaryCallCarriesItsMessageAndTrailingMetadata) {
  ASSERT_NO_FATAL_FAILURE(start());
  Conversation c;
  ASSERT_TRUE(c.connect(port()));
  const std::string body = grpc_frame("hello");
  ASSERT_TRUE(c.send(
      call_head("Unary", "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n") + body));
  const std::string got = c.read_until("x-trailer: done\r\n", 10s);
  EXPECT_TRUE(contains(got, "HTTP/1.1 200")) << got;
  EXPECT_TRUE(contains(got, "content-type: application/grpc")) << got;
  EXPECT_TRUE(contains(got, grpc_frame("olleh"))) << got;
  EXPECT_TRUE(contains(got, "\r\n0\r\n")) << got;
  EXPECT_TRUE(contains(got, "grpc-status: 0\r\n")) << got;
  EXPECT_TRUE(contains(got, "x-trailer: done\r\n")) << got;
}

TEST_F(GrpcUpstreamTest, BidirectionalStreamAnswersEachMessageWhileTheCallIsOpen) {
  ASSERT_NO_FATAL_FAILURE(start());
  Conversation c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(
      c.send(call_head("Bidi", "Transfer-Encoding: chunked\r\n\r\n") + chunk(grpc_frame("one"))));
  std::string got = c.read_until("ONE", 10s);
  ASSERT_TRUE(contains(got, "ONE")) << "no answer while the call was open: " << got;
  ASSERT_TRUE(c.send(chunk(grpc_frame("two"))));
  got = c.read_until("TWO", 10s);
  ASSERT_TRUE(contains(got, "TWO")) << got;
  ASSERT_TRUE(c.send("0\r\n\r\n"));
  got = c.read_until("grpc-status: 0\r\n", 10s);
  EXPECT_TRUE(contains(got, "grpc-status: 0\r\n")) << got;
}

TEST_F(GrpcUpstreamTest, AnErrorStatusAndItsMessageReachTheClient) {
  ASSERT_NO_FATAL_FAILURE(start());
  Conversation c;
  ASSERT_TRUE(c.connect(port()));
  const std::string body = grpc_frame("x");
  ASSERT_TRUE(c.send(
      call_head("Fail", "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n") + body));
  const std::string got = c.read_until("no such thing", 10s);
  EXPECT_TRUE(contains(got, "grpc-status: 5")) << got;
  EXPECT_TRUE(contains(got, "grpc-message: no such thing")) << got;
}

TEST_F(GrpcUpstreamTest, GrpcTimeoutEndsTheCallBeforeTheSlowServerAnswers) {
  ASSERT_NO_FATAL_FAILURE(start());
  Conversation c;
  ASSERT_TRUE(c.connect(port()));
  const std::string body = grpc_frame("x");
  const auto started = Clock::now();
  ASSERT_TRUE(c.send(call_head("Slow", "grpc-timeout: 300m\r\nContent-Length: " +
                                           std::to_string(body.size()) + "\r\n\r\n") +
                     body));
  const std::string got = c.read_until("\r\n\r\n", 10s);
  // The proxy (504) or the server, told the deadline (DEADLINE_EXCEEDED), ends it: not the
  // 3 s the server's handler takes.
  EXPECT_LT(ms_since(started), 2500);
  EXPECT_TRUE(contains(got, "HTTP/1.1 504") || contains(got, "grpc-status: 4")) << got;
}

}  // namespace
}  // namespace ringproxy::test
