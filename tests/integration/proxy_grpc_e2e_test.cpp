// gRPC end to end through ringproxy (issue #20): Debian's python3-grpcio as the client (over
// HTTP/2 with prior knowledge, server.h2c) and as the server behind an h2c upstream: unary and
// bidirectional streaming calls, trailing metadata, deadlines, error statuses, and a gRPC
// status (UNAVAILABLE) when every backend is down.
#include "h2_upstream_fixture.hpp"

namespace ringproxy::test {
namespace {

const std::string kGrpcServer = kSourceDir + "/tests/integration/grpc_origin.py";
const std::string kGrpcClient = kSourceDir + "/tests/integration/grpc_client.py";

class GrpcEndToEndTest : public H2UpstreamTest {
 protected:
  // The proxy with h2c on its listener, in front of a gRPC server (or a dead port).
  void start(bool backend_up = true) {
    std::string address;
    if (backend_up) {
      address = start_h2_origin({}, kGrpcServer).address();
    } else {
      dead_ = std::make_unique<ReservedPort>();
      address = "127.0.0.1:" + std::to_string(dead_->port());
    }
    ASSERT_TRUE(start_h2_proxy(h2_upstream("h2c", {address}), "h2c = true"));
  }
  // Runs the client's scenario; its output.
  std::string call(const std::string& scenario) {
    const auto r =
        ProxyProcess::run("/usr/bin/python3", {kGrpcClient, std::to_string(port()), scenario}, 30s);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  }
  std::unique_ptr<ReservedPort> dead_;
};

TEST_F(GrpcEndToEndTest, UnaryCallReturnsItsReplyAndTrailingMetadata) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string out = call("unary");
  EXPECT_TRUE(contains(out, "code OK\n")) << out;
  EXPECT_TRUE(contains(out, "reply olleh\n")) << out;
  EXPECT_TRUE(contains(out, "trailer done\n")) << out;
}

TEST_F(GrpcEndToEndTest, BidirectionalStreamRepliesBeforeTheClientIsDone) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string out = call("bidi");
  EXPECT_TRUE(contains(out, "reply ONE\nreply TWO\nreply THREE\nrest 0\ncode OK\n")) << out;
}

TEST_F(GrpcEndToEndTest, DeadlineExceededEndsASlowCall) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string out = call("deadline");
  EXPECT_TRUE(contains(out, "code DEADLINE_EXCEEDED\n")) << out;
  const auto at = out.find("elapsed_ms ");
  ASSERT_NE(at, std::string::npos) << out;
  EXPECT_LT(std::atoi(out.c_str() + at + 11), 2500) << out;
}

TEST_F(GrpcEndToEndTest, AServerErrorStatusAndItsDetailsReachTheClient) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string out = call("fail");
  EXPECT_TRUE(contains(out, "code NOT_FOUND\n")) << out;
  EXPECT_TRUE(contains(out, "details no such thing\n")) << out;
}

TEST_F(GrpcEndToEndTest, AllBackendsDownIsUnavailableNotABareHttpError) {
  ASSERT_NO_FATAL_FAILURE(start(false));
  const std::string out = call("unavailable");
  EXPECT_TRUE(contains(out, "code UNAVAILABLE\n")) << out;
}

}  // namespace
}  // namespace ringproxy::test
