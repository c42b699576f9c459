// Request bodies and the backend side of the path: early responses while an upload goes on
// (RFC 9112 §9.5), Expect: 100-continue answered with a final status, chunked bodies refused
// before they reach a backend, truncated responses relayed as far as they came, and the
// upstream pool under concurrent keep-alive load.

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

using namespace std::string_literals;

// A client that sends `pieces` of `piece` body bytes every `gap` from its own thread (the
// upload goes on whatever the proxy answers), while the test reads on the same socket.
class SlowUploader {
 public:
  SlowUploader(RawSocket& socket, std::size_t pieces, std::size_t piece,
               std::chrono::milliseconds gap)
      : thread_([&socket, pieces, piece, gap, this] {
          const std::string bytes(piece, 'u');
          for (std::size_t i = 0; i < pieces && !stop_; ++i) {
            std::this_thread::sleep_for(gap);
            if (!socket.send(bytes)) break;
          }
          finished_at_ = Clock::now().time_since_epoch().count();
        }) {}
  ~SlowUploader() {
    stop_ = true;
    thread_.join();
  }
  bool finished() const { return finished_at_.load() != 0; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<Clock::rep> finished_at_{0};
  std::thread thread_;
};

// Reads from socket until a whole response head is in received(), for up to `within`; the time
// it was complete, or nullopt.
std::optional<Clock::time_point> wait_head(RawSocket& socket, std::string_view status_line,
                                           std::chrono::milliseconds within) {
  const auto deadline = Clock::now() + within;
  for (;;) {
    const bool closed = socket.wait_closed(5ms);
    const std::string& got = socket.received();
    const auto at = got.find(status_line);
    if (at != std::string::npos && got.find("\r\n\r\n", at) != std::string::npos) {
      return Clock::now();
    }
    if (closed || Clock::now() >= deadline) return std::nullopt;
  }
}

class EarlyResponseTest : public ProxyTest {};

// The backend answers 413 after 10 of 100000 body bytes while the client uploads slowly: the
// answer reaches the client at once, as the backend sent it, and the connection then closes.
TEST_F(EarlyResponseTest, AnswerBeforeTheBodyIsRelayedAtOnceWhileTheUploadGoesOn) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  RawSocket raw;
  ASSERT_TRUE(raw.connect(port()));
  ASSERT_TRUE(
      raw.send("POST /up?answer_after=10 HTTP/1.1\r\nHost: localhost\r\n"
               "Content-Length: 100000\r\n\r\n0123456789"));
  SlowUploader uploader(raw, 100, 1000, 20ms);  // about 2 s
  const auto head_at = wait_head(raw, "HTTP/1.1 413 ", 5s);
  ASSERT_TRUE(head_at) << "no 413 while the upload went on: " << raw.received();
  const auto answered_at = origin().last_early_answer();
  EXPECT_LT(*head_at - answered_at, 100ms) << "the early answer was held back";
  EXPECT_FALSE(uploader.finished()) << "the answer came only after the upload";
  EXPECT_TRUE(contains(raw.received(), "X-Origin: o0")) << "not the backend's answer";
  EXPECT_TRUE(contains(raw.received(), "Connection: close")) << raw.received();
  EXPECT_TRUE(raw.wait_closed(5s)) << "the connection stayed open after an early answer";
  EXPECT_TRUE(contains(raw.received(), "\r\n\r\nearly answer\n")) << raw.received();
  EXPECT_FALSE(contains(raw.received(), " 502 ")) << raw.received();
}

// The same with Expect: 100-continue: 100, the upload begins, the 413 comes at once.
TEST_F(EarlyResponseTest, AnswerDuringAnUploadAfterContinueIsRelayedAtOnce) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  RawSocket raw;
  ASSERT_TRUE(raw.connect(port()));
  ASSERT_TRUE(
      raw.send("POST /up?answer_after=10 HTTP/1.1\r\nHost: localhost\r\n"
               "Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n"));
  ASSERT_TRUE(wait_head(raw, "HTTP/1.1 100 ", 5s)) << raw.received();
  ASSERT_TRUE(raw.send("0123456789"));
  SlowUploader uploader(raw, 100, 1000, 20ms);
  const auto head_at = wait_head(raw, "HTTP/1.1 413 ", 5s);
  ASSERT_TRUE(head_at) << "no 413 while the upload went on: " << raw.received();
  EXPECT_LT(*head_at - origin().last_early_answer(), 100ms) << "the early answer was held back";
  EXPECT_FALSE(uploader.finished()) << "the answer came only after the upload";
  EXPECT_TRUE(contains(raw.received(), "X-Origin: o0")) << raw.received();
  EXPECT_TRUE(raw.wait_closed(5s));
}

// A backend that refuses on the head alone: the Expect: 100-continue client gets its final
// status instead of 100, and never has to send the body.
TEST_F(EarlyResponseTest, ExpectContinueGetsTheBackendsFinalStatusInsteadOf100) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  RawSocket raw;
  ASSERT_TRUE(raw.connect(port()));
  ASSERT_TRUE(
      raw.send("POST /up?answer_after=0&status=401 HTTP/1.1\r\nHost: localhost\r\n"
               "Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n"));
  const auto head_at = wait_head(raw, "HTTP/1.1 401 ", 5s);
  ASSERT_TRUE(head_at) << raw.received();
  EXPECT_LT(*head_at - origin().last_early_answer(), 100ms);
  EXPECT_FALSE(contains(raw.received(), "HTTP/1.1 100 ")) << raw.received();
  EXPECT_TRUE(raw.received().starts_with("HTTP/1.1 401 ")) << raw.received();
  EXPECT_TRUE(contains(raw.received(), "X-Origin: o0")) << raw.received();
  EXPECT_TRUE(raw.wait_closed(5s));
}

// An interim response (103 Early Hints) while the body is sent is relayed and the upload
// goes on to the final response; before the 100 of an Expect: 100-continue request too.
TEST_F(EarlyResponseTest, InterimResponsesDuringAnUploadLetItGoOn) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  const std::string body = pattern_string(100000);
  for (const bool expect : {false, true}) {
    SCOPED_TRACE(expect ? "Expect: 100-continue" : "plain");
    RawSocket raw;
    ASSERT_TRUE(raw.connect(port()));
    ASSERT_TRUE(raw.send("POST /up?hints_after="s + (expect ? "0" : "10") +
                         " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n" +
                         (expect ? "Expect: 100-continue\r\n" : "") + "\r\n" +
                         (expect ? "" : body.substr(0, 10))));
    ASSERT_TRUE(wait_head(raw, "HTTP/1.1 103 ", 5s)) << raw.received();
    if (expect) ASSERT_TRUE(wait_head(raw, "HTTP/1.1 100 ", 5s)) << raw.received();
    ASSERT_TRUE(raw.send(body.substr(expect ? 0 : 10)));
    ASSERT_TRUE(wait_head(raw, "HTTP/1.1 200 ", 5s)) << raw.received();
    raw.wait_closed(200ms);
    EXPECT_TRUE(contains(raw.received(), "body-bytes: 100000\n")) << raw.received();
    EXPECT_TRUE(contains(raw.received(), "body-fnv: " + fnv_hex(fnv1a64(body))));
    EXPECT_TRUE(contains(raw.received(), "Link: </style.css>; rel=preload"));
  }
}

// A first chunk-size line that comes in a later packet than the head is waited for and
// checked before anything goes upstream.
TEST_F(EarlyResponseTest, LateBadFirstChunkSizeReachesNoBackend) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  for (const char* line : {"fffffffffffffffff\r\n", "ffffffffff\r\n"}) {
    SCOPED_TRACE(line);
    RawSocket raw;
    ASSERT_TRUE(raw.connect(port()));
    ASSERT_TRUE(
        raw.send("POST /p HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "ff"));
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(raw.send(std::string(line).substr(2) + "hello\r\n0\r\n\r\n"));
    EXPECT_TRUE(raw.wait_closed(5s));
    const int status = std::string_view(line).size() > 16 ? 400 : 413;
    EXPECT_TRUE(raw.received().starts_with("HTTP/1.1 " + std::to_string(status) + " "))
        << raw.received();
  }
  EXPECT_EQ(origin().requests_seen(), 0u) << "a refused request reached the backend";
}

// The body bytes of a truncated response that reached the proxy reach the client, then the
// connection closes: never less, never passed off as complete.
class TruncatedResponseTest : public ProxyTest {};

// Decodes a chunked body: the data bytes, and whether the last chunk came.
std::size_t dechunk(std::string_view body, bool& last) {
  std::size_t total = 0;
  last = false;
  for (;;) {
    const auto eol = body.find("\r\n");
    if (eol == std::string_view::npos) return total;
    const std::size_t size = std::stoul(std::string(body.substr(0, eol)), nullptr, 16);
    if (size == 0) {
      last = true;
      return total;
    }
    const std::size_t have = std::min(size, body.size() - eol - 2);
    total += have;
    if (have < size) return total;
    body.remove_prefix(eol + 2 + size + std::min<std::size_t>(2, body.size() - eol - 2 - size));
  }
}

TEST_F(TruncatedResponseTest, WhatArrivedOfACutBodyIsRelayedThenTheConnectionCloses) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  // The origin announces `size` bytes, sends half (in 64 KiB pieces 100 ms apart, or at once)
  // and closes.
  for (const std::size_t size : {1000u, 40000u, 300000u}) {
    for (const bool chunked : {false, true}) {
      for (const bool drip : {false, true}) {
        SCOPED_TRACE(std::to_string(size) + (chunked ? " chunked" : " Content-Length") +
                     (drip ? " dripped" : ""));
        RawSocket raw;
        ASSERT_TRUE(raw.connect(port()));
        ASSERT_TRUE(raw.send("GET /cut?truncate=1&bytes=" + std::to_string(size) +
                             (drip ? "&drip_ms=100" : "") + (chunked ? "&chunked=1" : "") +
                             " HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        EXPECT_TRUE(raw.wait_closed(5s)) << "connection left open after a truncated body";
        const std::string& got = raw.received();
        const auto head_end = got.find("\r\n\r\n");
        ASSERT_NE(head_end, std::string::npos) << got.substr(0, 200);
        EXPECT_TRUE(got.starts_with("HTTP/1.1 200 ")) << got.substr(0, 200);
        const std::string_view body = std::string_view(got).substr(head_end + 4);
        if (chunked) {
          bool last = false;
          EXPECT_EQ(dechunk(body, last), size / 2);
          EXPECT_FALSE(last) << "a truncated body was passed off as complete";
        } else {
          EXPECT_TRUE(contains(got.substr(0, head_end), "Content-Length: " + std::to_string(size)));
          EXPECT_EQ(body.size(), size / 2);
        }
      }
    }
  }
}

// A client slow to read, which has sent more meanwhile: the part of a cut-off body that is
// still in the proxy's send buffer when the backend closes is delivered (then EOF), not
// dropped by a reset.
TEST_F(TruncatedResponseTest, ACutBodyStillQueuedForASlowClientIsDeliveredBeforeTheClose) {
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  constexpr std::size_t kSize = 40'000'000;  // 20 MB come, then the origin closes
  for (const bool chunked : {false, true}) {
    SCOPED_TRACE(chunked ? "chunked" : "Content-Length");
    RawSocket raw;
    ASSERT_TRUE(raw.connect(port()));
    ASSERT_TRUE(raw.send("GET /cut?truncate=1&bytes=" + std::to_string(kSize) +
                         (chunked ? "&chunked=1" : "") + " HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    std::this_thread::sleep_for(100ms);
    // Bytes the proxy does not read while it relays (a pipelined request).
    ASSERT_TRUE(raw.send("GET /next HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    std::this_thread::sleep_for(500ms);  // buffers fill; the origin has sent all it will
    EXPECT_TRUE(raw.wait_closed(10s));
    const std::string& got = raw.received();
    const auto head_end = got.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos) << got.substr(0, 200);
    const std::string_view body = std::string_view(got).substr(head_end + 4);
    if (chunked) {
      bool last = false;
      EXPECT_EQ(dechunk(body, last), kSize / 2);
      EXPECT_FALSE(last);
    } else {
      EXPECT_EQ(body.size(), kSize / 2);
    }
  }
}

// The default pool keeps what the load opened: 200 concurrent keep-alive clients open about
// 200 backend connections once, not a stream of new ones; upstream_connects_total counts them.
class UpstreamPoolTest : public ProxyTest {};

TEST_F(UpstreamPoolTest, DefaultPoolKeepsWhatTheLoadOpens) {
  constexpr int kClients = 200;
  start_origins(1, 2);
  ASSERT_TRUE(start_proxy());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      HttpClient client;
      if (!client.connect(port())) {
        ++failed;
        return;
      }
      while (!stop) {
        const HttpResponse r = client.get("/pool");
        (r.status == 200 ? ok : failed)++;
        if (r.status != 200) return;
      }
    });
  }
  std::this_thread::sleep_for(1500ms);  // warm-up: every client has a backend connection
  const std::size_t warm = origin().connections_accepted();
  const int warm_ok = ok.load();
  std::this_thread::sleep_for(2500ms);
  stop = true;
  for (auto& t : clients) t.join();
  const std::size_t end = origin().connections_accepted();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load() - warm_ok, kClients) << "too few requests after the warm-up to tell";
  EXPECT_LE(end, static_cast<std::size_t>(kClients) + 4)
      << "backend connections reopened: " << warm << " after the warm-up, " << end << " at the end";
  HttpClient admin;
  ASSERT_TRUE(admin.connect(proxy_->admin_port()));
  const HttpResponse metrics = admin.get("/metrics");
  const std::string line =
      "ringproxy_upstream_connects_total{upstream=\"app\",backend=\"" + origin().address() + "\"} ";
  const auto at = metrics.body.find(line);
  ASSERT_NE(at, std::string::npos) << metrics.body;
  EXPECT_EQ(std::stoul(metrics.body.substr(at + line.size())), end);
}

// Request buffering (server.request_buffer_bytes, default 64 KiB): 300 clients trickle 1 KiB
// bodies at once, over about a second, half with Content-Length and half chunked; the bodies
// are read whole before a backend is picked, so the uploads hold no backend connection. The
// last pieces go one client after another (each once the previous one has its response), so
// that what the backend sees is one short exchange at a time however slow this machine is:
// a proxy that sends the head on at once holds a connection per upload (300).
class RequestBufferingTest : public ProxyTest {};

TEST_F(RequestBufferingTest, SlowUploadersPinNoBackendConnections) {
  constexpr int kClients = 300;
  constexpr std::size_t kBody = 1024;
  constexpr std::size_t kPiece = 128;
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = std::min<rlim_t>(std::max<rlim_t>(limit.rlim_cur, 4096), limit.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &limit);
  start_origins(1);
  ASSERT_TRUE(start_proxy());
  const std::string body = pattern_string(kBody);
  std::atomic<int> intact{0};
  std::atomic<int> turn{0};  // the client whose last piece goes next
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  const auto upload = [&](int i, HttpClient& client) -> std::string {
    const bool chunked = i % 2 == 1;
    const auto piece = [&](std::size_t at) {
      const std::string bytes = body.substr(at, kPiece);
      return chunked ? "80\r\n" + bytes + "\r\n" : bytes;
    };
    if (!client.connect(port())) return "connect: " + client.last_error();
    client.send_raw("POST /up/" + std::to_string(i) + " HTTP/1.1\r\nHost: localhost\r\n" +
                    (chunked ? "Transfer-Encoding: chunked\r\n\r\n"s
                             : "Content-Length: " + std::to_string(kBody) + "\r\n\r\n"));
    for (std::size_t at = 0; at + kPiece < kBody; at += kPiece) {
      std::this_thread::sleep_for(140ms);
      client.send_raw(piece(at));
    }
    while (turn.load() != i) std::this_thread::sleep_for(1ms);
    client.send_raw(piece(kBody - kPiece) + (chunked ? "0\r\n\r\n" : ""));
    const HttpResponse r = client.read_response();
    if (r.status != 200) return "status " + std::to_string(r.status) + " " + r.error;
    if (echo_line(r.body, "body-bytes") != std::to_string(kBody) ||
        echo_line(r.body, "body-fnv") != fnv_hex(fnv1a64(body))) {
      return "body changed: " + r.body.substr(0, 200);
    }
    return "";
  };
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      HttpClient client;
      const std::string error = upload(i, client);
      while (turn.load() < i) std::this_thread::sleep_for(1ms);
      turn = i + 1;
      if (error.empty()) {
        ++intact;
      } else {
        std::lock_guard lock(errors_mutex);
        errors.push_back("client " + std::to_string(i) + ": " + error);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(intact.load(), kClients) << (errors.empty() ? "" : errors.front());
  EXPECT_LE(origin().connections_accepted(), 5u)
      << "slow uploaders pinned backend connections: " << origin().connections_accepted();
}

}  // namespace
}  // namespace ringproxy::test
