// The first chunk-size line of a chunked body, checked before a request goes upstream.
#pragma once

#include <cstdint>
#include <string_view>

namespace ringproxy {

// What the start of a chunked body says about its first chunk.
enum class ChunkLine {
  ok,         // a size line within the limit (its extensions are left to the parser)
  partial,    // no line end yet: read more
  bad,        // not a chunk size, or one that does not fit in 64 bits
  too_large,  // a size over the body limit
};

// Checks the chunk-size line at the start of text (RFC 9112 §7.1: 1*HEXDIG, then optional
// whitespace, extensions, CRLF) against limit. Pure: no state, any thread.
inline ChunkLine first_chunk_line(std::string_view text, std::uint64_t limit) {
  constexpr std::size_t kMaxLine = 4096;  // longer lines are the parser's to judge
  std::uint64_t size = 0;
  std::size_t i = 0;
  bool overflow = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    unsigned digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
      digit = static_cast<unsigned>((c | 0x20) - 'a' + 10);
    } else {
      break;
    }
    overflow = overflow || size > (UINT64_MAX >> 4);
    size = (size << 4) | digit;
  }
  if (i == text.size()) return i > kMaxLine ? ChunkLine::ok : ChunkLine::partial;
  if (i == 0 || overflow) return ChunkLine::bad;
  const char next = text[i];
  if (next != '\r' && next != ';' && next != ' ' && next != '\t') return ChunkLine::bad;
  if (size > limit) return ChunkLine::too_large;
  const std::size_t end = text.find('\n', i);
  if (end == std::string_view::npos && text.size() <= kMaxLine) return ChunkLine::partial;
  return ChunkLine::ok;
}

}  // namespace ringproxy
