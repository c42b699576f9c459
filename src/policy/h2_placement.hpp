// Which HTTP/2 connection to a backend a new stream goes on, and when to open another.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ringproxy {

// What placement needs to know of one HTTP/2 connection to a backend.
struct H2ConnectionLoad {
  std::uint32_t streams = 0;        // streams open on it now (or waiting for it to connect)
  std::uint32_t max_streams = 100;  // the backend's SETTINGS_MAX_CONCURRENT_STREAMS
  bool usable = true;               // false: going away (GOAWAY), failed or out of stream ids
};

// Where a new stream goes.
struct H2Placement {
  enum class Kind {
    existing,  // on connections[index], which has room
    open_new,  // open another connection
    queue,     // on connections[index], over its limit (the session holds it until one ends)
  };
  Kind kind = Kind::open_new;
  std::size_t index = 0;
};

// Packs streams on few connections: the first usable connection (oldest first) with room
// under the backend's MAX_CONCURRENT_STREAMS takes it; with none, another is opened while
// fewer than max_connections are usable; past that, the least loaded usable one queues it.
// Pure: no sockets, no clock.
H2Placement place_h2_stream(std::span<const H2ConnectionLoad> connections,
                            std::size_t max_connections);

}  // namespace ringproxy
