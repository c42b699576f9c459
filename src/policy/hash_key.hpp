// The request key that consistent hashing spreads: its bytes in a request, and its hash (the
// HashKeySpec, which part of a request, is parsed with the config).
#pragma once

#include <cstdint>
#include <string_view>

#include "config/hash_key_spec.hpp"
#include "policy/function_ref.hpp"

namespace ringproxy {

// The parts of one request a key can come from; borrowed, valid for one call.
struct KeySource {
  std::string_view client_ip;  // as client_address() found it
  std::string_view target;     // the request target, e.g. "/a/b?x=1"
  // All field lines of the named header (case-insensitive name) combined as RFC 9110 §5.3
  // combines them (", "; Cookie lines with "; "), "" when absent.
  FunctionRef<std::string_view(std::string_view name)> header;
};

// The bytes the key hashes: uri = the whole target; path = the target up to '?' (or '#');
// header = its value, trimmed; cookie = NAME's value in the Cookie header ("a=1; b=2"), raw;
// query = the value of NAME's first occurrence in the query string, raw (no percent-decoding).
// A missing or empty key is the client address. Allocates nothing.
std::string_view request_key(const HashKeySpec& spec, const KeySource& source);

// XXH3-64 of request_key(): the key a BackendPicker is given. Allocates nothing.
std::uint64_t hash_request_key(const HashKeySpec& spec, const KeySource& source);

// XXH3-64 of bytes, the hash every key goes through.
std::uint64_t hash_key_bytes(std::string_view bytes);

}  // namespace ringproxy
