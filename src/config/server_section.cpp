// [server], [admin] and [log]: listeners, client-side limits, logging.
#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>

#include "config/sections.hpp"

namespace ringproxy::config_detail {

void read_listen(TableReader& r, std::vector<HostPort>& out) {
  const TomlValue* v = r.find("listen");
  if (!v) return;
  if (!v->is_array()) {
    r.type_error(*v, "listen", "an array of \"host:port\" strings");
    return;
  }
  if (v->as_array().empty()) {
    r.key_error(*v, "listen", "must not be empty");
    return;
  }
  std::vector<HostPort> addresses;
  std::set<std::string> seen;
  bool ok = true;
  for (const TomlValue& item : v->as_array()) {
    if (!item.is_string()) {
      r.type_error(item, "listen", "\"host:port\" strings");
      ok = false;
      continue;
    }
    const std::string& text = item.as_string().str;
    std::string problem;
    auto hp = parse_host_port(text, &problem);
    if (!hp) {
      r.key_error(item, "listen", "address " + quote(text) + " " + problem);
      ok = false;
      continue;
    }
    if (!seen.insert(hp->to_string()).second) {
      r.key_error(item, "listen", "duplicate address " + quote(text));
      ok = false;
      continue;
    }
    addresses.push_back(std::move(*hp));
  }
  if (ok) out = std::move(addresses);
}

namespace {

// server.trusted_proxies: an array of CIDR strings (possibly empty).
void read_trusted_proxies(TableReader& r, std::vector<Cidr>& out) {
  const TomlValue* v = r.find("trusted_proxies");
  if (!v) return;
  if (!v->is_array()) {
    r.type_error(*v, "trusted_proxies", "an array of CIDR strings");
    return;
  }
  std::vector<Cidr> cidrs;
  bool ok = true;
  for (const TomlValue& item : v->as_array()) {
    if (!item.is_string()) {
      r.type_error(item, "trusted_proxies", "CIDR strings like \"10.0.0.0/8\"");
      ok = false;
      continue;
    }
    const std::string& text = item.as_string().str;
    std::string problem;
    auto cidr = Cidr::parse(text, &problem);
    if (!cidr) {
      r.key_error(item, "trusted_proxies", quote(text) + " " + problem);
      ok = false;
      continue;
    }
    cidrs.push_back(std::move(*cidr));
  }
  if (ok) out = std::move(cidrs);
}

// server.upgrade_protocols: an array of distinct Upgrade tokens (possibly empty), never
// "h2c" (HTTP/2 is not tunnelled: it is spoken or refused). Kept in lower case.
void read_upgrade_protocols(TableReader& r, std::vector<std::string>& out) {
  const TomlValue* v = r.find("upgrade_protocols");
  if (!v) return;
  if (!v->is_array()) {
    r.type_error(*v, "upgrade_protocols", "an array of Upgrade tokens like \"websocket\"");
    return;
  }
  static constexpr std::string_view kTokenPunct = "!#$%&'*+-.^_`|~";
  std::vector<std::string> tokens;
  bool ok = true;
  for (const TomlValue& item : v->as_array()) {
    if (!item.is_string()) {
      r.type_error(item, "upgrade_protocols", "Upgrade tokens like \"websocket\"");
      ok = false;
      continue;
    }
    std::string token = item.as_string().str;
    bool valid = !token.empty();
    for (char& c : token) {
      const auto u = static_cast<unsigned char>(c);
      valid = valid && (std::isalnum(u) != 0 || kTokenPunct.find(c) != std::string_view::npos);
      c = static_cast<char>(std::tolower(u));
    }
    std::string problem;
    if (!valid) {
      problem = quote(item.as_string().str) + " is not an Upgrade token";
    } else if (token == "h2c") {
      problem = "\"h2c\" cannot be tunnelled (HTTP/2 is never passed through as an upgrade)";
    } else if (std::find(tokens.begin(), tokens.end(), token) != tokens.end()) {
      problem = "duplicate token " + quote(item.as_string().str);
    }
    if (!problem.empty()) {
      r.key_error(item, "upgrade_protocols", problem);
      ok = false;
      continue;
    }
    tokens.push_back(std::move(token));
  }
  if (ok) out = std::move(tokens);
}

}  // namespace

void read_server(const TomlValue& table, Diagnostics& diag, ServerConfig& out) {
  TableReader r(table, "server", true, diag);
  read_listen(r, out.listen);
  r.read_integer("workers", 0, 1024, out.workers);
  r.read_integer("max_connections", 1, TableReader::kNoMax, out.max_connections);
  r.read_duration("client_header_timeout", out.client_header_timeout);
  r.read_duration("idle_timeout", out.idle_timeout);
  r.read_duration("drain_timeout", out.drain_timeout);
  r.read_integer("max_header_bytes", 1024, TableReader::kNoMax, out.max_header_bytes);
  r.read_integer("max_body_bytes", 0, TableReader::kNoMax, out.max_body_bytes);
  read_trusted_proxies(r, out.trusted_proxies);
  r.read_integer("request_buffer_bytes", 0, TableReader::kNoMax, out.request_buffer_bytes);
  r.read_integer("request_buffer_total", 0, TableReader::kNoMax, out.request_buffer_total);
  read_upgrade_protocols(r, out.upgrade_protocols);
  r.read_duration("tunnel_idle_timeout", out.tunnel_idle_timeout);
  r.read_bool("h2c", out.h2c);
  r.finish();
}

void read_admin(const TomlValue& table, Diagnostics& diag, AdminConfig& out) {
  TableReader r(table, "admin", true, diag);
  std::string text;
  if (r.read_string("listen", text)) {
    if (text.empty()) {
      out.listen = std::nullopt;  // no admin listener
    } else {
      std::string problem;
      if (auto hp = parse_host_port(text, &problem)) {
        out.listen = std::move(*hp);
      } else {
        r.key_error(*r.find("listen"), "listen", "address " + quote(text) + " " + problem);
      }
    }
  }
  r.finish();
}

void read_log(const TomlValue& table, Diagnostics& diag, LogConfig& out) {
  TableReader r(table, "log", true, diag);
  std::string level;
  if (r.read_string("level", level)) {
    static const std::pair<std::string_view, LogLevel> kLevels[] = {
        {"trace", LogLevel::trace}, {"debug", LogLevel::debug}, {"info", LogLevel::info},
        {"warn", LogLevel::warn},   {"error", LogLevel::error},
    };
    bool found = false;
    for (const auto& [name, value] : kLevels) {
      if (level == name) {
        out.level = value;
        found = true;
      }
    }
    if (!found) {
      r.key_error(*r.find("level"), "level",
                  "must be one of trace|debug|info|warn|error, got " + quote(level));
    }
  }
  std::string access_log;
  if (r.read_string("access_log", access_log)) {
    if (access_log.empty()) {
      r.key_error(*r.find("access_log"), "access_log",
                  "must not be empty; use \"stdout\", \"off\" or a file path");
    } else {
      out.access_log = std::move(access_log);
    }
  }
  r.finish();
}

}  // namespace ringproxy::config_detail
