#include "admin/metrics_text.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "admin/process_control.hpp"
#include "net/heap_usage.hpp"
#include "net/tls_metrics.hpp"
#include "net/worker.hpp"

namespace ringproxy {

namespace {

// Appends a label value with Prometheus escaping (backslash, quote, newline).
void append_label(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ringproxy_";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ringproxy_";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

using Workers = std::vector<std::unique_ptr<Worker>>;

// requests_total by upstream and status, then the request duration histogram.
void append_request_metrics(std::string& out, const Workers& workers,
                            const std::vector<std::string>& names) {
  header(out, "requests_total", "counter", "Responses sent to clients, by upstream and status.");
  for (std::uint32_t id = 0; id < names.size() && id < WorkerMetrics::kMaxUpstreams; ++id) {
    for (std::size_t code = 0; code < WorkerMetrics::kCodes; ++code) {
      std::uint64_t n = 0;
      for (const auto& w : workers) {
        if (const auto* u = w->metrics().upstream(id)) {
          n += u->by_code[code].load(std::memory_order_relaxed);
        }
      }
      if (n == 0) continue;
      out += "ringproxy_requests_total{upstream=\"";
      append_label(out, names[id]);
      out += "\",code=\"" + std::to_string(code + 100) + "\"} " + std::to_string(n) + "\n";
    }
  }

  header(out, "request_duration_seconds", "histogram",
         "Time from a request head to the end of its response.");
  std::uint64_t cumulative = 0, count = 0, sum_ns = 0;
  for (std::size_t i = 0; i < WorkerMetrics::kBuckets.size(); ++i) {
    for (const auto& w : workers) cumulative += w->metrics().bucket(i);
    out += "ringproxy_request_duration_seconds_bucket{le=\"" + number(WorkerMetrics::kBuckets[i]) +
           "\"} " + std::to_string(cumulative) + "\n";
  }
  for (const auto& w : workers) {
    count += w->metrics().count();
    sum_ns += w->metrics().sum_ns();
  }
  out += "ringproxy_request_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  out +=
      "ringproxy_request_duration_seconds_sum " + number(static_cast<double>(sum_ns) / 1e9) + "\n";
  out += "ringproxy_request_duration_seconds_count " + std::to_string(count) + "\n";
}

// 429s, client connections (active, parked), idle backend connections and memory.
void append_connection_metrics(std::string& out, const ProcessControl& server,
                               const Workers& workers) {
  std::uint64_t limited = 0;
  for (const auto& w : workers) limited += w->metrics().rate_limited();
  header(out, "rate_limited_total", "counter", "Requests refused with 429.");
  out += "ringproxy_rate_limited_total " + std::to_string(limited) + "\n";

  header(out, "active_connections", "gauge", "Client connections open now.");
  out += "ringproxy_active_connections " + std::to_string(server.active_connections()) + "\n";

  std::size_t parked = 0;
  for (const auto& w : workers) parked += w->park().size();
  header(out, "parked_connections", "gauge",
         "Client connections idle long enough to be held as a bare socket, with its SSL for "
         "TLS (part of active_connections).");
  out += "ringproxy_parked_connections " + std::to_string(parked) + "\n";

  std::size_t pooled = 0;
  std::size_t idle_upstream = 0;
  for (const auto& w : workers) {
    pooled += w->relay_buffers().spare_bytes() + w->arena_blocks().spare_bytes() +
              w->upstream_buffers().spare_bytes();
    idle_upstream += w->pool().idle_count();
  }
  std::int64_t tunnels = 0;
  std::uint64_t up = 0;
  std::uint64_t down = 0;
  for (const auto& w : workers) {
    tunnels += w->metrics().tunnels();
    up += w->metrics().tunnel_bytes(true);
    down += w->metrics().tunnel_bytes(false);
  }
  header(out, "tunnels_active", "gauge",
         "Upgraded connections (WebSocket...) tunnelled to a backend now (part of "
         "active_connections).");
  out += "ringproxy_tunnels_active " + std::to_string(tunnels > 0 ? tunnels : 0) + "\n";
  header(out, "tunnel_bytes_total", "counter", "Bytes relayed through tunnels, by direction.");
  out +=
      "ringproxy_tunnel_bytes_total{direction=\"client_to_backend\"} " + std::to_string(up) + "\n";
  out += "ringproxy_tunnel_bytes_total{direction=\"backend_to_client\"} " + std::to_string(down) +
         "\n";
  header(out, "upstream_idle_connections", "gauge",
         "Kept-alive backend connections idle in the pools.");
  out += "ringproxy_upstream_idle_connections " + std::to_string(idle_upstream) + "\n";
  header(out, "heap_bytes", "gauge", "Heap memory allocated now, pooled buffers included.");
  out += "ringproxy_heap_bytes " + std::to_string(heap_bytes_in_use()) + "\n";
  header(out, "pooled_buffer_bytes", "gauge",
         "Spare request buffers the workers keep for reuse (part of heap_bytes).");
  out += "ringproxy_pooled_buffer_bytes " + std::to_string(pooled) + "\n";
}

// Global rate limits' Redis: errors, and the lease script's round trips as a histogram.
void append_redis_metrics(std::string& out, const Workers& workers) {
  std::uint64_t errors = 0, cumulative = 0, count = 0, sum_ns = 0;
  for (const auto& w : workers) {
    errors += w->metrics().redis_errors();
    count += w->metrics().redis_count();
    sum_ns += w->metrics().redis_sum_ns();
  }
  header(out, "redis_errors_total", "counter",
         "Redis failures of global rate limits: refused or lost connections, error replies, "
         "commands unanswered.");
  out += "ringproxy_redis_errors_total " + std::to_string(errors) + "\n";
  header(out, "redis_latency_seconds", "histogram",
         "Round trips of the global rate limits' lease script to Redis.");
  for (std::size_t i = 0; i < WorkerMetrics::kRedisBuckets.size(); ++i) {
    for (const auto& w : workers) cumulative += w->metrics().redis_bucket(i);
    out += "ringproxy_redis_latency_seconds_bucket{le=\"" +
           number(WorkerMetrics::kRedisBuckets[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += "ringproxy_redis_latency_seconds_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  out += "ringproxy_redis_latency_seconds_sum " + number(static_cast<double>(sum_ns) / 1e9) + "\n";
  out += "ringproxy_redis_latency_seconds_count " + std::to_string(count) + "\n";
}

// Reloads by result, then the generation in force; returns the snapshot it read, for the
// backend rows.
std::shared_ptr<const Snapshot> append_config_metrics(std::string& out,
                                                      const ProcessControl& server) {
  header(out, "config_reloads_total", "counter", "Config reloads, by result.");
  out += "ringproxy_config_reloads_total{result=\"success\"} " +
         std::to_string(server.reloads(true)) + "\n";
  out += "ringproxy_config_reloads_total{result=\"failure\"} " +
         std::to_string(server.reloads(false)) + "\n";

  auto snap = server.snapshot();
  header(out, "config_generation", "gauge", "Generation of the config in force.");
  out += "ringproxy_config_generation " + std::to_string(snap->generation()) + "\n";
  return snap;
}

// Backend state, one family per row, from the snapshot in force.
void append_backend_metrics(std::string& out, const ProcessControl& server, const Snapshot& snap) {
  const auto now = std::chrono::steady_clock::now();
  struct Row {
    const char* name;
    const char* type;
    const char* help;
  };
  const Row rows[] = {
      {"backend_healthy", "gauge", "1 when the backend passes its health checks (or has none)."},
      {"circuit_breaker_state", "gauge", "0 closed, 1 half-open, 2 open."},
      {"backend_in_flight", "gauge", "Requests in flight to the backend."},
      {"backend_requests_total", "counter", "Requests sent to the backend."},
      {"backend_failures_total", "counter", "Failed attempts at the backend."},
      {"upstream_connects_total", "counter", "Connections opened to the backend."},
  };
  for (std::size_t r = 0; r < std::size(rows); ++r) {
    header(out, rows[r].name, rows[r].type, rows[r].help);
    for (const auto& up : snap.upstreams()) {
      for (const auto& b : up.backends()) {
        std::uint64_t v = 0;
        const BackendTotals t = r >= 2 ? server.backend_totals(b->slot) : BackendTotals{};
        switch (r) {
          case 0:
            v = !up.config->health_check || b->healthy.load(std::memory_order_relaxed);
            break;
          case 1:
            v = up.config->circuit_breaker ? static_cast<std::uint64_t>(b->breaker.state(now)) : 0;
            break;
          case 2:
            v = static_cast<std::uint64_t>(t.in_flight > 0 ? t.in_flight : 0);
            break;
          case 3:
            v = t.requests;
            break;
          case 4:
            v = t.failures;
            break;
          case 5:
            v = t.connects;
            break;
        }
        out += "ringproxy_";
        out += rows[r].name;
        out += "{upstream=\"";
        append_label(out, up.config->name);
        out += "\",backend=\"";
        append_label(out, b->key);
        out += "\"} " + std::to_string(v) + "\n";
      }
    }
  }
}

// TLS handshakes per TLS listener (every listener the process has had: counters are kept).
void append_tls_metrics(std::string& out) {
  const TlsMetrics& tls = TlsMetrics::process();
  bool any = false;
  tls.for_each([&any](const TlsListenerCounters&) { any = true; });
  if (!any) return;
  auto rows = [&](const char* name, const char* help, auto value) {
    header(out, name, "counter", help);
    tls.for_each([&](const TlsListenerCounters& c) {
      out += "ringproxy_";
      out += name;
      out += "{listener=\"";
      append_label(out, c.listener);
      out += "\"} " + std::to_string(value(c)) + "\n";
    });
  };
  rows("tls_handshakes_total", "TLS handshakes completed, by listener.",
       [](const TlsListenerCounters& c) { return c.handshakes.load(std::memory_order_relaxed); });
  rows("tls_resumed_handshakes_total",
       "Of the completed TLS handshakes, those that resumed a session (a ticket).",
       [](const TlsListenerCounters& c) { return c.resumed.load(std::memory_order_relaxed); });
  header(out, "tls_handshake_failures_total", "counter",
         "TLS handshakes that failed, by listener and reason.");
  tls.for_each([&](const TlsListenerCounters& c) {
    for (std::size_t i = 0; i < kTlsFailureNames.size(); ++i) {
      out += "ringproxy_tls_handshake_failures_total{listener=\"";
      append_label(out, c.listener);
      out += "\",reason=\"";
      out += kTlsFailureNames[i];
      out += "\"} " + std::to_string(c.failures[i].load(std::memory_order_relaxed)) + "\n";
    }
  });
}

// HTTP/2 client connections: how many, their memory, their streams, and those ended for
// flooding (docs/http2.md).
void append_h2_metrics(std::string& out, const Workers& workers) {
  std::int64_t connections = 0;
  std::int64_t memory = 0;
  std::uint64_t streams = 0;
  std::uint64_t floods = 0;
  for (const auto& w : workers) {
    connections += w->metrics().h2_connections();
    memory += w->metrics().h2_memory();
    streams += w->metrics().h2_streams();
    floods += w->metrics().h2_floods();
  }
  header(out, "h2_connections_active", "gauge",
         "HTTP/2 client connections open now (part of active_connections).");
  out += "ringproxy_h2_connections_active " +
         std::to_string(std::max<std::int64_t>(connections, 0)) + "\n";
  header(out, "h2_memory_bytes", "gauge",
         "Memory held by HTTP/2 client connections now: nghttp2 sessions, stream buffers.");
  out += "ringproxy_h2_memory_bytes " + std::to_string(std::max<std::int64_t>(memory, 0)) + "\n";
  header(out, "h2_streams_total", "counter", "HTTP/2 request streams taken into the pipeline.");
  out += "ringproxy_h2_streams_total " + std::to_string(streams) + "\n";
  header(out, "h2_flood_goaways_total", "counter",
         "HTTP/2 connections ended with GOAWAY ENHANCE_YOUR_CALM (resets, pings, settings, empty "
         "frames or header blocks beyond their budgets).");
  out += "ringproxy_h2_flood_goaways_total " + std::to_string(floods) + "\n";
}

// HTTP/2 backend connections (upstreams with protocol h2/h2c only), per backend: open now,
// streams sent, dropped for an unanswered keep-alive PING (docs/http2-upstream.md).
void append_h2_upstream_metrics(std::string& out, const ProcessControl& server,
                                const Snapshot& snap) {
  struct Row {
    const char* name;
    const char* type;
    const char* help;
    std::int64_t (*value)(const BackendTotals&);
  };
  const Row rows[] = {
      {"h2_upstream_connections_active", "gauge", "HTTP/2 connections to the backend open now.",
       [](const BackendTotals& t) { return std::max<std::int64_t>(t.h2_connections, 0); }},
      {"h2_upstream_streams_total", "counter", "HTTP/2 streams (requests) sent to the backend.",
       [](const BackendTotals& t) { return static_cast<std::int64_t>(t.h2_streams); }},
      {"h2_upstream_ping_timeouts_total", "counter",
       "HTTP/2 connections to the backend dropped because a keep-alive PING went unanswered.",
       [](const BackendTotals& t) { return static_cast<std::int64_t>(t.h2_ping_timeouts); }},
  };
  auto h2 = [](const auto& up) { return up.config->protocol != UpstreamProtocol::http1; };
  if (std::none_of(snap.upstreams().begin(), snap.upstreams().end(), h2)) return;
  for (const Row& row : rows) {
    header(out, row.name, row.type, row.help);
    for (const auto& up : snap.upstreams()) {
      if (!h2(up)) continue;
      for (const auto& b : up.backends()) {
        out += "ringproxy_";
        out += row.name;
        out += "{upstream=\"";
        append_label(out, up.config->name);
        out += "\",backend=\"";
        append_label(out, b->key);
        out += "\"} " + std::to_string(row.value(server.backend_totals(b->slot))) + "\n";
      }
    }
  }
}

}  // namespace

std::string metrics_text(const ProcessControl& server) {
  std::string out;
  out.reserve(8192);
  const auto& workers = server.workers();
  append_request_metrics(out, workers, server.registry().upstream_names());
  append_connection_metrics(out, server, workers);
  append_redis_metrics(out, workers);
  const auto snap = append_config_metrics(out, server);
  append_backend_metrics(out, server, *snap);
  append_tls_metrics(out);
  append_h2_metrics(out, workers);
  append_h2_upstream_metrics(out, server, *snap);
  return out;
}

}  // namespace ringproxy
