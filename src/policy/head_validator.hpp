// Strict validation of raw HTTP/1.1 message heads at the proxy's edges (RFC 9112, RFC 9110),
// as strict as HAProxy and Envoy: the rule list, in the order it is applied, and the strict
// choices beyond the RFCs' MUSTs are in docs/head-rules.md. Pure: no I/O, no allocation, no
// exceptions; it decides accept or refuse, Beast parses the accepted bytes afterwards.
#pragma once

#include <cstddef>
#include <string_view>

namespace ringproxy {

// The default limit on field lines in one head (HAProxy's tune.http.maxhdr is 101).
inline constexpr std::size_t kMaxFieldLines = 100;

// The decision on one head: accept (status 0) or answer status and maybe close.
struct HeadVerdict {
  int status = 0;      // 0: acceptable; else the status to answer (requests) or 502
  bool close = false;  // the connection must be closed after answering
  std::string_view
      reason;  // short static text for logs, e.g. "Content-Length with Transfer-Encoding"

  explicit operator bool() const { return status == 0; }
};

// Limits on request heads.
struct RequestHeadLimits {
  std::size_t max_target = 8192;            // a longer request-target -> 414
  std::size_t max_fields = kMaxFieldLines;  // more field lines -> 431
};

// RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) received before a
// request-line. The proxy ignores up to this many before each request (on a new connection and
// between kept-alive or pipelined ones); one more is a 400.
inline constexpr std::size_t kMaxEmptyLinesBeforeRequest = 4;

// The number of whole CRLFs at the start of buf (the caller consumes them before the head).
std::size_t leading_empty_lines(std::string_view buf);

// Where the minor digit of an accepted request head's version is when it is "HTTP/1.x" with
// x > 1 (RFC 9110 §2.5: handled as HTTP/1.1), else npos. The caller rewrites it to '1' so that
// the parser and everything after it see HTTP/1.1.
std::size_t later_minor_version_at(std::string_view head);

// The offset just past the first "\r\n\r\n" in buf, or npos if it is not there yet. A bare
// "\n\n" does not end a head (validation refuses bare LF), so the caller must bound how much it
// buffers while waiting.
std::size_t find_head_end(std::string_view buf);

// Validates a request head (see the rules above).
HeadVerdict validate_request_head(std::string_view head, const RequestHeadLimits& limits = {});

// What an HTTP/2 request's header block says, for validate_h2_request. nghttp2 has held the
// block to RFC 9113 §8 already (field names and values, pseudo-header rules, Content-Length,
// TE, connection-specific fields), so only the rules above that it does not apply are left.
struct H2RequestFacts {
  std::string_view method;
  std::string_view target;       // :path, or :authority for a CONNECT
  std::string_view host;         // :authority, else the host field
  std::size_t host_fields = 0;   // host fields (besides :authority)
  std::size_t field_lines = 0;   // the request's fields, Host included, cookie crumbs as one
  std::size_t longest_part = 0;  // the longest field name or value
  bool bad_expect = false;       // an Expect other than 100-continue
};

// Validates an HTTP/2 request's head by rules 2 (target form, characters and length), 3 (field
// count, and field size as the head reader's), 4 (Host) and 7 (Expect), with their statuses.
HeadVerdict validate_h2_request(const H2RequestFacts& f, const RequestHeadLimits& limits = {});

// Validates a response head. A response to HEAD follows the same rules (it may carry
// Content-Length and TE: chunked like any other).
HeadVerdict validate_response_head(std::string_view head);

// Checks the start of a request head that has not ended yet, so that a client cannot make the
// proxy wait for bytes that could never make it valid: a bare LF or a bare CR -> 400; a
// request-line still unfinished after max_target + 64 bytes -> 414. Accepts (status 0) when
// nothing is wrong so far.
HeadVerdict check_partial_request_head(std::string_view partial,
                                       const RequestHeadLimits& limits = {});

// The same for a response head that has not ended yet: a bare LF or bare CR -> 502 at once
// (a head of bare-LF lines would otherwise never end).
HeadVerdict check_partial_response_head(std::string_view partial);

}  // namespace ringproxy
