// [rate_limit] and a route's rate_limit override: a token bucket rule per client key.
#include <algorithm>
#include <cctype>

#include "config/sections.hpp"

namespace ringproxy::config_detail {

namespace {

constexpr double kMaxRate = 1e9;  // one token per nanosecond
constexpr std::int64_t kMaxBurst = 1000000000;
constexpr double kMaxWindowSeconds = 31536000;  // 365 days for an empty bucket to refill

// An HTTP header name is an RFC 9110 token.
bool is_token(std::string_view text) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kExtra.find(c) != std::string_view::npos;
  });
}

// The problem with a rate limit key, or nullopt when it is valid.
std::optional<std::string> check_key(const std::string& key) {
  if (key == "client_ip") return std::nullopt;
  constexpr std::string_view kHeader = "header:";
  if (key.starts_with(kHeader)) {
    std::string_view name = std::string_view(key).substr(kHeader.size());
    if (name.empty()) return quote(key) + " needs a name after the colon";
    if (!is_token(name)) return quote(key) + " has an invalid header name " + quote(name);
    return std::nullopt;
  }
  return "must be one of client_ip|header:NAME, got " + quote(key);
}

}  // namespace

void read_rate_limit(const TomlValue& table, std::string context, Diagnostics& diag,
                     RateLimitConfig& out, bool& key_set) {
  TableReader r(table, std::move(context), true, diag);
  key_set = false;
  out.line = r.line();
  std::string key;
  if (r.read_string("key", key)) {
    if (auto problem = check_key(key)) {
      r.key_error(*r.find("key"), "key", *problem);
    } else {
      out.key = std::move(key);
      key_set = true;
    }
  }
  bool rate_ok = true;
  double rate = 0;
  if (r.read_number("rate", rate)) {
    if (!(rate > 0)) {
      r.key_error(*r.find("rate"), "rate", "must be greater than 0, got " + format_number(rate));
      rate_ok = false;
    } else if (rate > kMaxRate) {
      r.key_error(*r.find("rate"), "rate",
                  "must be at most " + format_number(kMaxRate) + ", got " + format_number(rate));
      rate_ok = false;
    } else {
      out.rate = rate;
    }
  } else if (r.find("rate")) {
    rate_ok = false;  // present but not a number: reported
  }
  bool burst_ok = r.find("burst") == nullptr || r.read_integer("burst", 1, kMaxBurst, out.burst);
  r.read_integer("max_clients", 1, TableReader::kNoMax, out.max_clients);
  double window = static_cast<double>(out.burst) / out.rate;
  if (rate_ok && burst_ok && window > kMaxWindowSeconds) {
    const TomlValue* at = r.find("rate");
    if (!at) at = r.find("burst");
    r.error(at ? line_of(*at) : r.line(),
            "burst / rate must be at most 31536000 seconds (365 days) for an empty bucket to "
            "refill, got " +
                format_number(window));
  }
  r.finish();
}

}  // namespace ringproxy::config_detail
