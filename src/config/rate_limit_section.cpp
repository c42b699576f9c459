// [rate_limit] and a route's rate_limit override: a token bucket rule per client key.
#include <algorithm>
#include <cctype>

#include "config/sections.hpp"

namespace ringproxy::config_detail {

namespace {

constexpr double kMaxRate = 1e9;  // one token per nanosecond
constexpr std::int64_t kMaxBurst = 1000000000;
constexpr double kMaxWindowSeconds = 31536000;  // 365 days for an empty bucket to refill

// scope, redis, redis_timeout, on_redis_error, lease: keys left out keep out's values.
void read_global_keys(TableReader& r, GlobalLimitConfig& out) {
  std::string text;
  if (r.read_string("scope", text)) {
    if (text == "local" || text == "global") {
      out.scope = text == "global" ? LimitScope::global : LimitScope::local;
    } else {
      r.key_error(*r.find("scope"), "scope", "must be \"local\" or \"global\", got " + quote(text));
    }
  }
  if (r.read_string("redis", text)) {
    std::string problem;
    auto parsed = parse_host_port(text, &problem);
    if (parsed && parsed->port == 0) problem = "has port 0";
    if (parsed && parsed->port != 0) {
      out.redis = std::move(*parsed);
    } else {
      r.key_error(*r.find("redis"), "redis", quote(text) + " " + problem);
    }
  }
  r.read_duration("redis_timeout", out.redis_timeout);
  if (r.read_string("on_redis_error", text)) {
    if (text == "allow" || text == "deny") {
      out.on_redis_error = text == "deny" ? RedisErrorPolicy::deny : RedisErrorPolicy::allow;
    } else {
      r.key_error(*r.find("on_redis_error"), "on_redis_error",
                  "must be \"allow\" or \"deny\", got " + quote(text));
    }
  }
  double lease = 0;
  if (r.read_number("lease", lease)) {
    if (lease > 0 && lease <= 1) {
      out.lease = lease;
    } else {
      r.key_error(*r.find("lease"), "lease",
                  "must be greater than 0 and at most 1, got " + format_number(lease));
    }
  }
}

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
  read_global_keys(r, out.global);
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
