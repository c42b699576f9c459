// The shared bucket's script and keys (see global_bucket.hpp).
#include "policy/global_bucket.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>

namespace ringproxy {

// Times are integer microseconds (below 2^53, exact in Lua's doubles); the debt (full_at - now)
// is turned into nanoseconds only relative to now. A grant moves full_at by the rounded-up
// microseconds of its tokens: rounding never grants more.
const std::string_view kLeaseScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local full_at = tonumber(redis.call('GET', KEYS[1]) or now)
if full_at < now then full_at = now end
local debt = (full_at - now) * 1000
local avail = math.floor((capacity - debt) / interval)
if avail < 1 then
  local n = math.min(want, math.floor(capacity / interval))
  local wait = debt - (capacity - n * interval)
  return {0, math.ceil(wait / 1000), 0}
end
local grant = math.min(want, avail)
full_at = full_at + math.ceil(grant * interval / 1000)
debt = (full_at - now) * 1000
redis.call('SET', KEYS[1], string.format('%.0f', full_at), 'PX', math.ceil(debt / 1000000) + 1)
return {grant, 0, math.floor((capacity - debt) / interval)}
)lua";

LeaseScriptArgs LeaseScriptArgs::make(const TokenBucketRule& rule, std::uint64_t want) {
  return {std::to_string(rule.interval_ns()), std::to_string(rule.capacity_ns()),
          std::to_string(want)};
}

TakeResult lease_admission(const TokenBucketRule& rule, std::uint64_t remaining) {
  TakeResult out;
  out.allowed = true;
  out.remaining = std::min(remaining, rule.burst());
  out.reset = std::chrono::nanoseconds(static_cast<std::int64_t>(rule.burst() - out.remaining) *
                                       rule.interval_ns());
  out.retry_after = std::chrono::nanoseconds(out.remaining > 0 ? 0 : rule.interval_ns());
  return out;
}

std::string global_bucket_key(std::string_view rule_name, bool address, std::string_view client) {
  static constexpr std::size_t kMaxClient = 128;
  std::string key = "ringproxy:";
  key.append(rule_name);
  key.append(address ? ":{a:" : ":{h:");
  if (client.size() <= kMaxClient) {
    key.append(client);
  } else {
    const XXH128_hash_t h = XXH3_128bits(client.data(), client.size());
    char hex[40];
    std::snprintf(hex, sizeof hex, "#%016llx%016llx", static_cast<unsigned long long>(h.high64),
                  static_cast<unsigned long long>(h.low64));
    key.append(hex);
  }
  key.push_back('}');
  return key;
}

}  // namespace ringproxy
