// Trailer sections through the proxy and its HTTP/1.1 backends (issue #20: "trailers mapped
// both ways"): a chunked request's trailers (from HTTP/1.1 or as an HTTP/2 trailing HEADERS
// block) reach the backend after its last chunk; a backend's chunked trailers reach an HTTP/2
// client as trailing HEADERS and an HTTP/1.1 client that sent TE: trailers; forbidden fields
// are dropped, oversized or malformed sections take the error paths, and the backend
// connection is reused after a trailered response.
#include <mutex>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// Each request the backend received, as the bytes it received.
using RecordingOrigin = CannedOrigin;

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
// A chunked response whose trailer section holds fields to pass and fields to drop.
constexpr std::string_view kTrailered =
    "HTTP/1.1 200 OK\r\nServer-Timing: head\r\nTransfer-Encoding: chunked\r\n"
    "Trailer: X-Checksum\r\n\r\n"
    "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\nGrpc-Status: 0\r\nHost: evil.test\r\n"
    "Keep-Alive: timeout=1\r\nProxy-Connection: x\r\nTrailer: y\r\nServer-Timing: total\r\n\r\n";

class TrailersTest : public ProxyTest {
 protected:
  // Starts the proxy in front of origin alone (h2c on), with extra [server] lines.
  bool start_with(RecordingOrigin& origin, std::string_view server_lines = "") {
    return start_proxy(ProxyOptions()
                           .server("h2c = true")
                           .server(server_lines)
                           .only_tables(upstream_toml("app", {origin.address()}, "")));
  }

  // Reads from s until what it received since `from` holds marker (or it closed, or 10 s).
  static bool receive_until(RawSocket& s, std::size_t from, std::string_view marker) {
    const auto deadline = Clock::now() + 10s;
    while (s.received().find(marker, from) == std::string::npos) {
      if (Clock::now() > deadline || s.wait_closed(20ms)) {
        return s.received().find(marker, from) != std::string::npos;
      }
    }
    return true;
  }

  ProxyProcess::RunResult h2_script(std::string_view mode) {
    return ProxyProcess::run("/usr/bin/python3",
                             {kSourceDir + "/tests/integration/h2_trailers.py",
                              std::to_string(port()), std::string(mode)},
                             60s);
  }
};

// The request the origin received: one, with its trailer section after the last chunk and
// nothing of it in the head.
void expect_request_trailers(const std::vector<std::string>& seen, std::string_view section) {
  ASSERT_EQ(seen.size(), 1u);
  const std::string& request = seen[0];
  const std::string head = request.substr(0, request.find("\r\n\r\n") + 4);
  EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << request;
  EXPECT_EQ(head.find("X-Checksum"), std::string::npos) << "merged into the head: " << request;
  EXPECT_TRUE(request.ends_with(section)) << request;
  EXPECT_EQ(request.find("evil.test"), std::string::npos) << request;
}

TEST_F(TrailersTest, Http11ChunkedRequestTrailersReachTheBackendBufferedOrStreamed) {
  // request_buffer_bytes 0: the body streams to the backend as it comes (send_body);
  // the default reads a small body whole before a backend is picked (buffer_body).
  for (const std::string_view lines : {"", "request_buffer_bytes = 0"}) {
    SCOPED_TRACE(lines);
    RecordingOrigin origin{std::string(kOk)};
    ASSERT_TRUE(start_with(origin, lines));
    RawSocket client;
    ASSERT_TRUE(client.connect(port()));
    ASSERT_TRUE(client.send(
        "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nHost: evil.test\r\nTrailer: X-Checksum\r\n"
        "x-note: n\r\n\r\n"));
    ASSERT_TRUE(receive_until(client, 0, "\r\n\r\nok")) << client.received();
    EXPECT_TRUE(client.received().starts_with("HTTP/1.1 200")) << client.received();
    expect_request_trailers(origin.requests(),
                            "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nx-note: n\r\n\r\n");
    client.close();
    end_proxy();
    proxy_.reset();
  }
}

TEST_F(TrailersTest, H2RequestTrailersReachTheBackendAsChunkedTrailers) {
  RecordingOrigin origin{std::string(kOk)};
  ASSERT_TRUE(start_with(origin));
  const auto r = h2_script("request");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("status 200\n"), std::string::npos) << r.output;
  // content-length and host are dropped from the trailing HEADERS (RFC 9113 §8.1).
  expect_request_trailers(origin.requests(),
                          "5\r\nhello\r\n0\r\nx-checksum: abc\r\nx-note: n\r\n\r\n");
}

TEST_F(TrailersTest, ResponseTrailersReachAnH2ClientAsTrailingHeaders) {
  RecordingOrigin origin{std::string(kTrailered)};
  ASSERT_TRUE(start_with(origin));
  const auto r = h2_script("response");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("status 200\nbody hello world\n"), std::string::npos) << r.output;
  // A trailer field named as a head field is told apart from it (Beast files them together,
  // so it comes first: the order of differently named fields carries no meaning).
  for (const char* field : {"x-checksum: abc", "grpc-status: 0", "server-timing: total"}) {
    EXPECT_NE(r.output.find(std::string("trailer ") + field + "\n"), std::string::npos)
        << field << "\n"
        << r.output;
  }
  EXPECT_EQ(r.output.find("trailer server-timing: head"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("trailers-end-stream 1\n"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("data-end-stream"), std::string::npos) << r.output;
  for (const char* dropped : {"evil.test", "keep-alive", "proxy-connection", "trailer trailer"}) {
    EXPECT_EQ(r.output.find(dropped), std::string::npos) << dropped << "\n" << r.output;
  }
}

TEST_F(TrailersTest, ResponseTrailersReachHttp11ClientsThatAskAndTheBackendConnectionIsReused) {
  RecordingOrigin origin{std::string(kTrailered)};
  ASSERT_TRUE(start_with(origin));
  RawSocket client;
  ASSERT_TRUE(client.connect(port()));
  // TE: trailers: the section after the last chunk, forbidden fields dropped.
  ASSERT_TRUE(client.send("GET /a HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n"));
  ASSERT_TRUE(receive_until(client, 0, "world\r\n0\r\n")) << client.received();
  const std::size_t section = client.received().find("world\r\n0\r\n") + 7;
  ASSERT_TRUE(receive_until(client, section, "\r\n\r\n")) << client.received();
  const std::size_t first = client.received().size();
  EXPECT_EQ(client.received().substr(section),
            "0\r\nServer-Timing: total\r\nX-Checksum: abc\r\nGrpc-Status: 0\r\n\r\n");
  EXPECT_NE(client.received().find("\r\nServer-Timing: head\r\n"), std::string::npos);
  EXPECT_EQ(client.received().find("evil.test"), std::string::npos) << client.received();
  EXPECT_EQ(client.received().find("Keep-Alive"), std::string::npos) << client.received();
  // Without TE: trailers the section is dropped (RFC 9110 §6.5.1 allows it): the last chunk
  // alone. On the same connections both ways: the trailer section and its final CRLF were
  // consumed exactly, so the pooled backend connection served the second request.
  ASSERT_TRUE(client.send("GET /b HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(receive_until(client, first, "world\r\n0\r\n\r\n"))
      << client.received().substr(first);
  EXPECT_EQ(client.received().find("X-Checksum", first), std::string::npos)
      << client.received().substr(first);
  EXPECT_EQ(origin.requests().size(), 2u);
  EXPECT_EQ(origin.connections_accepted(), 1u);
  // And an HTTP/2 client after them, still on the one backend connection.
  const auto r = h2_script("response");
  EXPECT_NE(r.output.find("trailer x-checksum: abc\n"), std::string::npos) << r.output;
  EXPECT_EQ(origin.requests().size(), 3u);
  EXPECT_EQ(origin.connections_accepted(), 1u);
}

TEST_F(TrailersTest, OversizedOrMalformedResponseTrailersNeverPassAsComplete) {
  // 70 KiB is over the 64 KiB head limit but fits the backend read buffer; 200 KiB does not.
  const std::string big_70(70 * 1024, 'v');
  const std::string big_200(200 * 1024, 'v');
  for (const std::string& section : {"X-Big: " + big_70 + "\r\n", "X-Big: " + big_200 + "\r\n",
                                     std::string("Bad Name: x\r\n")}) {
    SCOPED_TRACE(section.substr(0, 20));
    RecordingOrigin origin{
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\n" +
        section + "\r\n"};
    ASSERT_TRUE(start_with(origin));
    for (const bool te : {true, false}) {
      RawSocket client;
      ASSERT_TRUE(client.connect(port()));
      ASSERT_TRUE(client.send(std::string("GET /big HTTP/1.1\r\nHost: t\r\n") +
                              (te ? "TE: trailers\r\n" : "") + "\r\n"));
      // A 502 when nothing was relayed yet, else the response cut off: never its last chunk.
      EXPECT_TRUE(client.wait_closed(10s)) << te;
      const std::string& got = client.received();
      EXPECT_TRUE(got.starts_with("HTTP/1.1 502") || got.starts_with("HTTP/1.1 200")) << got;
      EXPECT_EQ(got.find("0\r\n\r\n"), std::string::npos) << got.substr(0, 200);
      EXPECT_EQ(got.find("vvvv"), std::string::npos);
    }
    // An HTTP/2 client's stream is reset (INTERNAL_ERROR) after what came.
    const auto r = h2_script("response");
    EXPECT_NE(r.output.find("reset 2\n"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("trailers-end-stream"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("data-end-stream"), std::string::npos) << r.output;
    // The proxy is fine: a new client is served (by a new backend connection).
    RawSocket again;
    ASSERT_TRUE(again.connect(port()));
    ASSERT_TRUE(again.send("GET /again HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    EXPECT_TRUE(again.wait_closed(10s));
    EXPECT_TRUE(again.received().starts_with("HTTP/1.1 ")) << again.received();
    again.close();
    if (baseline_) expect_resources_back();
    end_proxy();
    proxy_.reset();
  }
}

TEST_F(TrailersTest, OversizedOrMalformedRequestTrailersAreRefused) {
  const std::string big(10 * 1024, 'v');    // over max_header_bytes = 8192
  const std::string huge(100 * 1024, 'v');  // over the client read buffer too
  // Over the largest field Beast's message can hold (it throws beyond; a crash before the cap
  // on body reads), within the client read buffer (max_header_bytes + 64 KiB).
  const std::string over_beast(66 * 1024, 'v');
  struct Case {
    std::string section;
    std::string status;
  };
  for (const std::string_view lines : {"", "request_buffer_bytes = 0"}) {
    RecordingOrigin origin{std::string(kOk)};
    ASSERT_TRUE(start_with(origin, std::string("max_header_bytes = 8192\n").append(lines)));
    for (const Case& c :
         {Case{"X-Big: " + big + "\r\n", "431"}, Case{"X-Big: " + huge + "\r\n", "431"},
          Case{"X-Big: " + over_beast + "\r\n", "431"}, Case{"Bad Name: x\r\n", "400"},
          Case{"Content-Length: 5\r\n", "400"}}) {
      SCOPED_TRACE(std::string(lines) + " " + c.section.substr(0, 20));
      RawSocket client;
      ASSERT_TRUE(client.connect(port()));
      client.send(
          "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\nhello\r\n0\r\n" +
          c.section + "\r\n");
      EXPECT_TRUE(client.wait_closed(10s));
      EXPECT_TRUE(client.received().starts_with("HTTP/1.1 " + c.status)) << client.received();
    }
    // The buffered path refuses before any backend; the streamed one has sent the body on
    // and drops that backend connection: no request reached the backend whole.
    for (const std::string& seen : origin.requests()) {
      EXPECT_EQ(seen.find("X-Big"), std::string::npos);
    }
    if (baseline_) expect_resources_back();
    end_proxy();
    proxy_.reset();
  }
}

}  // namespace
}  // namespace ringproxy::test
