// The shared bucket of a global rate limit as Redis keeps it: the Lua script that leases tokens
// from it atomically, its arguments, its reply, and the key of a client's bucket. Pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "policy/token_bucket.hpp"

namespace ringproxy {

// The lease script (GCRA in microseconds of Redis's own clock, so that instances' clocks do not
// matter): KEYS[1] the bucket, ARGV interval_ns, capacity_ns, want. Replies
// {granted, wait_us, remaining}: granted tokens (0 when the bucket is empty; then wait_us until
// it holds min(want, burst) again), and the whole tokens left after the grant. The key expires
// when the bucket is full again, so idle clients leave Redis.
extern const std::string_view kLeaseScript;

// The script's ARGV for a rule and a lease size, as decimal strings.
struct LeaseScriptArgs {
  std::string interval_ns;
  std::string capacity_ns;
  std::string want;

  static LeaseScriptArgs make(const TokenBucketRule& rule, std::uint64_t want);
};

// The script's answer.
struct LeaseReply {
  std::uint64_t granted = 0;
  std::chrono::nanoseconds retry_after{0};
  std::uint64_t remaining = 0;
};

// The RateLimit fields' view of an admission by a lease: `remaining` tokens left (clamped to
// burst), and the time the bucket takes to be full again from there.
TakeResult lease_admission(const TokenBucketRule& rule, std::uint64_t remaining);

// The Redis key of one client's bucket under rule `rule_name` ("default", "route-2"): the
// client in a hash tag, so that every key of one client lands on one Redis Cluster slot.
// address: the client is an address (else a header value; the two never share a key). Values
// longer than 128 bytes are replaced by a 128-bit hash of them.
std::string global_bucket_key(std::string_view rule_name, bool address, std::string_view client);

}  // namespace ringproxy
