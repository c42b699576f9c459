// Request and response head verdicts (see head_validator.hpp for the rules); the syntax both
// share is in head_syntax.cpp.
#include "policy/head_validator.hpp"

#include "policy/head_syntax.hpp"
#include "policy/http_fields.hpp"

namespace ringproxy {

using head_syntax::check_content_length_fields;
using head_syntax::check_line_ends;
using head_syntax::Fault;
using head_syntax::FieldSummary;
using head_syntax::is_digit;
using head_syntax::is_forbidden_ctl;
using head_syntax::is_token;
using head_syntax::is_valid_host_port;
using head_syntax::kCrlf;
using head_syntax::scan_fields;

namespace {

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
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

std::size_t leading_empty_lines(std::string_view buf) {
  std::size_t n = 0;
  while (buf.size() >= 2 * (n + 1) && buf[2 * n] == '\r' && buf[2 * n + 1] == '\n') ++n;
  return n;
}

std::size_t later_minor_version_at(std::string_view head) {
  const std::size_t eol = head.find(kCrlf);
  if (eol == std::string_view::npos || eol < 8) return std::string_view::npos;
  const std::string_view version = head.substr(eol - 8, 8);
  const bool later = version.substr(0, 7) == "HTTP/1." && version[7] > '1' && version[7] <= '9';
  return later ? eol - 1 : std::string_view::npos;
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
  // HTTP/1.x with x > 1 is handled as HTTP/1.1 (RFC 9110 §2.5); other majors are not spoken.
  if (version[5] != '1') return refuse(505, "HTTP version not supported");
  const bool http11 = version != "HTTP/1.0";
  if (auto reason = check_target_form(method, target); !reason.empty()) return refuse(400, reason);

  FieldSummary f;
  Fault fault = scan_fields(head.substr(eol + kCrlf.size()), limits.max_fields, &f);
  if (fault.too_large) return refuse(431, fault.reason);
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

HeadVerdict validate_h2_request(const H2RequestFacts& f, const RequestHeadLimits& limits) {
  if (f.target.empty()) return refuse(400, "empty request-target");
  if (f.target.size() > limits.max_target) return refuse(414, "request-target too long");
  for (char c : f.target) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7E || c == '#') return refuse(400, "invalid character in request-target");
  }
  if (auto reason = check_target_form(f.method, f.target); !reason.empty()) {
    return refuse(400, reason);
  }
  if (f.longest_part > head_syntax::kMaxFieldPart) return refuse(431, "header field too large");
  if (f.field_lines > limits.max_fields) return refuse(431, "too many header fields");
  if (f.host_fields > 1) return refuse(400, "more than one Host");
  if (f.host.empty()) return refuse(400, "missing Host");
  if (!is_valid_host_port(f.host, false)) return refuse(400, "invalid Host");
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
