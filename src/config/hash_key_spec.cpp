#include "config/hash_key_spec.hpp"

#include <algorithm>
#include <cctype>

namespace ringproxy {

namespace {

std::string quote(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

bool is_hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// A name a query string can hold unencoded: RFC 3986 query = *( pchar / "/" / "?" ), less the
// separators '&' and '='; '%' only as %XX.
bool is_query_name(std::string_view name) {
  static constexpr std::string_view kExtra = "-._~!$'()*+,;:@/?";
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '%') {
      if (i + 2 >= name.size() || !is_hex(name[i + 1]) || !is_hex(name[i + 2])) {
        return false;
      }
      i += 2;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && kExtra.find(c) == std::string_view::npos) {
      return false;
    }
  }
  return !name.empty();
}

}  // namespace

bool is_config_token(std::string_view text) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kExtra.find(c) != std::string_view::npos;
  });
}

std::optional<HashKeySpec> HashKeySpec::parse(std::string_view text, std::string* problem) {
  std::string ignored;
  if (problem == nullptr) problem = &ignored;
  using K = Kind;
  if (text == "client_ip") return HashKeySpec{K::client_ip, {}};
  if (text == "uri") return HashKeySpec{K::uri, {}};
  if (text == "path") return HashKeySpec{K::path, {}};
  struct Named {
    std::string_view prefix;
    K kind;
  };
  for (const Named& n :
       {Named{"header:", K::header}, Named{"cookie:", K::cookie}, Named{"query:", K::query}}) {
    if (!text.starts_with(n.prefix)) continue;
    const std::string_view name = text.substr(n.prefix.size());
    if (name.empty()) {
      *problem = quote(text) + " needs a name after the colon";
    } else if (n.kind == K::header && !is_config_token(name)) {
      *problem = quote(text) + " has an invalid header name " + quote(name);
    } else if (n.kind == K::cookie && !is_config_token(name)) {
      *problem = quote(text) + " has an invalid cookie name " + quote(name);
    } else if (n.kind == K::query && !is_query_name(name)) {
      *problem = quote(text) + " has a query parameter name " + quote(name) +
                 " that a query string cannot hold unencoded (write it as it appears in the "
                 "URL, e.g. %20 for a space)";
    } else {
      return HashKeySpec{n.kind, std::string(name)};
    }
    return std::nullopt;
  }
  *problem =
      "must be one of client_ip|uri|path|header:NAME|cookie:NAME|query:NAME, got " + quote(text);
  return std::nullopt;
}

std::string HashKeySpec::to_string() const {
  switch (kind) {
    case Kind::client_ip:
      return "client_ip";
    case Kind::uri:
      return "uri";
    case Kind::path:
      return "path";
    case Kind::header:
      return "header:" + name;
    case Kind::cookie:
      return "cookie:" + name;
    case Kind::query:
      return "query:" + name;
  }
  return {};
}

std::optional<RateLimitKey> RateLimitKey::parse(std::string_view text, std::string* problem) {
  std::string ignored;
  if (problem == nullptr) problem = &ignored;
  if (text == "client_ip") return RateLimitKey{};
  constexpr std::string_view kHeader = "header:";
  if (!text.starts_with(kHeader)) {
    *problem = "must be one of client_ip|header:NAME, got " + quote(text);
    return std::nullopt;
  }
  const std::string_view name = text.substr(kHeader.size());
  if (name.empty()) {
    *problem = quote(text) + " needs a name after the colon";
  } else if (!is_config_token(name)) {
    *problem = quote(text) + " has an invalid header name " + quote(name);
  } else {
    return RateLimitKey{std::string(name)};
  }
  return std::nullopt;
}

std::optional<Algorithm> parse_algorithm(std::string_view text) {
  if (text == "ring") return Algorithm::ring;
  if (text == "maglev") return Algorithm::maglev;
  if (text == "round_robin") return Algorithm::round_robin;
  return std::nullopt;
}

std::string_view to_string(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::ring:
      return "ring";
    case Algorithm::maglev:
      return "maglev";
    case Algorithm::round_robin:
      return "round_robin";
  }
  return "ring";
}

}  // namespace ringproxy
