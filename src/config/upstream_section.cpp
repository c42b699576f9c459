// [[upstream]] and its [[upstream.backend]] entries.
#include <algorithm>
#include <cctype>
#include <map>

#include "config/sections.hpp"

namespace ringproxy::config_detail {

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// One [[upstream.backend]] table; upstream is the enclosing upstream's context.
// seen maps lower-cased addresses to their line, for duplicates.
void read_backend(const TomlValue& table, const std::string& upstream, std::size_t number,
                  Diagnostics& diag, std::map<std::string, int>& seen, BackendConfig& out) {
  TableReader r(table, upstream + " backend #" + std::to_string(number), false, diag);
  out.line = r.line();
  if (const TomlValue* v = r.find("address")) {
    out.line = line_of(*v);
    if (!v->is_string()) {
      r.type_error(*v, "address", "a \"host:port\" string");
    } else {
      const std::string& text = v->as_string().str;
      std::string problem;
      auto hp = parse_host_port(text, &problem);
      if (hp && hp->port == 0) {
        hp.reset();
        problem = "has an invalid port \"0\"";
      }
      if (!hp) {
        diag.add(out.line, upstream + ": backend address " + quote(text) + " " + problem);
      } else {
        auto [it, fresh] = seen.emplace(lower(hp->to_string()), out.line);
        if (!fresh) {
          diag.add(out.line, upstream + ": duplicate backend address " + quote(text) +
                                 " (first at line " + std::to_string(it->second) + ")");
        }
        out.address = std::move(*hp);
      }
    }
  } else {
    r.error(r.line(), "missing required key \"address\"");
  }
  r.read_integer("weight", 1, 1000, out.weight);
  if (r.read_string("id", out.id) && out.id.empty()) {
    r.error(r.line(), upstream + ": backend id must not be empty");
  }
  r.finish();
}

// upstream.backend: an array of tables with at least one entry.
void read_backends(TableReader& r, Diagnostics& diag, UpstreamConfig& out) {
  const TomlValue* v = r.find("backend");
  if (!v) {
    r.error(r.line(), "no backends; add at least one [[upstream.backend]]");
    return;
  }
  if (!v->is_array()) {
    r.type_error(*v, "backend", "an array of tables ([[upstream.backend]])");
    return;
  }
  if (v->as_array().empty()) {
    r.key_error(*v, "backend", "must have at least one backend");
    return;
  }
  std::map<std::string, int> seen;
  std::size_t number = 0;
  for (const TomlValue& item : v->as_array()) {
    ++number;
    if (!item.is_table()) {
      r.error(line_of(item), "backend #" + std::to_string(number) + ": expected a table, got " +
                                 describe_type(item));
      continue;
    }
    BackendConfig backend;
    read_backend(item, r.context(), number, diag, seen, backend);
    out.backends.push_back(std::move(backend));
  }
}

// The text of a string value, for messages ("" otherwise).
std::string text_of(const TomlValue* v) {
  return v && v->is_string() ? v->as_string().str : std::string();
}

// upstream.health_check, when present. Every key has a default; a timeout left out is
// min(1s, interval), so that setting a short interval alone is valid.
void read_health_check(TableReader& upstream, Diagnostics& diag, UpstreamConfig& out) {
  const TomlValue* v = upstream.find("health_check");
  if (!v) return;
  if (!v->is_table()) {
    upstream.type_error(*v, "health_check", "a table ([upstream.health_check])");
    return;
  }
  TableReader r(*v, upstream.context() + ": health_check", true, diag);
  HealthCheckConfig hc;
  hc.line = r.line();
  std::string path;
  if (r.read_string("path", path)) {
    bool clean = std::none_of(path.begin(), path.end(), [](char c) {
      return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
    });
    if (!path.starts_with('/')) {
      r.key_error(*r.find("path"), "path", "must start with '/', got " + quote(path));
    } else if (!clean) {
      r.key_error(*r.find("path"), "path",
                  "must not contain spaces or control characters, got " + quote(path));
    } else {
      hc.path = std::move(path);
    }
  }
  const bool has_interval = r.find("interval") != nullptr;
  const bool has_timeout = r.find("timeout") != nullptr;
  const bool interval_ok = !has_interval || r.read_duration("interval", hc.interval);
  const bool timeout_ok = !has_timeout || r.read_duration("timeout", hc.timeout);
  if (!has_timeout) hc.timeout = std::min(hc.timeout, hc.interval);
  if (has_timeout && interval_ok && timeout_ok && hc.timeout > hc.interval) {
    std::string interval = has_interval ? text_of(r.find("interval")) : "2s";
    r.key_error(*r.find("timeout"), "timeout",
                "must not exceed interval (" + quote(interval) + "), got " +
                    quote(text_of(r.find("timeout"))));
  }
  r.read_integer("healthy_threshold", 1, 1000, hc.healthy_threshold);
  r.read_integer("unhealthy_threshold", 1, 1000, hc.unhealthy_threshold);
  if (const TomlValue* s = r.find("expected_status")) {
    if (s->is_integer()) {
      std::int64_t code = s->as_integer();
      if (code < 100 || code > 599) {
        r.key_error(*s, "expected_status",
                    "must be a status code between 100 and 599, got " + std::to_string(code));
      } else {
        hc.expected_status = StatusRange{static_cast<int>(code), static_cast<int>(code)};
      }
    } else if (!s->is_string()) {
      r.type_error(*s, "expected_status", "a status range string like \"200-399\"");
    } else if (auto range = parse_status_range(s->as_string().str)) {
      hc.expected_status = *range;
    } else {
      r.key_error(*s, "expected_status",
                  "expected a status code or range like \"200\" or \"200-399\" (codes 100-599, "
                  "low <= high), got " +
                      quote(s->as_string().str));
    }
  }
  r.finish();
  out.health_check = std::move(hc);
}

// upstream.circuit_breaker, when present. Every key has a default.
void read_circuit_breaker(TableReader& upstream, Diagnostics& diag, UpstreamConfig& out) {
  const TomlValue* v = upstream.find("circuit_breaker");
  if (!v) return;
  if (!v->is_table()) {
    upstream.type_error(*v, "circuit_breaker", "a table ([upstream.circuit_breaker])");
    return;
  }
  TableReader r(*v, upstream.context() + ": circuit_breaker", true, diag);
  CircuitBreakerConfig cb;
  cb.line = r.line();
  r.read_integer("failure_threshold", 1, 10000, cb.failure_threshold);
  r.read_duration("open_duration", cb.open_duration);
  r.read_integer("half_open_requests", 1, 10000, cb.half_open_requests);
  r.read_integer("max_concurrent", 0, 1000000, cb.max_concurrent);
  r.finish();
  out.circuit_breaker = cb;
}

// upstream.tls = { ca, server_name, verify }: TLS to the upstream's backends.
void read_upstream_tls(TableReader& upstream, Diagnostics& diag, UpstreamConfig& out) {
  const TomlValue* v = upstream.find("tls");
  if (!v) return;
  if (!v->is_table()) {
    upstream.type_error(*v, "tls", "a table ({ ca = \"...\", server_name = \"\", verify = true })");
    return;
  }
  TableReader r(*v, upstream.context() + ": tls", true, diag);
  UpstreamTlsConfig tls;
  tls.line = line_of(*v);
  if (const TomlValue* ca = r.find("ca")) tls.ca_line = line_of(*ca);
  r.read_string("ca", tls.ca);
  if (r.read_string("server_name", tls.server_name)) {
    for (char c : tls.server_name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
        r.key_error(*r.find("server_name"), "server_name",
                    quote(tls.server_name) + " is not a host name");
        break;
      }
    }
  }
  r.read_bool("verify", tls.verify);
  r.finish();
  out.tls = std::move(tls);
}

// upstream.protocol: "http1" | "h2" (TLS, ALPN; needs tls) | "h2c" (cleartext; no tls).
void read_protocol(TableReader& r, UpstreamConfig& out) {
  std::string text;
  if (!r.read_string("protocol", text)) return;
  const TomlValue& at = *r.find("protocol");
  if (text == "http1") {
    out.protocol = UpstreamProtocol::http1;
  } else if (text == "h2") {
    out.protocol = UpstreamProtocol::h2;
    if (!out.tls) {
      r.key_error(at, "protocol",
                  "\"h2\" is HTTP/2 over TLS and needs tls = {...}; \"h2c\" is cleartext HTTP/2");
    }
  } else if (text == "h2c") {
    out.protocol = UpstreamProtocol::h2c;
    if (out.tls) {
      r.key_error(at, "protocol",
                  "\"h2c\" is cleartext HTTP/2 and cannot go with tls = {...}; use \"h2\"");
    }
  } else {
    r.key_error(at, "protocol", "must be one of http1|h2|h2c, got " + quote(text));
  }
}

// One [[upstream]] table. names maps each name to the line of its first definition.
void read_upstream(const TomlValue& table, std::size_t number, Diagnostics& diag,
                   std::map<std::string, int>& names, UpstreamConfig& out) {
  TableReader r(table, "upstream #" + std::to_string(number), false, diag);
  out.line = r.line();
  if (const TomlValue* v = r.find("name")) {
    if (!v->is_string()) {
      r.type_error(*v, "name", "a string");
    } else if (v->as_string().str.empty()) {
      r.key_error(*v, "name", "must not be empty");
    } else {
      out.name = v->as_string().str;
      r.set_context("upstream " + quote(out.name));
      auto [it, fresh] = names.emplace(out.name, line_of(*v));
      if (!fresh) {
        r.error(line_of(*v), "duplicate upstream name " + quote(out.name) + " (first at line " +
                                 std::to_string(it->second) + ")");
      }
    }
  } else {
    r.error(r.line(), "missing required key \"name\"");
  }

  std::string text;
  if (r.read_string("hash_key", text)) {
    std::string problem;
    if (auto spec = HashKeySpec::parse(text, &problem)) {
      out.hash_key = std::move(*spec);
    } else {
      r.key_error(*r.find("hash_key"), "hash_key", problem);
    }
  }
  if (r.read_string("algorithm", text)) {
    if (auto algorithm = parse_algorithm(text)) {
      out.algorithm = *algorithm;
    } else {
      r.key_error(*r.find("algorithm"), "algorithm",
                  "must be one of ring|maglev|round_robin, got " + quote(text));
    }
  }
  r.read_integer("virtual_nodes", 1, 10000, out.virtual_nodes);
  double bounded_load = 0;
  if (r.read_number("bounded_load", bounded_load)) {
    if (bounded_load == 0.0 || bounded_load > 1.0) {
      out.bounded_load = bounded_load;
    } else {
      r.key_error(*r.find("bounded_load"), "bounded_load",
                  "must be 0 (off) or greater than 1.0, got " + format_number(bounded_load));
    }
  }
  r.read_duration("connect_timeout", out.connect_timeout);
  r.read_duration("response_timeout", out.response_timeout);
  r.read_integer("retries", 0, 10, out.retries);
  r.read_integer("max_idle_per_backend", 0, TableReader::kNoMax, out.max_idle_per_backend);
  read_backends(r, diag, out);
  read_health_check(r, diag, out);
  read_circuit_breaker(r, diag, out);
  read_upstream_tls(r, diag, out);
  read_protocol(r, out);
  r.finish();
}

}  // namespace

void read_upstreams(const TomlValue& array, Diagnostics& diag, std::vector<UpstreamConfig>& out) {
  std::map<std::string, int> names;
  std::size_t number = 0;
  for (const TomlValue& item : array.as_array()) {
    ++number;
    if (!item.is_table()) {
      diag.add(line_of(item), "upstream #" + std::to_string(number) + ": expected a table, got " +
                                  describe_type(item));
      continue;
    }
    UpstreamConfig upstream;
    read_upstream(item, number, diag, names, upstream);
    out.push_back(std::move(upstream));
  }
}

}  // namespace ringproxy::config_detail
