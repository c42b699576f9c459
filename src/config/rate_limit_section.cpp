// [rate_limit] and a route's rate_limit override: a token bucket rule per client key.
#include <algorithm>
#include <cctype>

#include "config/sections.hpp"

namespace ringproxy::config_detail {

namespace {

constexpr double kMaxRate = 1e9;  // one token per nanosecond
constexpr std::int64_t kMaxBurst = 1000000000;
constexpr double kMaxWindowSeconds = 31536000;  // 365 days for an empty bucket to refill

}  // namespace

void read_rate_limit(const TomlValue& table, std::string context, Diagnostics& diag,
                     RateLimitConfig& out, bool& key_set) {
  TableReader r(table, std::move(context), true, diag);
  key_set = false;
  out.line = r.line();
  std::string key;
  if (r.read_string("key", key)) {
    std::string problem;
    if (auto parsed = RateLimitKey::parse(key, &problem)) {
      out.key = std::move(*parsed);
      key_set = true;
    } else {
      r.key_error(*r.find("key"), "key", problem);
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
