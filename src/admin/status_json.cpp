#include "admin/status_json.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

#include "admin/process_control.hpp"
#include "log/access_log.hpp"

namespace ringproxy {

namespace {

// RFC 3339 in UTC, to the second: "2026-12-06T03:04:05Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text, n);
}

}  // namespace

std::string status_json(const ProcessControl& server) {
  const auto snap = server.snapshot();
  const auto now = std::chrono::steady_clock::now();
  std::string out = "{\"generation\": " + std::to_string(snap->generation());
  out += ", \"loaded_at\": \"" + rfc3339_utc(snap->loaded_at()) + "\"";
  out += ", \"config_path\": ";
  append_json_string(out, snap->config().path);
  out += ", \"active_connections\": " + std::to_string(server.active_connections());
  out += ", \"upstreams\": [";
  const auto& ups = snap->upstreams();
  for (std::size_t u = 0; u < ups.size(); ++u) {
    if (u) out += ", ";
    out += "{\"name\": ";
    append_json_string(out, ups[u].config->name);
    out += ", \"backends\": [";
    const std::vector<double> shares = ups[u].selector->picker().shares();
    for (std::size_t b = 0; b < ups[u].backends().size(); ++b) {
      const BackendState& st = *ups[u].backends()[b];
      if (b) out += ", ";
      out += "{\"address\": ";
      append_json_string(out, st.key);
      out += ", \"weight\": " + std::to_string(ups[u].config->backends[b].weight);
      char share[32];
      std::snprintf(share, sizeof share, "%.12g", b < shares.size() ? shares[b] : 0.0);
      out += ", \"share\": " + std::string(share);
      const bool checked = ups[u].config->health_check.has_value();
      const bool healthy = !checked || st.healthy.load(std::memory_order_relaxed);
      const BreakerState breaker =
          ups[u].config->circuit_breaker ? st.breaker.state(now) : BreakerState::closed;
      out += std::string(", \"healthy\": ") + (healthy ? "true" : "false");
      out += ", \"breaker\": \"" + std::string(to_string(breaker)) + "\"";
      if (breaker == BreakerState::open) {
        out +=
            ", \"breaker_retry_after_s\": " + std::to_string(st.breaker.retry_after_seconds(now));
      }
      const BackendTotals t = server.backend_totals(st.slot);
      out += ", \"in_flight\": " + std::to_string(t.in_flight);
      out += ", \"requests\": " + std::to_string(t.requests);
      out += ", \"failures\": " + std::to_string(t.failures);
      out += "}";
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

}  // namespace ringproxy
