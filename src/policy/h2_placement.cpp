// Stream placement over a backend's HTTP/2 connections (see h2_placement.hpp).
#include "policy/h2_placement.hpp"

namespace ringproxy {

H2Placement place_h2_stream(std::span<const H2ConnectionLoad> connections,
                            std::size_t max_connections) {
  std::size_t usable = 0;
  std::size_t least = connections.size();
  for (std::size_t i = 0; i < connections.size(); ++i) {
    const H2ConnectionLoad& c = connections[i];
    if (!c.usable) continue;
    if (c.streams < c.max_streams) return {H2Placement::Kind::existing, i};
    ++usable;
    if (least == connections.size() ||
        c.streams - c.max_streams < connections[least].streams - connections[least].max_streams) {
      least = i;
    }
  }
  if (usable < max_connections || least == connections.size()) {
    return {H2Placement::Kind::open_new, 0};
  }
  return {H2Placement::Kind::queue, least};
}

}  // namespace ringproxy
