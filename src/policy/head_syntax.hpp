// The syntax shared by request and response heads (RFC 9112 §2, §5; RFC 9110 §5.5-§5.6, §8.6):
// character classes, line ends, field lines, host[:port] and Content-Length. The building
// blocks of head_validator.cpp, which maps what they find to a verdict per message kind.
// Pure: no I/O, no allocation, no exceptions.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace ringproxy::head_syntax {

inline constexpr std::string_view kCrlf = "\r\n";

inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// tchar (RFC 9110 §5.6.2), as a table: one load per byte on the request path.
inline constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

inline bool is_tchar(char c) {
  return kTchar[static_cast<unsigned char>(c)];
}

inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// CTLs other than HTAB: %x00-08 / %x0A-1F / %x7F.
inline constexpr std::array<bool, 256> kForbiddenCtl = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = c != '\t';
  table[0x7F] = true;
  return table;
}();

inline bool is_forbidden_ctl(char c) {
  return kForbiddenCtl[static_cast<unsigned char>(c)];
}

inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// uri-host [":" port] (RFC 9110 §4.2.1, RFC 3986 §3.2.2); no userinfo, no empty host or port,
// no IPv6 zone.
bool is_valid_host_port(std::string_view s, bool port_required);

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

  void add_transfer_codings(std::string_view value);
};

// Syntax failures of the head, mapped to a status by each validator.
struct Fault {
  std::string_view reason;  // empty: none
  bool too_large = false;   // too many field lines, or one too long (431 for a request)
};

// The longest field name or value a head may carry: Beast keeps their lengths (plus CRLF) in
// 16 bits and throws beyond, so a longer one is refused before it is parsed.
inline constexpr std::size_t kMaxFieldPart = 65533;

// Rule 1: CRLF-only line ends, head ends at its first empty line; empty when fine.
std::string_view check_line_ends(std::string_view head);

// Rule 3 on the field lines (each ending in CRLF, the last one empty), filling *out.
Fault scan_fields(std::string_view fields, std::size_t max_fields, FieldSummary* out);

// Rule 5 on either kind of head; empty when fine.
std::string_view check_content_length_fields(const FieldSummary& f);

}  // namespace ringproxy::head_syntax
