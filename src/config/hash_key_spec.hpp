// The keys of the config file that name a part of a request, parsed once, at load, into types:
// an upstream's hash_key, a rate limit's key, and an upstream's algorithm.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ringproxy {

// An upstream's hash_key: "client_ip", "uri", "path", "header:NAME", "cookie:NAME" or
// "query:NAME". Plain data; immutable once loaded, shared by all workers.
struct HashKeySpec {
  enum class Kind { client_ip, uri, path, header, cookie, query };
  Kind kind = Kind::client_ip;
  std::string name;  // header, cookie or query parameter name; empty for the others

  // The spec, or nullopt with *problem set (for the loader's message, after "hash_key: ").
  // NAME must be able to occur in a request: a header or cookie name is an RFC 9110 token; a
  // query name is what a query string holds unencoded (RFC 3986 pchar, '/' and '?', without
  // '&' and '='; percent-encodings as %XX), compared raw. "query:user id" is refused: no
  // request carries that name raw, so the key would silently always be the client address.
  static std::optional<HashKeySpec> parse(std::string_view text, std::string* problem = nullptr);
  // The text it was parsed from.
  std::string to_string() const;
  bool operator==(const HashKeySpec&) const = default;
};

// A rate limit's key: "client_ip" or "header:NAME" (all lines of NAME combined). Plain data.
struct RateLimitKey {
  std::string header;  // empty: the client address

  // The key, or nullopt with *problem set (after "key: ").
  static std::optional<RateLimitKey> parse(std::string_view text, std::string* problem = nullptr);
  std::string to_string() const { return header.empty() ? "client_ip" : "header:" + header; }
  bool operator==(const RateLimitKey&) const = default;
};

// An upstream's picker: "ring" (ketama), "maglev" or "round_robin".
enum class Algorithm { ring, maglev, round_robin };
std::optional<Algorithm> parse_algorithm(std::string_view text);
std::string_view to_string(Algorithm algorithm);

// An RFC 9110 token (a header or cookie name).
bool is_config_token(std::string_view text);

}  // namespace ringproxy
