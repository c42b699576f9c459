// Strict validation of raw HTTP/1.1 message heads at the proxy's edges (RFC 9112 §2-§7,
// RFC 9110 §5, §7.2, §7.6, §10.1.1), as strict as HAProxy/Envoy. Pure: no I/O, no allocation,
// no exceptions. It only decides accept/refuse; Beast parses the accepted bytes afterwards.
//
// A head is the exact bytes from the first byte of the start-line through the terminating empty
// line "\r\n\r\n" inclusive (find_head_end finds it). Rules, first failure wins, in this order:
//  1. Lines end in CRLF only: a bare LF or bare CR anywhere -> error (RFC 9112 §2.2). The head
//     must end at its first "\r\n\r\n": no bytes after it, none missing.
//  2. Request-line (§3): method = token; exactly one SP; request-target of 0x21-0x7E without '#'
//     (a fragment is never sent; non-ASCII is refused, as HAProxy does), longer than max_target
//     -> 414; exactly one SP; "HTTP/1.1" or "HTTP/1.0" (other "HTTP/d.d" -> 505, anything else
//     -> 400). Target forms (§3.2): origin-form "/..."; absolute-form "http://" / "https://"
//     (scheme case-insensitive) + host[:port] without userinfo; authority-form host:port (port
//     required), used by CONNECT and only by it; asterisk-form "*" for OPTIONS only.
//     Status-line (§4): "HTTP/1.1" / "HTTP/1.0", SP, 3 digits in 100-599, then end of line or SP
//     and a reason-phrase (possibly empty) without CTLs other than HTAB. "HTTP/1.1 200" without
//     the SP is refused (§4 requires it; Beast's parser refuses it too).
//  3. Field lines (§5, RFC 9110 §5.5): a line starting with SP/HTAB (obs-fold, or whitespace
//     after the start-line) -> error; name = non-empty token directly followed by ':' (no
//     whitespace before the colon); the value has no CTL except HTAB (NUL, DEL refused; obs-text
//     allowed); OWS around the value is ignored. More than max_fields lines -> 431.
//  4. Host (§3.2, RFC 9110 §7.2): required in HTTP/1.1, at most one line, value host[:port]
//     (reg-name / IPv4 / [IPv6]; port 1-5 digits <= 65535). With an absolute-form target the
//     target's authority wins; Host must still be valid but need not match it.
//  5. Content-Length (§6.2, RFC 9110 §8.6): 1*DIGIT below 2^63, OWS trimmed.
//  6. Transfer-Encoding (§6.1, §6.3): never with Content-Length; never in HTTP/1.0. All TE
//     lines form one list (empty elements skipped, names case-insensitive): empty list, a coding
//     name that is not a token, "chunked" twice, or chunked not last -> 400; otherwise any coding
//     besides chunked (gzip, deflate, compress, identity, unknown) -> 501: the proxy implements
//     only chunked.
//  7. Expect (RFC 9110 §10.1.1): each Expect line must be exactly "100-continue"
//     (case-insensitive) -> otherwise 417.
// Every refused request must close the connection (close = true, even for 417: the body may
// follow). Responses: every failure is 502 with close = true (do not reuse the upstream
// connection); rules 1-3 and 5 as above, any Transfer-Encoding other than exactly one "chunked"
// -> 502, TE on an HTTP/1.0 response or on 1xx/204/304 -> 502 (§6.1).
//
// Deliberate strict choices (beyond the RFC's MUSTs):
//  - Any repeated Content-Length line is refused, even with an identical value, and a list value
//    ("3,3" / "3, 3") is refused, although RFC 9110 §8.6 allows collapsing identical values.
//  - TE "identity" alone -> 400 (chunked is not final); "identity, chunked" -> 501 (identity was
//    removed by RFC 9112 and is an unimplemented coding like any other).
//  - "chunked" with parameters is not "chunked" (it has none defined).
//  - An empty line before the request-line is not skipped (§2.2 SHOULD): the caller may skip.
//  - An empty Host value is refused (RFC 9110 §4.2.1: an http URI needs a non-empty host); so is
//    an empty port ("host:") and an IPv6 zone ("[fe80::1%25eth0]").
//  - Response versions other than 1.0/1.1, even "HTTP/1.2", are refused.
//  - Content-Length is validated on every response, also where it is ignored for framing
//    (1xx/204/304, responses to HEAD), because it is forwarded.
//  - Responses are held to the same field-line count as requests (kMaxFieldLines).
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

// The offset just past the first "\r\n\r\n" in buf, or npos if it is not there yet. A bare
// "\n\n" does not end a head (validation refuses bare LF), so the caller must bound how much it
// buffers while waiting.
std::size_t find_head_end(std::string_view buf);

// Validates a request head (see the rules above).
HeadVerdict validate_request_head(std::string_view head, const RequestHeadLimits& limits = {});

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
