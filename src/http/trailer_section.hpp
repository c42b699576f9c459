// A chunked body's trailer section as a proxy passes it on (RFC 9110 §6.5, RFC 9112 §7.1.2):
// Beast's parser adds the trailer fields to the message's fields; they are taken out again (never
// merged into the head) and written after the last chunk.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "http/trailer_relay.hpp"
#include "policy/http_fields.hpp"

namespace ringproxy {

// True when a TE field of fields lists "trailers" (the client takes a trailer section, RFC 9110
// §10.1.4). Call it on a head (no trailer fields in it).
template <class Fields>
bool te_lists_trailers(const Fields& fields) {
  bool found = false;
  for (const auto& f : fields) {
    if (!iequals(f.name_string(), "te")) continue;
    for_each_token(f.value(), [&](std::string_view t) { found = found || iequals(t, "trailers"); });
  }
  return found;
}

// Takes the trailer fields (those not in head) out of fields, calling emit(name, value) for
// each one passed on: when pass, not named by is_forbidden_trailer, and within limit bytes (the
// received section, every trailer field line "name: value\r\n", counted). False when the
// section is over limit. The fields are taken out either way.
template <class Fields, class Emit>
bool take_trailers(Fields& fields, const HeadFields& head, std::size_t limit, bool pass,
                   Emit&& emit) {
  std::size_t size = 0;
  std::size_t next = 0;
  for (auto it = fields.begin(); it != fields.end();) {
    if (head.is_head(&*it, next)) {
      ++it;
      continue;
    }
    const std::string_view name = it->name_string();
    const std::string_view value = it->value();
    size += name.size() + value.size() + 4;
    if (pass && size <= limit && !is_forbidden_trailer(name)) emit(name, value);
    it = fields.erase(it);
  }
  return size <= limit;
}

// take_trailers, writing into out (cleared first) the end of the chunked body for the receiver:
// the last chunk, the trailer fields passed on, the final CRLF (the plain last chunk when the
// section is over limit).
template <class Fields>
bool take_trailer_section(Fields& fields, const HeadFields& head, std::size_t limit, bool pass,
                          std::string& out) {
  out.assign("0\r\n");
  const bool within = take_trailers(fields, head, limit, pass, [&](auto name, auto value) {
    out.append(name).append(": ").append(value).append("\r\n");
  });
  if (!within) {
    out.assign(kLastChunk);
    return false;
  }
  out.append("\r\n");
  return true;
}

}  // namespace ringproxy
