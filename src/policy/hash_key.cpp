#include "policy/hash_key.hpp"

#include <xxhash.h>

#include <cstring>

namespace ringproxy {

namespace {

// The scanners below work on pointers with memchr (vectorised in libc); string_view's
// find_first_of and substr's bounds checks cost several times more on these short inputs.

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(const char* begin, const char* end) {
  while (begin < end && is_ows(*begin)) ++begin;
  while (end > begin && is_ows(end[-1])) --end;
  return {begin, static_cast<std::size_t>(end - begin)};
}

// The first c in [begin, end), or end.
const char* find(const char* begin, const char* end, char c) {
  const void* hit = std::memchr(begin, c, static_cast<std::size_t>(end - begin));
  return hit != nullptr ? static_cast<const char*>(hit) : end;
}

// The value of cookie `name` in a Cookie header value ("a=1; b=2"); "" when absent.
std::string_view find_cookie(std::string_view cookies, std::string_view name) {
  const char* p = cookies.data();
  const char* const end = p + cookies.size();
  while (p < end) {
    const char* const semi = find(p, end, ';');
    const char* const eq = find(p, semi, '=');
    if (eq != semi && trim(p, eq) == name) return trim(eq + 1, semi);
    if (semi == end) break;
    p = semi + 1;
  }
  return {};
}

// The raw value of the first `name` parameter in the target's query string; "" when absent.
std::string_view find_query(std::string_view target, std::string_view name) {
  const char* const begin = target.data();
  const char* const end = find(begin, begin + target.size(), '#');
  const char* p = find(begin, end, '?');
  while (p < end) {
    const char* const start = p + 1;  // past '?' or '&'
    p = find(start, end, '&');
    const char* const eq = find(start, p, '=');
    if (std::string_view(start, static_cast<std::size_t>(eq - start)) == name) {
      return eq == p ? std::string_view{}
                     : std::string_view(eq + 1, static_cast<std::size_t>(p - eq - 1));
    }
  }
  return {};
}

// The target up to its query or fragment.
std::string_view path_of(std::string_view target) {
  const char* const begin = target.data();
  const char* const end = find(begin, find(begin, begin + target.size(), '#'), '?');
  return {begin, static_cast<std::size_t>(end - begin)};
}

}  // namespace

std::string_view request_key(const HashKeySpec& spec, const KeySource& source) {
  std::string_view key;
  switch (spec.kind) {
    case HashKeySpec::Kind::client_ip:
      return source.client_ip;
    case HashKeySpec::Kind::uri:
      key = source.target;
      break;
    case HashKeySpec::Kind::path:
      key = path_of(source.target);
      break;
    case HashKeySpec::Kind::header: {
      const std::string_view value = source.header(spec.name);
      key = trim(value.data(), value.data() + value.size());
      break;
    }
    case HashKeySpec::Kind::cookie:
      key = find_cookie(source.header("Cookie"), spec.name);
      break;
    case HashKeySpec::Kind::query:
      key = find_query(source.target, spec.name);
      break;
  }
  return key.empty() ? source.client_ip : key;
}

std::uint64_t hash_key_bytes(std::string_view bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

std::uint64_t hash_request_key(const HashKeySpec& spec, const KeySource& source) {
  return hash_key_bytes(request_key(spec, source));
}

}  // namespace ringproxy
