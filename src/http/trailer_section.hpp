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

// Takes the trailer fields (those not in head) out of fields and writes into out (cleared
// first) the end of the chunked body for the receiver: the last chunk, the trailer fields when
// pass (those is_forbidden_trailer names dropped), the final CRLF. False when the received
// section (every trailer field line, "name: value\r\n") is over limit bytes: the same limit as
// a head's (out is then the plain last chunk). The fields are taken out either way.
template <class Fields>
bool take_trailer_section(Fields& fields, const HeadFields& head, std::size_t limit, bool pass,
                          std::string& out) {
  out.assign("0\r\n");
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
    if (pass && size <= limit && !is_forbidden_trailer(name)) {
      out.append(name).append(": ").append(value).append("\r\n");
    }
    it = fields.erase(it);
  }
  if (size > limit) {
    out.assign(kLastChunk);
    return false;
  }
  out.append("\r\n");
  return true;
}

}  // namespace ringproxy
