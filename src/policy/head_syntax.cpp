// Syntax shared by request and response heads (see head_syntax.hpp).
#include "policy/head_syntax.hpp"

#include <cstdint>
#include <cstring>
#include <limits>

#include "policy/head_validator.hpp"
#include "policy/http_fields.hpp"

namespace ringproxy::head_syntax {

namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
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

}  // namespace

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

void FieldSummary::add_transfer_codings(std::string_view value) {
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
    if (name.size() > kMaxFieldPart || value.size() > kMaxFieldPart) {
      return {"header field too large", true};
    }
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

}  // namespace ringproxy::head_syntax
