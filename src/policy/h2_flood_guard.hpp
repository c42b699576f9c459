// The HTTP/2 flood defences of one client connection: how many resets, pings, SETTINGS,
// empty frames and header-block bytes it may send over time (CVE-2023-44487 rapid reset,
// CVE-2024-27316 CONTINUATION flood and their siblings). Pure: time is passed in.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "policy/token_bucket.hpp"

namespace ringproxy {

// What a client sends that costs the server work and that a well-behaved client sends rarely.
enum class H2Event : std::uint8_t {
  reset,        // RST_STREAM from the client, or a stream refused by the server
  ping,         // PING (not an ACK)
  settings,     // SETTINGS (not an ACK)
  empty_frame,  // DATA without payload or END_STREAM, HEADERS/CONTINUATION without a block
  priority,     // PRIORITY (ignored, but still a frame to read)
  count_,
};

// A budget per event kind: burst at once, rate per second after. Plain data.
struct H2FloodRule {
  std::uint64_t burst;
  double rate;
};

// The budgets (defaults: far above what browsers and gRPC clients send, far below a flood).
struct H2FloodLimits {
  std::array<H2FloodRule, static_cast<std::size_t>(H2Event::count_)> rules{{
      {200, 50.0},   // reset: a browser cancels a page's worth of streams at once
      {50, 10.0},    // ping: keepalives are seconds apart
      {50, 10.0},    // settings: one at the start, then a handful
      {100, 20.0},   // empty_frame
      {500, 100.0},  // priority
  }};
  // Header-block bytes of one request head (HEADERS + CONTINUATION), on the wire.
  std::size_t max_header_block = 65536;
  // CONTINUATION frames after one HEADERS.
  std::size_t max_continuations = 16;
};

// Counts one connection's events against H2FloodLimits; once a budget is spent the verdict
// stays "flood" (the connection gets GOAWAY ENHANCE_YOUR_CALM). Not thread-safe: one
// connection's, on its worker.
class H2FloodGuard {
 public:
  explicit H2FloodGuard(const H2FloodLimits& limits = {});

  // One event at now; false once the connection is over a budget.
  bool allow(H2Event event, std::chrono::steady_clock::time_point now);
  // A HEADERS frame (a new header block) of bytes; false when over a budget.
  bool header_block_start(std::size_t bytes);
  // A CONTINUATION frame of bytes in the current block; false when over a budget.
  bool continuation(std::size_t bytes);
  bool flooded() const { return flooded_; }
  // Events counted so far, by kind (for the log line when it trips).
  std::uint64_t count(H2Event event) const { return counts_[static_cast<std::size_t>(event)]; }

 private:
  H2FloodLimits limits_;
  std::array<TokenBucket, static_cast<std::size_t>(H2Event::count_)> buckets_;
  std::array<std::uint64_t, static_cast<std::size_t>(H2Event::count_)> counts_{};
  std::size_t block_bytes_ = 0;
  std::size_t block_frames_ = 0;
  bool flooded_ = false;
};

}  // namespace ringproxy
