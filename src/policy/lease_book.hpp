// The local side of a global rate limit: per client, the tokens this instance leased from the
// shared bucket (Redis) and spends here, and when to ask for more. Pure: time is passed in,
// nothing here talks to Redis. The model is in docs/policy.md ("Global limits: leases").
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "policy/lease_lane.hpp"

namespace ringproxy {

// How big a lease is and how the book keeps its memory bounded. Plain data.
struct LeaseRule {
  std::uint64_t lease_tokens = 1;  // asked for at a time: max(1, floor(lease x burst))
  std::uint64_t low_water = 0;     // a busy client's next lease is asked for at this many left
  std::int64_t idle_ns = 1'000'000'000;   // unused this long: slices out expire, sweeps drop it
  std::int64_t retry_ns = 50'000'000;     // after a failed fetch, Redis is not asked for this long
  std::int64_t stale_ns = 2'000'000'000;  // a fetch unanswered this long counts as failed
  std::size_t max_clients = 1000000;      // entries kept, about (per shard: a 64th of it)
  unsigned lanes = 0;                     // workers, each with its own slices (0: no lanes)
  std::uint64_t slice_tokens = 0;         // cut at a time for a lane (0: lanes unused)

  // lease_tokens from the config's share of burst; low_water is half a lease; slice_tokens
  // lease_tokens / (8 x lanes), so that the lanes together hold at most an eighth of a lease.
  static LeaseRule make(double lease, std::uint64_t burst, std::int64_t idle_ns,
                        std::size_t max_clients, unsigned lanes = 0);
};

// What a take decided.
enum class LeaseVerdict {
  allow,     // a leased token was spent
  deny,      // the shared bucket was empty when last asked: refused here until retry_after
  wait,      // nothing leased here and a fetch is in flight: wait for it (up to redis_timeout)
  fallback,  // nothing leased here and Redis cannot be asked now: the local tier decides
};

// One take's outcome. fetch: the caller must ask Redis for `want` tokens now and report the
// answer with granted()/failed() and fetch_id (it may come with allow: the lease runs low).
struct LeaseTake {
  LeaseVerdict verdict = LeaseVerdict::fallback;
  bool fetch = false;
  std::uint64_t want = 0;
  std::uint64_t fetch_id = 0;
  std::uint64_t remaining = 0;  // about how many tokens the client has left (lease + bucket)
  std::chrono::nanoseconds retry_after{0};  // deny: until the shared bucket has a lease again
};

// Someone waiting for a client's fetch to end. wake() is called once, from whichever thread
// reported the fetch, with no lock held; it must only hand the news to its owner's thread.
class LeaseWaiter {
 public:
  virtual void wake() = 0;

 protected:
  ~LeaseWaiter() = default;
};
using LeaseWaiters = std::vector<std::shared_ptr<LeaseWaiter>>;

// Leases per client key for one global rule, and per lane (worker) slices of them. Thread-safe:
// every member may be called from any number of threads at once (one mutex per shard, 64
// shards, held for a few map operations), except that one lane is used by one thread at a time.
class LeaseBook {
 public:
  static constexpr unsigned kNoLane = ~0u;

  explicit LeaseBook(LeaseRule rule, unsigned shard_bits = 6);
  ~LeaseBook();
  LeaseBook(const LeaseBook&) = delete;
  LeaseBook& operator=(const LeaseBook&) = delete;

  // Spends one leased token of key at now (monotonic ns). redis_up: whether Redis can be asked
  // at all (a link exists); when it cannot, an empty lease gives `fallback`. lane (< the rule's
  // lanes, used by the calling thread alone): the token comes from the lane's slice of the
  // lease, with no lock, while it has one; else from the shared book, which cuts a new slice.
  LeaseTake take(std::uint64_t key, std::int64_t now, bool redis_up, unsigned lane = kNoLane) {
    if (lane < rule_.lanes && rule_.slice_tokens > 0) {
      LeaseSlice* slice = lanes_[lane].find(key);
      if (slice != nullptr && slice->tokens > 0 && now - slice->cut_at <= rule_.idle_ns) {
        --slice->tokens;
        slice->last_used = std::max(slice->last_used, now);
        LeaseTake out;
        out.verdict = LeaseVerdict::allow;
        out.remaining = slice->tokens + slice->base;
        return out;
      }
      return take_for_lane(lanes_[lane], slice, key, now, redis_up);
    }
    return take_shared(key, now, redis_up, nullptr);
  }
  // Adds waiter to key's fetch in flight; false when there is none (it ended meanwhile: take
  // again).
  bool add_waiter(std::uint64_t key, std::shared_ptr<LeaseWaiter> waiter);
  // Fetch fetch_id of key was answered: tokens were taken from the shared bucket for this
  // instance (0: it was empty, and holds `want` tokens again after retry_after), leaving
  // bucket_remaining there. Returns the waiters to wake.
  LeaseWaiters granted(std::uint64_t key, std::uint64_t fetch_id, std::uint64_t tokens,
                       std::uint64_t bucket_remaining, std::chrono::nanoseconds retry_after,
                       std::int64_t now);
  // Fetch fetch_id of key failed (error, disconnected, too slow): nothing was granted; Redis is
  // not asked for this client again for retry_ns. Returns the waiters to wake.
  LeaseWaiters failed(std::uint64_t key, std::uint64_t fetch_id, std::int64_t now);

  const LeaseRule& rule() const { return rule_; }
  // Clients tracked now (over all shards).
  std::size_t size() const;
  // Tokens leased here and not spent yet, for key, in the book itself (tests and metrics).
  std::uint64_t tokens(std::uint64_t key) const;
  // Tokens of key's lease cut into lanes' slices and not handed back yet (tests).
  std::uint64_t lent(std::uint64_t key) const;
  // Tokens of key left in lane's slice (tests; the lane's thread only).
  std::uint64_t lane_tokens(unsigned lane, std::uint64_t key) const;

 private:
  struct Shard;
  Shard& shard_of(std::uint64_t key) const;
  // The shared book's take. slice (a lane's, or nullptr): its old slice is handed back and a
  // new one is cut into it after the request's own token.
  LeaseTake take_shared(std::uint64_t key, std::int64_t now, bool redis_up, LeaseSlice* slice);
  // A lane's slice of key is missing, spent or idle: the shared book's take, for it.
  LeaseTake take_for_lane(LeaseLane& lane, LeaseSlice* slice, std::uint64_t key, std::int64_t now,
                          bool redis_up);
  // Hands a lane's slice back to the book (its unspent tokens too), under the shard's lock.
  void give_back(const LeaseSlice& slice);

  LeaseRule rule_;
  unsigned shard_bits_;
  std::unique_ptr<Shard[]> shards_;
  std::unique_ptr<LeaseLane[]> lanes_;
};

}  // namespace ringproxy
