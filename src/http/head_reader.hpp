// Where a message head stands in its read buffer, by RFC 9112's strict rules, for both
// directions: one rule set for requests from clients and responses from backends.
#pragma once

#include <cstddef>
#include <string_view>

#include "policy/head_validator.hpp"

namespace ringproxy {

// A request-target longer than this gets 414 (nginx's default large header buffer is 8k).
inline constexpr RequestHeadLimits kRequestHeadLimits{8192, kMaxFieldLines};

// How far a head in a buffer has come.
enum class HeadProgress {
  whole,    // the whole head is there and passed: parse it (parse_buffered_head)
  partial,  // nothing wrong so far: read more
  refused,  // it can never become valid, or is over max_bytes: the verdict says why
};

// The bytes of a Beast dynamic buffer, as text.
template <class DynamicBuffer>
std::string_view buffered_text(const DynamicBuffer& buffer) {
  const auto data = buffer.cdata();
  return std::string_view(static_cast<const char*>(data.data()), data.size());
}

// Checks the head at the start of buffered, of at most max_bytes; on refused (and on whole,
// where it passed) verdict says why. A request over max_bytes is 431, a response 502. Pure.
template <bool isRequest>
HeadProgress check_head(std::string_view buffered, std::size_t max_bytes, HeadVerdict& verdict) {
  const std::size_t head_end = find_head_end(buffered);
  if (head_end != std::string_view::npos) {
    if constexpr (isRequest) {
      verdict = head_end > max_bytes
                    ? HeadVerdict{431, true, "request head too large"}
                    : validate_request_head(buffered.substr(0, head_end), kRequestHeadLimits);
    } else {
      verdict = validate_response_head(buffered.substr(0, head_end));
    }
    return verdict ? HeadProgress::whole : HeadProgress::refused;
  }
  if constexpr (isRequest) {
    verdict = check_partial_request_head(buffered, kRequestHeadLimits);
  } else {
    verdict = check_partial_response_head(buffered);
  }
  if (!verdict) return HeadProgress::refused;
  if (buffered.size() >= max_bytes) {
    verdict = isRequest ? HeadVerdict{431, true, "request head too large"}
                        : HeadVerdict{502, true, "response head too large"};
    return HeadProgress::refused;
  }
  return HeadProgress::partial;
}

// A request head at the start of buffer, after the empty lines a client may send before it
// (RFC 9112 §2.2): they are consumed from buffer, so the parser never sees them, and counted
// in empty_lines (the caller zeroes it per request); more than kMaxEmptyLinesBeforeRequest is
// refused with 400. On whole, an "HTTP/1.x" version with x > 1 is rewritten in the buffer to
// "HTTP/1.1" (RFC 9110 §2.5), so that Beast's parser, which refuses it, and every rule after it
// (keep-alive, the head sent upstream) see HTTP/1.1.
template <class DynamicBuffer>
HeadProgress check_request_head(DynamicBuffer& buffer, std::size_t max_bytes,
                                std::size_t& empty_lines, HeadVerdict& verdict) {
  if (const std::size_t n = leading_empty_lines(buffered_text(buffer)); n > 0) {
    empty_lines += n;
    buffer.consume(2 * n);
    if (empty_lines > kMaxEmptyLinesBeforeRequest) {
      verdict = HeadVerdict{400, true, "too many empty lines before the request-line"};
      return HeadProgress::refused;
    }
  }
  const std::string_view text = buffered_text(buffer);
  const HeadProgress progress = check_head<true>(text, max_bytes, verdict);
  if (progress == HeadProgress::whole) {
    if (const std::size_t at = later_minor_version_at(text); at != std::string_view::npos) {
      static_cast<char*>(buffer.data().data())[at] = '1';
    }
  }
  return progress;
}

}  // namespace ringproxy
