// RFC 9112 conformance of the real binary at both edges, table-driven: raw request heads sent by
// a client (status, and whether the connection is closed or stays usable) and raw response heads
// sent by a backend (status at the client, and whether the upstream connection is reused). The
// rules are those of src/policy/head_validator.hpp (docs/head-rules.md); the tables mirror its unit
// tests.

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

using namespace std::string_literals;

// server.max_header_bytes for the request suite: large enough for an 8192-byte target.
constexpr std::size_t kMaxHeaderBytes = 32768;
// server.max_body_bytes for the request suite: a body this size spans two 4 KiB reads.
constexpr std::size_t kMaxBodyBytes = 5000;

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// One response as it came off the wire.
struct WireResponse {
  int status = 0;
  std::string head;  // status line and field lines, without the final CRLF CRLF
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;
  std::vector<int> interim;  // 1xx statuses that came before it
  bool chunked = false;
  bool complete = false;  // the body ended where its framing said (or at EOF when unframed)
  std::string error;      // why reading stopped early

  std::string field(std::string_view name) const {
    for (const auto& [n, v] : fields)
      if (iequal(n, name)) return v;
    return {};
  }
  bool has_field(std::string_view name) const {
    for (const auto& f : fields)
      if (iequal(f.first, name)) return true;
    return false;
  }
};

// A byte-level client that parses responses itself, so that it sees exactly what the proxy
// wrote: every byte after a response, and the EOF.
class WireClient {
 public:
  WireClient() = default;
  ~WireClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  WireClient(const WireClient&) = delete;
  WireClient& operator=(const WireClient&) = delete;

  bool connect(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads the next final response (1xx ones are noted in `interim`). The answer to a HEAD
  // request has no body whatever its fields say.
  WireResponse read_response(std::chrono::milliseconds timeout = 5s, bool to_head = false) {
    const auto deadline = Clock::now() + timeout;
    WireResponse r;
    std::vector<int> interim;
    for (;;) {
      std::size_t end;
      while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
        if (!fill(deadline)) {
          r.error = eof_ ? "EOF before a complete head" : "timeout waiting for a head";
          return r;
        }
      }
      r = WireResponse{};
      r.head = buf_.substr(0, end);
      buf_.erase(0, end + 4);
      if (!parse_head(r)) return r;
      if (r.status >= 200) break;
      interim.push_back(r.status);
    }
    r.interim = std::move(interim);
    const std::string te = r.field("Transfer-Encoding");
    r.chunked = !te.empty();
    if (r.status == 204 || r.status == 304 || to_head) {
      r.complete = true;
    } else if (r.chunked) {
      read_chunked(r, deadline);
    } else if (r.has_field("Content-Length")) {
      const std::size_t length = std::strtoull(r.field("Content-Length").c_str(), nullptr, 10);
      while (buf_.size() < length && fill(deadline)) {
      }
      const std::size_t n = std::min(length, buf_.size());
      r.body = buf_.substr(0, n);
      buf_.erase(0, n);
      r.complete = n == length;
      if (!r.complete) r.error = eof_ ? "EOF inside the body" : "timeout inside the body";
    } else {
      while (fill(deadline)) {
      }
      r.body = std::move(buf_);
      buf_.clear();
      r.complete = eof_;
      if (!eof_) r.error = "timeout before the EOF ending the body";
    }
    return r;
  }

  // True when the peer closes within `within`; bytes arriving meanwhile go to pending().
  bool eof_within(std::chrono::milliseconds within) {
    const auto deadline = Clock::now() + within;
    while (!eof_ && fill(deadline)) {
    }
    return eof_;
  }
  // Bytes received and not part of a response read so far.
  const std::string& pending() const { return buf_; }

 private:
  // Reads once; false on timeout or EOF (then eof_ is set).
  bool fill(Clock::time_point deadline) {
    if (eof_) return false;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) continue;
      char chunk[16384];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buf_.append(chunk, static_cast<std::size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      eof_ = true;  // EOF or reset
      return false;
    }
  }

  static bool parse_head(WireResponse& r) {
    const std::string_view head = r.head;
    std::size_t line_end = head.find("\r\n");
    const std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") || status_line[8] != ' ') {
      r.error = "bad status line: " + std::string(status_line);
      return false;
    }
    r.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    while (line_end != std::string_view::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string_view line = head.substr(start, line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        r.error = "field line without a colon: " + std::string(line);
        return false;
      }
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      r.fields.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    return true;
  }

  void read_chunked(WireResponse& r, Clock::time_point deadline) {
    for (;;) {
      std::size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos)
        if (!fill(deadline)) return set_cut(r);
      const std::size_t size = std::strtoull(buf_.substr(0, eol).c_str(), nullptr, 16);
      buf_.erase(0, eol + 2);
      if (size == 0) {
        // Trailer fields, then the empty line.
        for (;;) {
          while ((eol = buf_.find("\r\n")) == std::string::npos)
            if (!fill(deadline)) return set_cut(r);
          buf_.erase(0, eol + 2);
          if (eol == 0) {
            r.complete = true;
            return;
          }
        }
      }
      while (buf_.size() < size + 2)
        if (!fill(deadline)) return set_cut(r);
      r.body.append(buf_, 0, size);
      buf_.erase(0, size + 2);
    }
  }
  void set_cut(WireResponse& r) const {
    r.error = eof_ ? "EOF inside the chunked body" : "timeout inside the chunked body";
  }

  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
};

// ---------------------------------------------------------------------------------------------
// Requests: raw bytes from a client on a fresh connection.

struct RequestCase {
  const char* name;
  std::string raw;            // sent in one write on a fresh connection
  std::vector<int> statuses;  // the responses expected, in order
  bool close;                 // the proxy must close the connection after the last one
  // For each expected 200: the target the origin saw ("" = not checked).
  std::vector<std::string> origin_targets = {};
  std::string origin_host = {};  // the Host the origin saw for the first 200 ("" = not checked)
  const char* known = nullptr;   // set: the proxy is known to differ; the case is skipped
  // The head may have reached the origin before the bad body did (the proxy sends the head
  // on before it reads the body); the origin then saw a request that never completed.
  bool head_may_reach_origin = false;
  // Fields of the first forwarded request as the origin saw them ("" = must be absent).
  std::vector<std::pair<std::string, std::string>> origin_fields = {};
  bool from_proxy = false;  // the 200s are the proxy's own answers (never forwarded)
};

std::ostream& operator<<(std::ostream& os, const RequestCase& c) {
  return os << c.name;
}

// "GET <target> HTTP/1.1" with Host: localhost and `fields` (each ending in CRLF).
std::string get11(std::string_view target, std::string_view fields = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n" + std::string(fields) +
         "\r\n";
}
// "POST /p HTTP/1.1" with Host: localhost, `fields` and then `body` as is.
std::string post11(std::string_view fields, std::string_view body) {
  return "POST /p HTTP/1.1\r\nHost: localhost\r\n" + std::string(fields) + "\r\n" +
         std::string(body);
}
// A GET whose head is exactly `size` bytes, padded with an X-Pad field.
std::string head_of_size(std::string_view target, std::size_t size) {
  const std::string prefix =
      "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\nX-Pad: ";
  std::string head = prefix + std::string(size - prefix.size() - 4, 'p') + "\r\n\r\n";
  return head;
}
// A GET with `count` field lines in all (Host included).
std::string with_field_lines(std::string_view target, std::size_t count) {
  std::string fields;
  for (std::size_t i = 1; i < count; ++i) fields += "X-F" + std::to_string(i) + ": v\r\n";
  return get11(target, fields);
}

// `count` GETs of /pipe/0, /pipe/1, ... in one string, each padded to about 150 bytes, so
// that they cross the proxy's 4 KiB read buffer mid-head.
std::string pipelined(std::size_t count) {
  std::string all;
  for (std::size_t i = 0; i < count; ++i)
    all += get11("/pipe/" + std::to_string(i), "X-Pad: " + std::string(100 + i % 7, 'p') + "\r\n");
  return all;
}
std::vector<std::string> pipelined_targets(std::size_t count) {
  std::vector<std::string> targets;
  for (std::size_t i = 0; i < count; ++i) targets.push_back("/pipe/" + std::to_string(i));
  return targets;
}
// A chunked body of `size` pattern bytes in 1000-byte chunks, with its last chunk.
std::string chunked_body(std::size_t size) {
  std::string body;
  for (std::size_t at = 0; at < size; at += 1000) {
    const std::size_t n = std::min<std::size_t>(1000, size - at);
    char line[16];
    std::snprintf(line, sizeof line, "%zx\r\n", n);
    body += line + std::string(n, 'b') + "\r\n";
  }
  return body + "0\r\n\r\n";
}

std::vector<RequestCase> request_cases() {
  const std::string target8192 = "/" + std::string(8191, 't');
  const std::string target9000 = "/" + std::string(8999, 't');
  const std::string at_limit = std::to_string(kMaxBodyBytes);
  const std::string over_limit = std::to_string(kMaxBodyBytes + 1);
  return {
      {"PlainGetKeepAlive", get11("/plain"), {200}, false, {"/plain"}},
      // Bodies at and over server.max_body_bytes, framed both ways.
      {"BodyExactlyAtMaxBodyBytes",
       post11("Content-Length: " + at_limit + "\r\n", std::string(kMaxBodyBytes, 'b')),
       {200},
       false,
       {"/p"}},
      {"BodyOneOverMaxBodyBytes",
       post11("Content-Length: " + over_limit + "\r\n", std::string(kMaxBodyBytes + 1, 'b')),
       {413},
       true},
      {"ChunkedBodyExactlyAtMaxBodyBytes",
       post11("Transfer-Encoding: chunked\r\n", chunked_body(kMaxBodyBytes)),
       {200},
       false,
       {"/p"}},
      {"ChunkedBodyOneOverMaxBodyBytes",
       post11("Transfer-Encoding: chunked\r\n", chunked_body(kMaxBodyBytes + 1)),
       {413},
       true,
       {},
       {},
       nullptr,
       true},
      // Pipelined requests crossing the proxy's read buffer, heads and bodies.
      {"FortyPipelinedRequestsCrossTheReadBuffer", pipelined(40), std::vector<int>(40, 200), false,
       pipelined_targets(40)},
      {"PipelinedBodiesCrossTheReadBuffer",
       post11("Content-Length: 3000\r\n", std::string(3000, 'b')) +
           post11("Content-Length: 3000\r\n", std::string(3000, 'b')) + get11("/after"),
       {200, 200, 200},
       false,
       {"/p", "/p", "/after"}},
      // Hop-by-hop fields: TE only as "trailers", never an upgrade.
      {"TeTrailersIsForwarded",
       get11("/te", "TE: trailers\r\n"),
       {200},
       false,
       {"/te"},
       {},
       nullptr,
       false,
       {{"TE", "trailers"}}},
      {"TeGzipIsNotForwarded",
       get11("/te", "TE: gzip\r\n"),
       {200},
       false,
       {"/te"},
       {},
       nullptr,
       false,
       {{"TE", ""}}},
      {"UpgradeH2cIsNotForwarded",
       get11("/h2c",
             "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
             "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"),
       {200},
       false,
       {"/h2c"},
       {},
       nullptr,
       false,
       {{"Upgrade", ""}, {"HTTP2-Settings", ""}, {"Connection", ""}}},
      {"OptionsMaxForwardsZeroIsAnsweredByTheProxy",
       "OPTIONS /x HTTP/1.1\r\nHost: localhost\r\nMax-Forwards: 0\r\n\r\n",
       {200},
       false,
       {},
       {},
       nullptr,
       false,
       {},
       true},
      {"OptionsMaxForwardsIsDecremented",
       "OPTIONS /mf HTTP/1.1\r\nHost: localhost\r\nMax-Forwards: 5\r\n\r\n",
       {200},
       false,
       {"/mf"},
       {},
       nullptr,
       false,
       {{"Max-Forwards", "4"}}},
      // Max-Forwards is for OPTIONS and TRACE only (RFC 9110 7.6.2): other methods pass it as is.
      {"GetMaxForwardsIsUntouched",
       get11("/mf", "Max-Forwards: 0\r\n"),
       {200},
       false,
       {"/mf"},
       {},
       nullptr,
       false,
       {{"Max-Forwards", "0"}}},
      // HTTP/1.0 clients get no chunked framing: a chunked origin response is sent unframed
      // and the connection closes after it, even when keep-alive was asked for.
      {"Http10ChunkedResponseIsUnframed",
       "GET /c?chunked=1 HTTP/1.0\r\n\r\n",
       {200},
       true,
       {"/c?chunked=1"}},
      {"Http10KeepAliveChunkedResponseCloses",
       "GET /c?chunked=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
       {200},
       true,
       {"/c?chunked=1"}},
      // Slow clients: a head or a body that stops coming.
      {"HeadThatStopsComingGets408", "GET /slow HTTP/1.1\r\nHost: localhost\r\n", {408}, true},
      {"BodyThatStopsComingGets408",
       post11("Content-Length: 10\r\n", "hello"),
       {408},
       true,
       {},
       {},
       nullptr,
       true},
      {"ValidChunkedPost",
       post11("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"),
       {200},
       false,
       {"/p"}},
      {"Expect100ContinueIsAccepted",
       post11("Expect: 100-continue\r\nContent-Length: 5\r\n", "hello"),
       {200},
       false,
       {"/p"}},
      // Transfer-Encoding and Content-Length.
      {"ContentLengthWithTransferEncoding",
       post11("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
              "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"),
       {400},
       true},
      // The first chunk-size line is checked before the head goes upstream: a bad one
      // reaches no backend at all.
      {"ChunkSizeOverflow",
       post11("Transfer-Encoding: chunked\r\n", "fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
       {400},
       true},
      {"ChunkSizeNotHex",
       post11("Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n"),
       {400},
       true},
      {"ChunkSizeOverflowWithLeadingZeros",
       post11("Transfer-Encoding: chunked\r\n", "0001fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
       {400},
       true},
      {"ChunkSizeMissing",
       post11("Transfer-Encoding: chunked\r\n", ";ext\r\nhello\r\n0\r\n\r\n"),
       {400},
       true},
      {"FirstChunkOverMaxBodyBytes",
       post11("Transfer-Encoding: chunked\r\n", "1389\r\nhello\r\n0\r\n\r\n"),
       {413},
       true},
      {"FirstChunkOfTheLargestSize",
       post11("Transfer-Encoding: chunked\r\n", "ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
       {413},
       true},
      {"FirstChunkWithExtensionWithinTheLimit",
       post11("Transfer-Encoding: chunked\r\n", "5;name=value\r\nhello\r\n0\r\n\r\n"),
       {200},
       false,
       {"/p"}},
      {"TransferEncodingGzipChunked",
       post11("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
       {501},
       true},
      {"TransferEncodingChunkedGzip",
       post11("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"),
       {400},
       true},
      {"TransferEncodingOnHttp10",
       "POST /p HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       {400},
       true},
      {"ContentLengthNegative", post11("Content-Length: -1\r\n", ""), {400}, true},
      {"ContentLengthNotANumber", post11("Content-Length: abc\r\n", ""), {400}, true},
      {"ContentLengthList", post11("Content-Length: 3,2\r\n", "abc"), {400}, true},
      {"ContentLengthPlusSign", post11("Content-Length: +3\r\n", "abc"), {400}, true},
      {"ContentLengthOverflow",
       post11("Content-Length: 99999999999999999999\r\n", ""),
       {400},
       true},
      {"ContentLengthDuplicateDiffering",
       post11("Content-Length: 3\r\nContent-Length: 4\r\n", "abcd"),
       {400},
       true},
      {"ContentLengthDuplicateIdentical",
       post11("Content-Length: 3\r\nContent-Length: 3\r\n", "abc"),
       {400},
       true},
      // Line endings and field syntax.
      {"BareLfEndsRequestLine", "GET /lf HTTP/1.1\nHost: localhost\r\n\r\n", {400}, true},
      {"BareLfEndsFieldLine", "GET /lf HTTP/1.1\r\nHost: localhost\nX-A: b\r\n\r\n", {400}, true},
      {"BareCrInFieldValue", get11("/cr", "X-A: b\rc\r\n"), {400}, true},
      {"WhitespaceBeforeColon", get11("/ws", "X-A : b\r\n"), {400}, true},
      {"ObsFold", get11("/fold", "X-A: b\r\n c\r\n"), {400}, true},
      {"WhitespaceLineAfterRequestLine",
       "GET /ws HTTP/1.1\r\n Host: localhost\r\n\r\n",
       {400},
       true},
      {"NulInFieldValue", get11("/nul", "X-A: b\0c\r\n"s), {400}, true},
      {"FieldLineWithoutColon", get11("/nocolon", "X-A b\r\n"), {400}, true},
      // Host.
      {"MissingHostHttp11", "GET /nohost HTTP/1.1\r\n\r\n", {400}, true},
      {"TwoHostLines",
       "GET /twohosts HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n",
       {400},
       true},
      {"EmptyHost", "GET /emptyhost HTTP/1.1\r\nHost:\r\n\r\n", {400}, true},
      {"AbsoluteFormTargetWithOtherHost",
       "GET http://other.example:8080/abs?q=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
       {200},
       false,
       {"/abs?q=1"}},
      // RFC 9112 §3.2.2: a proxy MUST replace Host with the absolute-form target's authority
      // (head_validator.hpp: "With an absolute-form target the target's authority wins").
      {"AbsoluteFormTargetAuthorityReplacesHost",
       "GET http://other.example:8080/abs HTTP/1.1\r\nHost: localhost\r\n\r\n",
       {200},
       false,
       {"/abs"},
       "other.example:8080"},
      // Request-line.
      {"Http20Version", "GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", {505}, true},
      // RFC 9110 §2.5: a higher minor version is handled as HTTP/1.1, forwarded as 1.1.
      {"Http12VersionIsServedAs11",
       "GET /v12 HTTP/1.2\r\nHost: localhost\r\n\r\n",
       {200},
       false,
       {"/v12"}},
      {"Http19VersionIsServedAs11",
       "GET /v19 HTTP/1.9\r\nHost: localhost\r\n\r\n",
       {200},
       false,
       {"/v19"}},
      {"Http12WithoutHostIs400", "GET / HTTP/1.2\r\n\r\n", {400}, true},
      // RFC 9112 §2.2: empty lines before a request-line are ignored, up to
      // kMaxEmptyLinesBeforeRequest (4); more is a 400.
      {"EmptyLineBeforeRequestLine", "\r\n" + get11("/crlf1"), {200}, false, {"/crlf1"}},
      {"FourEmptyLinesBeforeRequestLine",
       "\r\n\r\n\r\n\r\n" + get11("/crlf4"),
       {200},
       false,
       {"/crlf4"}},
      {"FiveEmptyLinesBeforeRequestLine", "\r\n\r\n\r\n\r\n\r\n" + get11("/crlf5"), {400}, true},
      // A client that sends a CRLF after a POST body (older browsers did) is served on.
      {"StrayEmptyLineAfterPostBody",
       post11("Content-Length: 5\r\n", "hello\r\n") + get11("/after"),
       {200, 200},
       false,
       {"/p", "/after"}},
      {"EmptyLinesBetweenPipelinedRequests",
       get11("/one") + "\r\n\r\n" + get11("/two"),
       {200, 200},
       false,
       {"/one", "/two"}},
      {"BareLfBeforeRequestLine", "\n" + get11("/lf"), {400}, true},
      {"MalformedVersion", "GET / HTTP/1.x\r\nHost: localhost\r\n\r\n", {400}, true},
      {"LowercaseVersion", "GET / http/1.1\r\nHost: localhost\r\n\r\n", {400}, true},
      {"TwoSpacesAfterMethod", "GET  / HTTP/1.1\r\nHost: localhost\r\n\r\n", {400}, true},
      {"FragmentInTarget", get11("/page#frag"), {400}, true},
      {"Target9000Bytes", get11(target9000), {414}, true},
      // The request-line never ends: refused once it is too long, without waiting for the rest.
      {"Target9000BytesUnfinishedLine", "GET " + target9000, {414}, true},
      {"Target8192Bytes", get11(target8192), {200}, false, {target8192}},
      // Methods the proxy answers itself.
      {"ConnectIs405",
       "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
       {405},
       false},
      {"TraceMaxForwardsZeroIs405",
       "TRACE / HTTP/1.1\r\nHost: localhost\r\nMax-Forwards: 0\r\n\r\n",
       {405},
       false},
      // Expect.
      {"ExpectFoo", post11("Expect: foo\r\nContent-Length: 5\r\n", "hello"), {417}, true},
      // Size limits.
      {"HeadExactlyAtMaxHeaderBytes",
       head_of_size("/at-limit", kMaxHeaderBytes),
       {200},
       false,
       {"/at-limit"}},
      {"HeadOneOverMaxHeaderBytes", head_of_size("/over", kMaxHeaderBytes + 1), {431}, true},
      {"HeadFarOverMaxHeaderBytes", head_of_size("/far-over", 2 * kMaxHeaderBytes), {431}, true},
      {"HundredFieldLines", with_field_lines("/100", 100), {200}, false, {"/100"}},
      {"HundredAndOneFieldLines", with_field_lines("/101", 101), {431}, true},
      // HTTP/1.0.
      {"Http10WithoutHostCloses", "GET /old HTTP/1.0\r\n\r\n", {200}, true, {"/old"}},
      {"Http10KeepAliveStaysOpen",
       "GET /old-ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
       {200},
       false,
       {"/old-ka"}},
      // Pipelining: both in one write.
      {"TwoPipelinedRequests",
       get11("/first") + get11("/second"),
       {200, 200},
       false,
       {"/first", "/second"}},
      {"PipelinedValidThenRefused",
       get11("/first") + "GET /second HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
       {200, 400},
       true,
       {"/first"}},
  };
}

// One origin behind a proxy with max_header_bytes = kMaxHeaderBytes, max_body_bytes =
// kMaxBodyBytes and timeouts of a second (slow clients), started per case (about 20 ms), so that
// no case can disturb another.
class RequestConformanceTest : public ProxyTest, public ::testing::WithParamInterface<RequestCase> {
 protected:
  void SetUp() override {
    start_origins(1);
    ASSERT_TRUE(start_proxy(
        ProxyOptions().server("max_header_bytes = " + std::to_string(kMaxHeaderBytes) +
                              "\nmax_body_bytes = " + std::to_string(kMaxBodyBytes) +
                              "\nclient_header_timeout = \"1s\"\nidle_timeout = \"1s\"")));
  }
};

TEST_P(RequestConformanceTest, StatusAndConnection) {
  const RequestCase& c = GetParam();
  if (c.known) GTEST_SKIP() << "KNOWN: " << c.known;
  const bool http10 = contains(c.raw.substr(0, c.raw.find('\n')), "HTTP/1.0");

  WireClient client;
  ASSERT_TRUE(client.connect(port()));
  ASSERT_TRUE(client.send(c.raw));
  std::size_t forwarded = 0;  // responses that came from the origin
  for (std::size_t i = 0; i < c.statuses.size(); ++i) {
    SCOPED_TRACE("response " + std::to_string(i + 1));
    const WireResponse r = client.read_response();
    ASSERT_EQ(r.status, c.statuses[i]) << r.error << "\n" << r.head;
    EXPECT_TRUE(r.complete) << r.error;
    if (http10) {
      EXPECT_FALSE(r.has_field("Transfer-Encoding")) << r.head;
    }
    const bool last = i + 1 == c.statuses.size();
    if (last && c.close) {
      EXPECT_TRUE(iequal(r.field("Connection"), "close")) << r.head;
    } else {
      EXPECT_FALSE(iequal(r.field("Connection"), "close")) << r.head;
      if (http10) {
        EXPECT_TRUE(iequal(r.field("Connection"), "keep-alive")) << r.head;
      }
    }
    if (r.status == 200 && c.from_proxy) {
      EXPECT_EQ(r.field("X-Origin"), "") << "answered by the origin:\n" << r.head;
    } else if (r.status == 200) {
      ASSERT_EQ(r.field("X-Origin"), "o0") << r.head;
      if (forwarded < c.origin_targets.size() && !c.origin_targets[forwarded].empty()) {
        EXPECT_EQ(echo_line(r.body, "target"), c.origin_targets[forwarded]);
      }
      if (forwarded == 0 && !c.origin_host.empty()) {
        EXPECT_EQ(origin().last_request().header("Host"), c.origin_host);
      }
      if (forwarded == 0) {
        for (const auto& [name, value] : c.origin_fields) {
          EXPECT_EQ(origin().last_request().header(name), value) << "field " << name;
        }
      }
      ++forwarded;
    }
  }
  if (c.head_may_reach_origin) {
    EXPECT_LE(origin().requests_seen(), forwarded + 1);
  } else {
    EXPECT_EQ(origin().requests_seen(), forwarded);
  }

  if (c.close) {
    EXPECT_TRUE(client.eof_within(2s)) << "the proxy left the connection open";
    EXPECT_EQ(client.pending(), "") << "bytes after the last response";
  } else {
    ASSERT_TRUE(client.send(get11("/again")));
    const WireResponse again = client.read_response();
    EXPECT_EQ(again.status, 200) << again.error << "\n" << again.head;
    EXPECT_EQ(echo_line(again.body, "target"), "/again");
    EXPECT_EQ(origin().requests_seen(), forwarded + 1);
    EXPECT_EQ(client.pending(), "") << "bytes after the last response";
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, RequestConformanceTest, ::testing::ValuesIn(request_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// Responses: raw bytes from a backend, for every request on every connection.

struct ResponseCase {
  const char* name;
  std::string raw;                  // the backend's answer to each request
  int status;                       // at the client: 502 for a refused head, else the backend's
  std::optional<std::string> body;  // the body the client must get (nullopt: not checked)
  bool reused;                      // the upstream connection is reused for a second request
  bool truncated = false;           // the backend closes after `raw`, whose body is cut short
  const char* known = nullptr;      // set: the proxy is known to differ; the case is skipped
  const char* method = "GET";       // of the client's requests
  std::vector<int> interim = {};    // 1xx responses the client must get before the final one
};

std::ostream& operator<<(std::ostream& os, const ResponseCase& c) {
  return os << c.name;
}

std::vector<ResponseCase> response_cases() {
  return {
      {"GoodContentLength", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "hello",
       true},
      {"GoodChunked",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200, "hello",
       true},
      {"GoodEmptyReasonPhrase", "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok", 200, "ok", true},
      // RFC 9112 §4: the SP after the status code is required even without a reason-phrase.
      {"StatusLineWithoutSpAfterCode", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", 502,
       std::nullopt, false},
      {"ContentLengthWithTransferEncoding",
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n",
       502, std::nullopt, false},
      {"ContentLengthDuplicateDiffering",
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 502, std::nullopt,
       false},
      {"ContentLengthDuplicateIdentical",
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 502, std::nullopt,
       false},
      {"ContentLengthNotANumber", "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello", 502,
       std::nullopt, false},
      {"TransferEncodingGzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello", 502,
       std::nullopt, false},
      {"TransferEncodingGzipChunked",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 502,
       std::nullopt, false},
      {"TransferEncodingOnHttp10",
       "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 502,
       std::nullopt, false},
      {"TransferEncodingOn204", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
       502, std::nullopt, false},
      {"ObsFold", "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 5\r\n\r\nhello", 502,
       std::nullopt, false},
      {"BareLfInHead", "HTTP/1.1 200 OK\nContent-Length: 5\r\n\r\nhello", 502, std::nullopt, false},
      // No CRLF CRLF ever comes: the head can never become valid.
      {"BareLfOnlyHead", "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", 502, std::nullopt, false},
      {"BareCrInFieldValue", "HTTP/1.1 200 OK\r\nX-A: b\rc\r\nContent-Length: 5\r\n\r\nhello", 502,
       std::nullopt, false},
      {"WhitespaceBeforeColon", "HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 5\r\n\r\nhello", 502,
       std::nullopt, false},
      {"NulInFieldValue", "HTTP/1.1 200 OK\r\nX-A: b\0c\r\nContent-Length: 5\r\n\r\nhello"s, 502,
       std::nullopt, false},
      {"Http12StatusLine", "HTTP/1.2 200 OK\r\nContent-Length: 5\r\n\r\nhello", 502, std::nullopt,
       false},
      {"StatusOutOfRange", "HTTP/1.1 600 Odd\r\nContent-Length: 5\r\n\r\nhello", 502, std::nullopt,
       false},
      // The body after a 204 is not the 204's: the client gets none and the connection is
      // dropped (its next bytes would be taken for the next response).
      {"NoContentFollowedByBody", "HTTP/1.1 204 No Content\r\n\r\nhello", 204, "", false},
      {"ExtraBytesAfterContentLengthBody", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
       200, "hello", false},
      {"TruncatedContentLengthBody", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", 200,
       "hello", false, true},
      // The largest Content-Length accepted (2^63 - 1), cut off: relayed until the close.
      {"TruncatedLargestContentLengthBody",
       "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\nhello", 200, "hello", false,
       true},
      // A chunked body cut off: the client gets no last chunk, and a close.
      {"TruncatedChunkedBody",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 200, "hello", false,
       true},
      {"ExtraBytesAfterChunkedBody",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nEXTRA", 200,
       "hello", false},
      {"NotModifiedFollowedByBody", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello",
       304, "", false},
      // A HEAD answer with a body: the client gets the head alone; the connection is dropped.
      {"HeadAnsweredWithBody", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "", false,
       false, nullptr, "HEAD"},
      {"HeadAnsweredWithoutBody", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200, "", true,
       false, nullptr, "HEAD"},
      // 1xx: passed through before the final response (but 100 Continue, which the proxy
      // itself answers to Expect); a 101 nobody asked for is refused.
      {"InterimResponsesAreRelayed",
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
       200,
       "hello",
       true,
       false,
       nullptr,
       "GET",
       {103}},
      {"UnaskedSwitchingProtocols",
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", 502,
       std::nullopt, false},
      // CR or LF inside a field value never reaches the client.
      {"CrLfInFieldValue", "HTTP/1.1 200 OK\r\nX-A: b\r\r\nContent-Length: 5\r\n\r\nhello", 502,
       std::nullopt, false},
  };
}

// A CannedOrigin answering with the case's bytes behind a proxy started per case.
class ResponseConformanceTest : public ProxyTest,
                                public ::testing::WithParamInterface<ResponseCase> {
 protected:
  void SetUp() override {
    if (GetParam().known) GTEST_SKIP() << "KNOWN: " << GetParam().known;
    canned_.emplace(GetParam().raw, GetParam().truncated);
    // A short response timeout, so that a head the proxy waits for in vain fails fast (504).
    ASSERT_TRUE(start_proxy(ProxyOptions().only_tables(
        upstream_toml("canned", {canned_->address()}, "response_timeout = \"2s\""))));
  }
  void TearDown() override {
    ProxyTest::TearDown();  // the proxy first
    canned_.reset();
  }
  std::optional<CannedOrigin> canned_;
};

TEST_P(ResponseConformanceTest, StatusAndUpstreamReuse) {
  const ResponseCase& c = GetParam();
  WireClient client;
  ASSERT_TRUE(client.connect(port()));

  const auto request = [&](const std::string& target) {
    return std::string(c.method) + " " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
  };
  const bool to_head = std::string_view(c.method) == "HEAD";

  if (c.truncated) {
    ASSERT_TRUE(client.send(request("/cut")));
    const WireResponse r = client.read_response(5s, to_head);
    ASSERT_EQ(r.status, c.status) << r.error << "\n" << r.head;
    EXPECT_FALSE(r.complete) << "a truncated body was passed off as complete";
    EXPECT_EQ(r.body, *c.body);
    EXPECT_TRUE(client.eof_within(2s)) << "the client connection was left open";
    EXPECT_EQ(canned_->connections_accepted(), 1u);
    return;
  }

  for (int i = 1; i <= 2; ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    ASSERT_TRUE(client.send(request("/r" + std::to_string(i))));
    const WireResponse r = client.read_response(5s, to_head);
    ASSERT_EQ(r.status, c.status) << r.error << "\n" << r.head;
    EXPECT_EQ(r.interim, c.interim);
    EXPECT_TRUE(r.complete) << r.error;
    if (c.body) {
      EXPECT_EQ(r.body, *c.body);
    }
    // The client connection stays usable whatever the backend did.
    EXPECT_FALSE(iequal(r.field("Connection"), "close")) << r.head;
    EXPECT_EQ(canned_->requests_seen(), static_cast<std::size_t>(i));
  }
  EXPECT_EQ(canned_->connections_accepted(), c.reused ? 1u : 2u)
      << (c.reused ? "the upstream connection was not reused"
                   : "an unusable upstream connection was reused");
  // Nothing else reaches the client (no leftover backend bytes).
  EXPECT_FALSE(client.eof_within(50ms)) << "the client connection was closed";
  EXPECT_EQ(client.pending(), "");
}

INSTANTIATE_TEST_SUITE_P(Cases, ResponseConformanceTest, ::testing::ValuesIn(response_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// Empty lines and later minor versions, beyond what one table row can say.

class RequestLineTest : public ProxyTest {
 protected:
  void SetUp() override {
    start_origins(1);
    ASSERT_TRUE(start_proxy(ProxyOptions().server("client_header_timeout = \"1s\"")));
  }
};

// RFC 9110 §2.5: HTTP/1.2 is served as HTTP/1.1: the origin sees 1.1, the client gets a 1.1
// response and the connection stays open (1.1 keep-alive rules).
TEST_F(RequestLineTest, Http12ReachesTheOriginAsHttp11) {
  WireClient client;
  ASSERT_TRUE(client.connect(port()));
  ASSERT_TRUE(client.send("GET /v HTTP/1.2\r\nHost: localhost\r\n\r\n"));
  const WireResponse r = client.read_response();
  ASSERT_EQ(r.status, 200) << r.error << "\n" << r.head;
  EXPECT_TRUE(r.head.starts_with("HTTP/1.1 200")) << r.head;
  EXPECT_FALSE(iequal(r.field("Connection"), "close")) << r.head;
  EXPECT_EQ(origin().last_request().version, 11);
  ASSERT_TRUE(client.send(get11("/again")));
  EXPECT_EQ(client.read_response().status, 200);
}

// Empty lines that come in their own packets, before the request and between requests.
TEST_F(RequestLineTest, EmptyLinesInSeparatePacketsAreSkipped) {
  WireClient client;
  ASSERT_TRUE(client.connect(port()));
  ASSERT_TRUE(client.send("\r\n"));
  std::this_thread::sleep_for(100ms);  // past the read that took the CRLF (no timing asserted)
  ASSERT_TRUE(client.send("\r"));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(client.send("\n" + get11("/first")));
  WireResponse r = client.read_response();
  ASSERT_EQ(r.status, 200) << r.error << "\n" << r.head;
  EXPECT_EQ(echo_line(r.body, "target"), "/first");
  ASSERT_TRUE(client.send("\r\n"));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(client.send(get11("/second")));
  r = client.read_response();
  ASSERT_EQ(r.status, 200) << r.error << "\n" << r.head;
  EXPECT_EQ(echo_line(r.body, "target"), "/second");
}

// Only empty lines, then silence: no request began, so the head timeout closes the connection
// without a 408.
TEST_F(RequestLineTest, OnlyEmptyLinesThenSilenceClosesWithoutAnAnswer) {
  WireClient client;
  ASSERT_TRUE(client.connect(port()));
  ASSERT_TRUE(client.send(get11("/first")));
  ASSERT_EQ(client.read_response().status, 200);
  ASSERT_TRUE(client.send("\r\n\r\n"));
  EXPECT_TRUE(client.eof_within(5s));
  EXPECT_EQ(client.pending(), "");
}

}  // namespace
}  // namespace ringproxy::test
