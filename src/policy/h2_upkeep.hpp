// What becomes of a backend's idle HTTP/2 connections as time passes: PING keep-alives, the
// close of a connection that does not answer them, of one idle too long, and of idle ones
// beyond max_idle_per_backend (docs/http2-upstream.md, "Keep-alive and idle connections").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>

namespace ringproxy {

// The timings and the idle cap. Plain data.
struct H2UpkeepLimits {
  using Duration = std::chrono::steady_clock::duration;
  // An idle connection that read nothing for this long is PINGed: twice in the 60 s it may
  // stay idle, within what gRPC servers allow without streams (2 strikes).
  Duration ping_after = std::chrono::seconds(20);
  // A PING unanswered (nothing at all read) for this long: the connection is dropped.
  Duration ping_timeout = std::chrono::seconds(5);
  Duration max_idle = std::chrono::seconds(60);  // no stream for this long: closed
  std::size_t max_idle_connections = std::numeric_limits<std::size_t>::max();
};

// What upkeep needs to know of one connection. Plain data.
struct H2ConnectionTimes {
  using TimePoint = std::chrono::steady_clock::time_point;
  std::uint32_t streams = 0;           // streams on it now (placed, not yet ended)
  bool open = true;                    // connected (false: still connecting)
  bool usable = true;                  // false: going away (GOAWAY received) or out of stream ids
  TimePoint idle_since{};              // when its last stream ended (or it was made)
  TimePoint last_read{};               // when bytes last came from the backend
  std::optional<TimePoint> ping_sent;  // a PING not yet acknowledged
};

// What to do with one connection now.
enum class H2Upkeep : std::uint8_t {
  keep,
  ping,        // send a PING
  close_dead,  // its PING went unanswered: drop it
  close_idle,  // idle past max_idle, or going away with no stream left
  close_over,  // idle, beyond the max_idle_connections most recently used idle ones
};

// One decision per connection (out.size() == connections.size()), in the order given. A
// connection waiting for a PING's answer is dropped past ping_timeout whether or not streams
// are on it (they would wait for their response_timeout on a dead socket); the other rules
// touch idle connections only. Pure: the time is passed in.
void plan_h2_upkeep(std::span<const H2ConnectionTimes> connections,
                    std::chrono::steady_clock::time_point now, const H2UpkeepLimits& limits,
                    std::span<H2Upkeep> out);

}  // namespace ringproxy
