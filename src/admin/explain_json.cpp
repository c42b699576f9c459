// GET /explain's JSON (see explain_json.hpp); admin formats only, the walk decides.
#include "admin/explain_json.hpp"

#include <cstdio>

#include "log/access_log.hpp"
#include "policy/hash_key.hpp"
#include "runtime/snapshot.hpp"

namespace ringproxy {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '+') {
      out += ' ';
    } else if (raw[i] != '%') {
      out += raw[i];
    } else {
      if (i + 2 >= raw.size()) return std::nullopt;
      const int hi = hex_digit(raw[i + 1]);
      const int lo = hex_digit(raw[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return out;
}

void append_address(std::string& out, const UpstreamRuntime& up, std::optional<std::size_t> i) {
  if (i && *i < up.backends().size()) {
    append_json_string(out, up.backends()[*i]->key);
  } else {
    out += "null";
  }
}

}  // namespace

std::optional<std::string> query_parameter(std::string_view target, std::string_view name) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return percent_decode(eq == std::string_view::npos ? std::string_view{}
                                                         : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string explain_json(const UpstreamRuntime& up, std::string_view key,
                         std::chrono::steady_clock::time_point now) {
  const std::uint64_t hash = hash_key_bytes(key);
  const WalkExplanation e = up.selector->explain(hash, 0, now);
  std::string out = "{\"upstream\": ";
  append_json_string(out, up.config->name);
  out += ", \"algorithm\": \"" + std::string(to_string(up.config->algorithm)) + "\"";
  out += ", \"hash_key\": ";
  append_json_string(out, up.hash_key.to_string());
  out += ", \"key\": ";
  append_json_string(out, key);
  char hex[24];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  out += ", \"hash\": \"" + std::string(hex) + "\"";
  out += ", \"home\": ";
  append_address(out, up, e.home);
  out += ", \"passed\": [";
  bool first = true;
  for (const WalkExplanation::Step& step : e.walk) {
    if (step.verdict == WalkVerdict::usable) continue;
    if (!first) out += ", ";
    first = false;
    out += "{\"backend\": ";
    append_address(out, up, step.backend);
    out += ", \"reason\": \"" + std::string(to_string(step.verdict)) + "\"}";
  }
  out += "], \"chosen\": ";
  append_address(out, up, e.chosen);
  out += ", \"order\": [";
  for (std::size_t i = 0; i < e.order.size(); ++i) {
    if (i) out += ", ";
    append_address(out, up, e.order[i]);
  }
  out += "]}";
  return out;
}

}  // namespace ringproxy
