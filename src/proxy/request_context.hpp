// One request's state from its head to its log line: made fresh for each request.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/message_arena.hpp"

namespace ringproxy {

// A string in a request's arena: no heap allocation, all of it given back with the request.
using ArenaString = std::basic_string<char, std::char_traits<char>, ArenaAllocator<char>>;

// What the phases learn of a request and hand on to the next, and what its log line says.
// Views point into the request's parsed head, its snapshot or this context, which all live
// as long as the request. Not thread-safe: one request on one worker.
struct RequestContext {
  explicit RequestContext(MessageArena& arena)
      : origin_target(ArenaAllocator<char>(arena)),
        rate_limit_value(ArenaAllocator<char>(arena)),
        request_id(ArenaAllocator<char>(arena)),
        forwarded_for(ArenaAllocator<char>(arena)),
        combined_field(ArenaAllocator<char>(arena)) {}

  // --- the request, as the request phases read it ---
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::string_view target;  // as received, for the log
  std::string_view host;    // Host, or the authority of an absolute-form target
  std::string_view path;    // the target in origin-form (into the request or origin_target)
  ArenaString origin_target;
  unsigned version = 11;
  bool keep_alive = false;               // the client wants the connection kept (and no drain)
  bool expect_continue = false;          // Expect: 100-continue with a body to come
  std::size_t request_buffer_bytes = 0;  // the route's request_buffer_bytes (or the server's)
  std::string_view upgrade;  // the protocol to tunnel (server.upgrade_protocols), or empty

  // --- the request filter's verdict: the RateLimit fields its response carries ---
  std::string_view rate_limit_policy;  // into the snapshot; empty: no limit applies
  ArenaString rate_limit_value;
  ArenaString request_id;      // the X-Request-Id this proxy added, if it added one
  ArenaString forwarded_for;   // several X-Forwarded-For lines, joined
  ArenaString combined_field;  // several lines of a key's header, joined (combined_field_value)

  // --- the outcome, for metrics and the access log ---
  int status = 0;
  std::string_view upstream;
  std::uint32_t upstream_id = 0;  // for metrics; 0 = reached no upstream
  std::string_view backend;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  unsigned attempts = 0;
  bool aborted = false;
  bool rate_limited = false;
};

}  // namespace ringproxy
