#include "policy/head_validator.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <limits>

#include "policy/http_fields.hpp"

namespace ringproxy {

namespace {

constexpr std::string_view kCrlf = "\r\n";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// tchar (RFC 9110 §5.6.2), as a table: one load per byte on the request path.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

bool is_tchar(char c) {
  return kTchar[static_cast<unsigned char>(c)];
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// CTLs other than HTAB: %x00-08 / %x0A-1F / %x7F.
constexpr std::array<bool, 256> kForbiddenCtl = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = c != '\t';
  table[0x7F] = true;
  return table;
}();

bool is_forbidden_ctl(char c) {
  return kForbiddenCtl[static_cast<unsigned char>(c)];
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// unreserved / sub-delims (RFC 3986 §2.2-2.3); '%' is checked by the caller.
bool is_reg_name_char(char c) {
  if (is_digit(c) || is_alpha(c)) return true;
  switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
      return true;
    default:
      return false;
  }
}

// uri-host [":" port] (RFC 9110 §4.2.1, RFC 3986 §3.2.2); no userinfo, no empty host or port,
// no IPv6 zone.
bool is_valid_host_port(std::string_view s, bool port_required) {
  if (s.empty()) return false;
  std::string_view rest;
  if (s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : s.substr(1, close - 1)) {
      if (!is_hex(c) && c != ':' && c != '.') return false;
    }
    rest = s.substr(close + 1);
  } else {
    auto colon = s.find(':');
    std::string_view host = s.substr(0, colon);
    if (host.empty()) return false;
    for (std::size_t i = 0; i < host.size(); ++i) {
      if (host[i] == '%') {
        if (i + 2 >= host.size() || !is_hex(host[i + 1]) || !is_hex(host[i + 2])) return false;
        i += 2;
      } else if (!is_reg_name_char(host[i])) {
        return false;
      }
    }
    rest = colon == std::string_view::npos ? std::string_view{} : s.substr(colon);
  }
  if (rest.empty()) return !port_required;
  if (rest.front() != ':') return false;
  std::string_view port = rest.substr(1);
  if (port.empty() || port.size() > 5) return false;
  std::uint32_t value = 0;
  for (char c : port) {
    if (!is_digit(c)) return false;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return value <= 65535;
}

enum class ContentLength { kValid, kInvalid, kTooLarge };

// 1*DIGIT below 2^63 (RFC 9110 §8.6); value already OWS-trimmed.
ContentLength check_content_length(std::string_view v) {
  if (v.empty()) return ContentLength::kInvalid;
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t n = 0;
  for (char c : v) {
    if (!is_digit(c)) return ContentLength::kInvalid;
    auto d = static_cast<std::uint64_t>(c - '0');
    if (n > (kMax - d) / 10) return ContentLength::kTooLarge;
    n = n * 10 + d;
  }
  return ContentLength::kValid;
}

// What the field lines of one head say, gathered in one pass without allocating.
struct FieldSummary {
  std::size_t host_lines = 0;
  std::string_view host;  // the first Host value, trimmed
  std::size_t content_length_lines = 0;
  std::string_view content_length;  // the first Content-Length value, trimmed
  bool content_length_differs = false;
  // Transfer-Encoding, all lines read as one list.
  std::size_t te_lines = 0;
  std::size_t te_codings = 0;
  std::size_t te_chunked = 0;
  bool te_chunked_last = false;
  bool te_other = false;      // a coding other than chunked
  bool te_malformed = false;  // a coding name that is not a token
  bool bad_expect = false;

  void add_transfer_codings(std::string_view value) {
    ++te_lines;
    for_each_token(value, [this](std::string_view coding) {
      ++te_codings;
      std::string_view name = trim_ows(coding.substr(0, coding.find(';')));
      if (!is_token(name)) te_malformed = true;
      if (iequals(coding, "chunked")) {
        ++te_chunked;
        te_chunked_last = true;
      } else {
        te_other = true;
        te_chunked_last = false;
      }
    });
  }
};

// Syntax failures of the head, mapped to a status by each validator.
struct Fault {
  std::string_view reason;  // empty: none
  bool too_many_fields = false;
};

// Rule 1: CRLF-only line ends, head ends at its first empty line.
std::string_view check_line_ends(std::string_view head) {
  // Every LF after a CR and every CR before an LF, found with memchr (vectorized).
  const char* const begin = head.data();
  const char* const end = begin + head.size();
  for (const char* p = begin; p < end; ++p) {
    p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (p == nullptr) break;
    if (p == begin || p[-1] != '\r') return "bare LF";
  }
  for (const char* p = begin; p < end; ++p) {
    p = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(end - p)));
    if (p == nullptr) break;
    if (p + 1 == end || p[1] != '\n') return "bare CR";
  }
  std::size_t head_end = find_head_end(head);
  if (head_end == std::string_view::npos) return "head not terminated by an empty line";
  if (head_end != head.size()) return "bytes after the end of the head";
  return {};
}

// Rule 3 on the field lines (each ending in CRLF, the last one empty), filling *out.
Fault scan_fields(std::string_view fields, std::size_t max_fields, FieldSummary* out) {
  std::size_t count = 0;
  while (true) {
    std::size_t eol = fields.find(kCrlf);
    std::string_view line = fields.substr(0, eol);
    fields.remove_prefix(eol + kCrlf.size());
    if (line.empty()) return {};
    if (++count > max_fields) return {"too many header fields", true};
    if (is_ows(line.front())) return {"obs-fold or whitespace before a field line"};
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return {"field line without a colon"};
    std::string_view name = line.substr(0, colon);
    if (name.empty()) return {"empty field name"};
    if (is_ows(name.back())) return {"whitespace before the colon"};
    if (!is_token(name)) return {"invalid field name"};
    std::string_view value = line.substr(colon + 1);
    for (char c : value) {
      if (is_forbidden_ctl(c)) return {"control character in a field value"};
    }
    value = trim_ows(value);
    if (iequals(name, "Host")) {
      if (out->host_lines++ == 0) out->host = value;
    } else if (iequals(name, "Content-Length")) {
      if (out->content_length_lines++ == 0) {
        out->content_length = value;
      } else if (value != out->content_length) {
        out->content_length_differs = true;
      }
    } else if (iequals(name, "Transfer-Encoding")) {
      out->add_transfer_codings(value);
    } else if (iequals(name, "Expect")) {
      if (!iequals(value, "100-continue")) out->bad_expect = true;
    }
  }
}

// Rule 5 on either kind of head; empty when fine.
std::string_view check_content_length_fields(const FieldSummary& f) {
  if (f.content_length_lines == 0) return {};
  if (f.content_length_differs) return "conflicting Content-Length";
  if (f.content_length_lines > 1) return "duplicate Content-Length";
  switch (check_content_length(f.content_length)) {
    case ContentLength::kValid:
      return {};
    case ContentLength::kInvalid:
      return "invalid Content-Length";
    case ContentLength::kTooLarge:
      return "Content-Length too large";
  }
  return {};
}

HeadVerdict refuse(int status, std::string_view reason) {
  return {status, true, reason};
}

// "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3; HTTP-name is case-sensitive).
bool is_http_version(std::string_view v) {
  return v.size() == 8 && v.substr(0, 5) == "HTTP/" && is_digit(v[5]) && v[6] == '.' &&
         is_digit(v[7]);
}

// Rule 2 on a request-target of the right length and characters.
std::string_view check_target_form(std::string_view method, std::string_view target) {
  if (method == "CONNECT") {
    return is_valid_host_port(target, true) ? std::string_view{}
                                            : "CONNECT without an authority-form target";
  }
  if (target.front() == '/') return {};
  if (target == "*") return method == "OPTIONS" ? std::string_view{} : "asterisk-form not OPTIONS";
  std::string_view rest;
  if (istarts_with(target, "http://")) {
    rest = target.substr(7);
  } else if (istarts_with(target, "https://")) {
    rest = target.substr(8);
  } else {
    return "invalid request-target form";
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  return is_valid_host_port(authority, false) ? std::string_view{}
                                              : "invalid authority in absolute-form target";
}

}  // namespace

std::size_t find_head_end(std::string_view buf) {
  std::size_t pos = buf.find("\r\n\r\n");
  return pos == std::string_view::npos ? pos : pos + 4;
}

HeadVerdict validate_request_head(std::string_view head, const RequestHeadLimits& limits) {
  if (auto reason = check_line_ends(head); !reason.empty()) return refuse(400, reason);

  std::size_t eol = head.find(kCrlf);
  std::string_view line = head.substr(0, eol);
  std::size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return refuse(400, "malformed request-line");
  std::string_view method = line.substr(0, sp);
  if (!is_token(method)) return refuse(400, "invalid method");
  line.remove_prefix(sp + 1);
  sp = line.find(' ');
  if (sp == std::string_view::npos) return refuse(400, "request-line without HTTP version");
  std::string_view target = line.substr(0, sp);
  std::string_view version = line.substr(sp + 1);
  if (target.empty()) return refuse(400, "empty request-target");
  if (target.size() > limits.max_target) return refuse(414, "request-target too long");
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7E || c == '#') return refuse(400, "invalid character in request-target");
  }
  if (!is_http_version(version)) return refuse(400, "malformed HTTP version");
  bool http11 = version == "HTTP/1.1";
  if (!http11 && version != "HTTP/1.0") return refuse(505, "HTTP version not supported");
  if (auto reason = check_target_form(method, target); !reason.empty()) return refuse(400, reason);

  FieldSummary f;
  Fault fault = scan_fields(head.substr(eol + kCrlf.size()), limits.max_fields, &f);
  if (fault.too_many_fields) return refuse(431, fault.reason);
  if (!fault.reason.empty()) return refuse(400, fault.reason);

  if (f.host_lines > 1) return refuse(400, "more than one Host");
  if (f.host_lines == 0 && http11) return refuse(400, "missing Host");
  if (f.host_lines == 1 && !is_valid_host_port(f.host, false)) return refuse(400, "invalid Host");

  if (auto reason = check_content_length_fields(f); !reason.empty()) return refuse(400, reason);
  if (f.te_lines > 0) {
    if (f.content_length_lines > 0) return refuse(400, "Content-Length with Transfer-Encoding");
    if (!http11) return refuse(400, "Transfer-Encoding in HTTP/1.0");
    if (f.te_codings == 0) return refuse(400, "empty Transfer-Encoding");
    if (f.te_malformed) return refuse(400, "malformed Transfer-Encoding");
    if (f.te_chunked > 1) return refuse(400, "chunked applied more than once");
    if (!f.te_chunked_last) return refuse(400, "chunked is not the final transfer coding");
    if (f.te_other) return refuse(501, "unsupported transfer coding");
  }
  if (f.bad_expect) return refuse(417, "unsupported expectation");
  return {};
}

HeadVerdict validate_response_head(std::string_view head) {
  if (auto reason = check_line_ends(head); !reason.empty()) return refuse(502, reason);

  std::size_t eol = head.find(kCrlf);
  std::string_view line = head.substr(0, eol);
  std::string_view version = line.substr(0, 8);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return refuse(502, "unsupported response version");
  }
  bool http11 = version == "HTTP/1.1";
  if (line.size() < 12 || line[8] != ' ' || !is_digit(line[9]) || !is_digit(line[10]) ||
      !is_digit(line[11])) {
    return refuse(502, "malformed status-line");
  }
  int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status < 100 || status > 599) return refuse(502, "status code out of range");
  // RFC 9112 §4: the SP after the status code is required even when the reason is empty.
  if (line.size() == 12) return refuse(502, "status-line without SP after the status code");
  {
    if (line[12] != ' ') return refuse(502, "malformed status-line");
    for (char c : line.substr(13)) {
      if (is_forbidden_ctl(c)) return refuse(502, "control character in reason-phrase");
    }
  }

  FieldSummary f;
  Fault fault = scan_fields(head.substr(eol + kCrlf.size()), kMaxFieldLines, &f);
  if (!fault.reason.empty()) return refuse(502, fault.reason);

  if (auto reason = check_content_length_fields(f); !reason.empty()) return refuse(502, reason);
  if (f.te_lines > 0) {
    if (f.content_length_lines > 0) return refuse(502, "Content-Length with Transfer-Encoding");
    if (!http11) return refuse(502, "Transfer-Encoding in HTTP/1.0");
    if (status < 200 || status == 204 || status == 304) {
      return refuse(502, "Transfer-Encoding on a response without body");
    }
    if (f.te_codings != 1 || f.te_chunked != 1) return refuse(502, "transfer coding not chunked");
  }
  return {};
}

namespace {

// A bare LF, or a CR followed by anything but LF (a CR at the very end may still get its LF).
std::string_view bare_line_end(std::string_view partial) {
  for (std::size_t i = 0; i < partial.size(); ++i) {
    if (partial[i] == '\n' && (i == 0 || partial[i - 1] != '\r')) return "bare LF";
    if (partial[i] == '\r' && i + 1 < partial.size() && partial[i + 1] != '\n') return "bare CR";
  }
  return {};
}

}  // namespace

HeadVerdict check_partial_response_head(std::string_view partial) {
  if (auto reason = bare_line_end(partial); !reason.empty()) return refuse(502, reason);
  return {};
}

HeadVerdict check_partial_request_head(std::string_view partial, const RequestHeadLimits& limits) {
  if (auto reason = bare_line_end(partial); !reason.empty()) return refuse(400, reason);
  constexpr std::size_t kRequestLineSlack = 64;  // method, two SP, version, CRLF
  if (partial.find('\n') == std::string_view::npos &&
      partial.size() > limits.max_target + kRequestLineSlack) {
    return refuse(414, "request-target too long");
  }
  return {};
}

}  // namespace ringproxy
