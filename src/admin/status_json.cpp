#include "admin/status_json.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

#include "admin/console_history.hpp"
#include "admin/process_control.hpp"
#include "log/access_log.hpp"
#include "net/worker.hpp"

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

void append_number(std::string& out, double v, const char* format = "%.12g") {
  char text[32];
  std::snprintf(text, sizeof text, format, v);
  out += text;
}

// "history": {"requests_per_s": [...], "error_rate": [...], "in_flight": [...]}, oldest first.
void append_history(std::string& out, const std::vector<TrafficSample>& samples) {
  out += ", \"history\": {\"requests_per_s\": [";
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (i) out += ",";
    append_number(out, samples[i].requests_per_s, "%.4g");
  }
  out += "], \"error_rate\": [";
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (i) out += ",";
    append_number(out, samples[i].error_rate, "%.4g");
  }
  out += "], \"in_flight\": [";
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(samples[i].in_flight);
  }
  out += "]}";
}

void append_backend(std::string& out, const ProcessControl& server, const UpstreamRuntime& up,
                    std::size_t b, double share, std::chrono::steady_clock::time_point now) {
  const BackendState& st = *up.backends()[b];
  out += "{\"address\": ";
  append_json_string(out, st.key);
  out += ", \"weight\": " + std::to_string(up.config->backends[b].weight);
  out += ", \"share\": ";
  append_number(out, share);
  const bool checked = up.config->health_check.has_value();
  const bool healthy = !checked || st.healthy.load(std::memory_order_relaxed);
  const BreakerState breaker =
      up.config->circuit_breaker ? st.breaker.state(now) : BreakerState::closed;
  out += std::string(", \"healthy\": ") + (healthy ? "true" : "false");
  out += ", \"breaker\": \"" + std::string(to_string(breaker)) + "\"";
  if (breaker == BreakerState::open) {
    out += ", \"breaker_retry_after_s\": " + std::to_string(st.breaker.retry_after_seconds(now));
  }
  const BackendTotals t = server.backend_totals(st.slot);
  out += ", \"in_flight\": " + std::to_string(t.in_flight);
  out += ", \"requests\": " + std::to_string(t.requests);
  out += ", \"failures\": " + std::to_string(t.failures);
  out += std::string(", \"health_checked\": ") + (checked ? "true" : "false");
  append_history(out, server.console_history().backend(st.identity));
  out += "}";
}

// "rate_limited": total, "rate_limited_history": {...}, "reloads": {...}.
void append_process(std::string& out, const ProcessControl& server) {
  std::uint64_t limited = 0;
  for (const auto& w : server.workers()) limited += w->metrics().rate_limited();
  const ConsoleHistory& history = server.console_history();
  out += ", \"history_period_s\": " + std::to_string(ConsoleHistory::kPeriod.count());
  out += ", \"history_samples\": " + std::to_string(ConsoleHistory::kSamples);
  out += ", \"rate_limited\": " + std::to_string(limited);
  out += ", \"rate_limited_per_s\": [";
  const std::vector<TrafficSample> refusals = history.rate_limited();
  for (std::size_t i = 0; i < refusals.size(); ++i) {
    if (i) out += ",";
    append_number(out, refusals[i].requests_per_s, "%.4g");
  }
  out += "], \"reloads\": {\"succeeded\": " + std::to_string(server.reloads(true));
  out += ", \"failed\": " + std::to_string(server.reloads(false)) + ", \"recent\": [";
  const std::vector<ReloadRecord> reloads = history.reloads();
  for (std::size_t i = 0; i < reloads.size(); ++i) {
    if (i) out += ", ";
    out += "{\"at\": \"" + rfc3339_utc(reloads[i].at) + "\"";
    out += std::string(", \"ok\": ") + (reloads[i].ok ? "true" : "false");
    out += ", \"generation\": " + std::to_string(reloads[i].generation);
    out += ", \"error\": ";
    append_json_string(out, reloads[i].error);
    out += "}";
  }
  out += "]}";
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
  append_process(out, server);
  out += ", \"upstreams\": [";
  const auto& ups = snap->upstreams();
  for (std::size_t u = 0; u < ups.size(); ++u) {
    if (u) out += ", ";
    out += "{\"name\": ";
    append_json_string(out, ups[u].config->name);
    out += ", \"algorithm\": \"" + std::string(to_string(ups[u].config->algorithm)) + "\"";
    out += ", \"hash_key\": ";
    append_json_string(out, ups[u].hash_key.to_string());
    out += ", \"backends\": [";
    const std::vector<double> shares = ups[u].selector->picker().shares();
    for (std::size_t b = 0; b < ups[u].backends().size(); ++b) {
      if (b) out += ", ";
      append_backend(out, server, ups[u], b, b < shares.size() ? shares[b] : 0.0, now);
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

}  // namespace ringproxy
