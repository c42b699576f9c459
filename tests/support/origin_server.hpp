#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringproxy::test {

// Header fields in the order they were sent or received.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// First value of header `name` (case-insensitive) in `headers`, "" if absent.
std::string find_header(const HeaderList& headers, std::string_view name);
// Number of fields named `name` (case-insensitive) in `headers`.
std::size_t count_header(const HeaderList& headers, std::string_view name);

// FNV-1a 64-bit, the checksum the origin reports for request bodies.
inline constexpr std::uint64_t kFnv1a64Offset = 0xcbf29ce484222325ULL;
std::uint64_t fnv1a64(const void* data, std::size_t size, std::uint64_t hash = kFnv1a64Offset);
inline std::uint64_t fnv1a64(std::string_view bytes, std::uint64_t hash = kFnv1a64Offset) {
  return fnv1a64(bytes.data(), bytes.size(), hash);
}
// FNV-1a 64 of the first `bytes` bytes of the test pattern.
std::uint64_t pattern_fnv1a64(std::uint64_t bytes);
// 16 lowercase hex digits, as in the origin's `body-fnv:` line.
std::string fnv_hex(std::uint64_t hash);

// The test pattern: byte i of a patterned body is 'a' + i % 26.
inline char pattern_byte(std::uint64_t offset) {
  return static_cast<char>('a' + offset % 26);
}
// Bodies are streamed in pieces of this size.
inline constexpr std::size_t kPatternPiece = 64 * 1024;
// Pointer to kPatternPiece pattern bytes: those of body offsets offset .. offset + kPatternPiece.
const char* pattern_at(std::uint64_t offset);
// The first `bytes` bytes of the pattern as a string (for small bodies).
std::string pattern_string(std::size_t bytes);

// One request as the origin saw it.
struct RecordedRequest {
  std::string method;
  std::string target;
  int version = 0;  // 11 for HTTP/1.1, 10 for HTTP/1.0
  HeaderList headers;
  std::uint64_t body_bytes = 0;
  std::uint64_t body_fnv1a64 = kFnv1a64Offset;
  std::string header(std::string_view name) const { return find_header(headers, name); }
};

// An HTTP/1.1 origin for tests, the demo and benchmarks: answers GET with an echo of the request,
// streams patterned bodies and uploads, injects delays, errors, truncation and closes by query.
//
//   GET|HEAD /healthz       -> set_health_status() (default 200), body "ok"
//   POST|PUT /echo          -> the request body streamed back (Content-Length if the request had
//                              one, else chunked); honours status= and delay_ms=
//   GET /ws (WebSocket)     -> a WebSocket echo (each message back as sent; X-Origin on the
//                              101; the upgrade request is last_request()); with status= it is
//                              an ordinary response instead
//   anything else           -> 200 text/plain: "origin: NAME\nmethod: M\ntarget: T\n
//                              body-bytes: N\nbody-fnv: HEX\n" + "header: Name: value\n" each
//   query (combinable): status=NNN, delay_ms=N (before the head), bytes=N (N pattern bytes instead
//   of the text), chunked=1, truncate=1 (announce all, send half, close), close=1 (read the
//   request, close without answering), drip_ms=N (pause between 64 KiB pieces),
//   answer_after=N (a request with a body: read N body bytes, answer status= (default 413)
//   with Connection: close before the rest, then read and drop the rest, then close),
//   hints_after=N (a request with a body: a 103 Early Hints after N body bytes, then as usual).
// Every response carries "X-Origin: NAME". Request bodies are read streaming (no size limit),
// counted and hashed with FNV-1a 64. Keep-alive, pipelining, HTTP/1.0 and Connection: close are
// honoured; "Expect: 100-continue" gets a 100 Continue.
// Thread-safety: all public members may be called from any thread at any time; stop() and the
// destructor must not be called from one of the server's own threads.
class OriginServer {
 public:
  struct Options {
    std::string name = "origin";
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;       // 0 = ephemeral
    int threads = 1;              // event-loop threads, one io_context each
    bool record_requests = true;  // keep last_request(); off in benchmarks
  };

  // Binds and starts listening; throws std::system_error when it cannot.
  explicit OriginServer(Options options);
  explicit OriginServer(std::string name) : OriginServer(Options{.name = std::move(name)}) {}
  OriginServer() : OriginServer(Options{}) {}
  ~OriginServer();
  OriginServer(const OriginServer&) = delete;
  OriginServer& operator=(const OriginServer&) = delete;

  std::uint16_t port() const;
  const std::string& name() const;
  // "HOST:PORT" of the listener, e.g. for a backend address in a config.
  std::string address() const;

  // Stops accepting, closes every connection, joins the threads. Idempotent.
  void stop();

  std::size_t requests_seen() const;
  std::size_t connections_accepted() const;
  // Connections currently open.
  std::size_t connections_open() const;
  // The most recent request whose body was read whole (empty before the first one).
  RecordedRequest last_request() const;
  // When the last answer_after= answer was sent (the epoch before the first).
  std::chrono::steady_clock::time_point last_early_answer() const;
  // Status of GET /healthz (default 200).
  void set_health_status(int status);
  // The next health checks (GET /healthz) answer `statuses` in order, then set_health_status's
  // status again: a threshold shown by counts (N failures vs N + 1), not by time.
  void script_health_checks(std::vector<int> statuses);
  // Health checks answered so far (their status decided), and when each was.
  std::size_t health_checks_seen() const;
  std::vector<std::chrono::steady_clock::time_point> health_check_times() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ringproxy::test
