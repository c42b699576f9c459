// Keep-alive and idle decisions for a backend's HTTP/2 connections (see h2_upkeep.hpp).
#include "policy/h2_upkeep.hpp"

#include <algorithm>
#include <vector>

namespace ringproxy {

namespace {

H2Upkeep decide(const H2ConnectionTimes& c, std::chrono::steady_clock::time_point now,
                const H2UpkeepLimits& limits) {
  if (!c.open) return H2Upkeep::keep;  // connecting: its connect deadline rules
  if (c.ping_sent && now - std::max(*c.ping_sent, c.last_read) >= limits.ping_timeout) {
    return H2Upkeep::close_dead;
  }
  if (c.streams > 0) return H2Upkeep::keep;
  if (!c.usable || now - c.idle_since >= limits.max_idle) return H2Upkeep::close_idle;
  if (!c.ping_sent && now - std::max(c.idle_since, c.last_read) >= limits.ping_after) {
    return H2Upkeep::ping;
  }
  return H2Upkeep::keep;
}

}  // namespace

void plan_h2_upkeep(std::span<const H2ConnectionTimes> connections,
                    std::chrono::steady_clock::time_point now, const H2UpkeepLimits& limits,
                    std::span<H2Upkeep> out) {
  std::vector<std::size_t> idle;  // open, usable, no stream, not closed by the rules above
  for (std::size_t i = 0; i < connections.size() && i < out.size(); ++i) {
    const H2ConnectionTimes& c = connections[i];
    out[i] = decide(c, now, limits);
    if (c.open && c.streams == 0 && (out[i] == H2Upkeep::keep || out[i] == H2Upkeep::ping)) {
      idle.push_back(i);
    }
  }
  if (idle.size() <= limits.max_idle_connections) return;
  // The most recently used stay (the longest idle are the likeliest to have gone stale);
  // ties go to the older connection, which placement fills first.
  std::stable_sort(idle.begin(), idle.end(), [&connections](std::size_t a, std::size_t b) {
    return connections[a].idle_since > connections[b].idle_since;
  });
  for (std::size_t k = limits.max_idle_connections; k < idle.size(); ++k) {
    out[idle[k]] = H2Upkeep::close_over;
  }
}

}  // namespace ringproxy
