// Leases of a global rate limit, per client (see lease_book.hpp).
#include "policy/lease_book.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <unordered_map>

namespace ringproxy {

namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();
constexpr std::size_t kMinSweep = 64;  // a shard this small is never swept for idleness

// One client's lease. fetch_id != 0 while a fetch is in flight; lent != 0 while lanes hold
// slices of it. last_used is at least every slice's cut time: a slice is spent only up to
// idle_ns after its cut, so an entry idle for idle_ns has no slice that can still be spent.
struct Entry {
  std::uint64_t tokens = 0;            // leased here, not spent yet, not cut into slices
  std::uint64_t lent = 0;              // cut into lanes' slices, not handed back yet
  std::uint64_t epoch = 0;             // tells this entry's slices from older ones of the key
  std::uint64_t bucket_remaining = 0;  // what the shared bucket held at the last grant
  std::int64_t last_used = kNever;
  std::int64_t denied_until = kNever;    // the shared bucket was empty: refuse until then
  std::int64_t no_fetch_until = kNever;  // a fetch failed: do not ask again until then
  std::int64_t fetch_started = 0;
  std::uint64_t fetch_id = 0;
  LeaseWaiters waiters;

  // Unused for idle_ns: its slices out cannot be spent; dropping it only admits less.
  bool idle(std::int64_t now, std::int64_t idle_ns) const {
    return fetch_id == 0 && waiters.empty() && last_used != kNever && now - last_used > idle_ns;
  }

  // A lane's slice of this entry comes back, with what is left of it and its last use.
  void take_back(const LeaseSlice& slice) {
    if (slice.lent == 0 || slice.epoch != epoch) return;
    lent -= std::min(lent, slice.lent);
    tokens += slice.tokens;
    last_used = std::max(last_used, slice.last_used);
  }

  // Cuts a new slice for a lane at now: up to `size` of the tokens, lent until it comes back.
  void cut(LeaseSlice& slice, std::uint64_t size, std::int64_t now) {
    const std::uint64_t n = std::min(size, tokens);
    tokens -= n;
    lent += n;
    slice.epoch = epoch;
    slice.tokens = n;
    slice.lent = n;
    slice.base = tokens + bucket_remaining;
    slice.cut_at = now;
    slice.last_used = now;
  }
};

}  // namespace

LeaseRule LeaseRule::make(double lease, std::uint64_t burst, std::int64_t idle_ns,
                          std::size_t max_clients, unsigned lanes) {
  LeaseRule rule;
  const double tokens = std::floor(lease * static_cast<double>(burst));
  rule.lease_tokens = tokens >= 1 ? static_cast<std::uint64_t>(tokens) : 1;
  rule.low_water = rule.lease_tokens / 2;
  rule.idle_ns = std::max<std::int64_t>(idle_ns, 1'000'000'000);
  rule.max_clients = std::max<std::size_t>(max_clients, 1);
  rule.lanes = lanes;
  rule.slice_tokens = lanes == 0 ? 0 : rule.lease_tokens / (8 * std::uint64_t{lanes});
  return rule;
}

// Guarded by lock: the map and the fetch counter.
struct alignas(64) LeaseBook::Shard {
  std::mutex lock;
  std::unordered_map<std::uint64_t, Entry> entries;
  std::size_t swept_size = 0;  // entries left by the last sweep
  std::uint64_t next_fetch_id = 0;
  std::uint64_t next_epoch = 0;

  // Drops entries idle since before now - idle_ns with no fetch in flight.
  void sweep(std::int64_t now, std::int64_t idle_ns) {
    std::erase_if(entries, [&](const auto& item) { return item.second.idle(now, idle_ns); });
    swept_size = entries.size();
  }

  // Makes room for one more entry within cap: idle ones first, else one with no fetch in flight
  // and no slice out, else any without a fetch in flight (its unspent tokens are lost: fewer
  // admitted; its slices out are spent all the same, uncounted: more slack, at most a slice
  // per lane, and only at max_clients with every client busy).
  void make_room(std::int64_t now, const LeaseRule& rule, std::size_t cap) {
    if (entries.size() >= std::max(2 * swept_size, kMinSweep) || entries.size() >= cap) {
      sweep(now, rule.idle_ns);
    }
    if (entries.size() < cap) return;
    auto victim = std::find_if(entries.begin(), entries.end(), [](const auto& item) {
      return item.second.fetch_id == 0 && item.second.lent == 0;
    });
    if (victim == entries.end()) {
      victim = std::find_if(entries.begin(), entries.end(),
                            [](const auto& item) { return item.second.fetch_id == 0; });
    }
    entries.erase(victim != entries.end() ? victim : entries.begin());
  }
};

LeaseBook::LeaseBook(LeaseRule rule, unsigned shard_bits)
    : rule_(rule),
      shard_bits_(std::min(shard_bits, 10u)),
      shards_(new Shard[std::size_t{1} << shard_bits_]),
      lanes_(rule.lanes > 0 && rule.slice_tokens > 0 ? new LeaseLane[rule.lanes] : nullptr) {
  if (!lanes_) rule_.lanes = 0;
}

LeaseBook::~LeaseBook() = default;

LeaseBook::Shard& LeaseBook::shard_of(std::uint64_t key) const {
  // The top bits of a murmur-style mix: keys from any hash spread evenly.
  const std::uint64_t mixed = (key ^ (key >> 31)) * 0x9e3779b97f4a7c15ULL;
  return shards_[shard_bits_ == 0 ? 0 : mixed >> (64 - shard_bits_)];
}

LeaseTake LeaseBook::take_shared(std::uint64_t key, std::int64_t now, bool redis_up,
                                 LeaseSlice* slice) {
  Shard& shard = shard_of(key);
  std::lock_guard guard(shard.lock);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) {
    const std::size_t cap = std::max<std::size_t>(1, rule_.max_clients >> shard_bits_);
    shard.make_room(now, rule_, cap);
    it = shard.entries.try_emplace(key).first;
  }
  Entry& e = it->second;
  if (slice != nullptr) e.take_back(*slice);
  // Unused for idle_ns: no slice out can be spent any more. They are let go (a new epoch: their
  // returns change nothing), which only admits less; the book's own tokens stay, so a client
  // back after a pause spends them without waiting for Redis (sweeps bound the memory).
  if (e.idle(now, rule_.idle_ns)) {
    e.lent = 0;
    e.epoch = 0;
  }
  if (e.epoch == 0) e.epoch = ++shard.next_epoch;
  e.last_used = std::max(e.last_used, now);
  if (slice != nullptr) e.cut(*slice, 0, now);  // empty until a token is spent below
  if (e.fetch_id != 0 && now - e.fetch_started > rule_.stale_ns) {
    e.fetch_id = 0;  // never answered: its waiters gave up long ago
    e.waiters.clear();
  }
  LeaseTake out;
  auto start_fetch = [&] {
    e.fetch_id = ++shard.next_fetch_id;
    e.fetch_started = now;
    out.fetch = true;
    out.want = rule_.lease_tokens;
    out.fetch_id = e.fetch_id;
  };
  const bool may_fetch = redis_up && now >= e.no_fetch_until;
  if (e.tokens > 0) {
    --e.tokens;
    out.verdict = LeaseVerdict::allow;
    out.remaining = e.tokens + e.bucket_remaining;
    // The lane's next requests spend a slice without the lock.
    if (slice != nullptr) e.cut(*slice, rule_.slice_tokens, now);
    // Slices count as unspent (some may be): the next lease is asked for no later than before.
    if (e.tokens + e.lent <= rule_.low_water && e.fetch_id == 0 && may_fetch &&
        now >= e.denied_until) {
      start_fetch();  // the next lease, before this one runs out
    }
    return out;
  }
  if (now < e.denied_until) {
    out.verdict = LeaseVerdict::deny;
    out.retry_after = std::chrono::nanoseconds(e.denied_until - now);
    return out;
  }
  if (e.fetch_id != 0) {
    out.verdict = LeaseVerdict::wait;
    return out;
  }
  if (!may_fetch) {
    out.verdict = LeaseVerdict::fallback;
    return out;
  }
  start_fetch();
  out.verdict = LeaseVerdict::wait;
  return out;
}

LeaseTake LeaseBook::take_for_lane(LeaseLane& lane, LeaseSlice* slice, std::uint64_t key,
                                   std::int64_t now, bool redis_up) {
  if (slice == nullptr) {
    const std::size_t cap = std::min(rule_.max_clients, LeaseLane::kMaxSlices);
    slice =
        lane.add(key, now, rule_.idle_ns, cap, [this](const LeaseSlice& old) { give_back(old); });
  }
  return take_shared(key, now, redis_up, slice);
}

void LeaseBook::give_back(const LeaseSlice& slice) {
  if (slice.lent == 0) return;
  Shard& shard = shard_of(slice.key);
  std::lock_guard guard(shard.lock);
  auto it = shard.entries.find(slice.key);
  if (it != shard.entries.end()) it->second.take_back(slice);
}

bool LeaseBook::add_waiter(std::uint64_t key, std::shared_ptr<LeaseWaiter> waiter) {
  Shard& shard = shard_of(key);
  std::lock_guard guard(shard.lock);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end() || it->second.fetch_id == 0) return false;
  it->second.waiters.push_back(std::move(waiter));
  return true;
}

LeaseWaiters LeaseBook::granted(std::uint64_t key, std::uint64_t fetch_id, std::uint64_t tokens,
                                std::uint64_t bucket_remaining,
                                std::chrono::nanoseconds retry_after, std::int64_t now) {
  Shard& shard = shard_of(key);
  std::lock_guard guard(shard.lock);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) return {};  // evicted meanwhile: the tokens are lost
  Entry& e = it->second;
  // Tokens from a fetch given up on are this instance's all the same: they count.
  e.tokens += tokens;
  e.bucket_remaining = bucket_remaining;
  e.no_fetch_until = kNever;
  e.denied_until = tokens == 0 ? now + std::max<std::int64_t>(retry_after.count(), 1) : kNever;
  LeaseWaiters waiters;
  if (e.fetch_id == fetch_id) {
    e.fetch_id = 0;
    waiters.swap(e.waiters);
  }
  return waiters;
}

LeaseWaiters LeaseBook::failed(std::uint64_t key, std::uint64_t fetch_id, std::int64_t now) {
  Shard& shard = shard_of(key);
  std::lock_guard guard(shard.lock);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end() || it->second.fetch_id != fetch_id) return {};
  Entry& e = it->second;
  e.fetch_id = 0;
  e.no_fetch_until = now + rule_.retry_ns;
  LeaseWaiters waiters;
  waiters.swap(e.waiters);
  return waiters;
}

std::size_t LeaseBook::size() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < (std::size_t{1} << shard_bits_); ++i) {
    std::lock_guard guard(shards_[i].lock);
    n += shards_[i].entries.size();
  }
  return n;
}

std::uint64_t LeaseBook::tokens(std::uint64_t key) const {
  Shard& shard = shard_of(key);
  std::lock_guard guard(shard.lock);
  auto it = shard.entries.find(key);
  return it == shard.entries.end() ? 0 : it->second.tokens;
}

std::uint64_t LeaseBook::lent(std::uint64_t key) const {
  Shard& shard = shard_of(key);
  std::lock_guard guard(shard.lock);
  auto it = shard.entries.find(key);
  return it == shard.entries.end() ? 0 : it->second.lent;
}

std::uint64_t LeaseBook::lane_tokens(unsigned lane, std::uint64_t key) const {
  if (lane >= rule_.lanes) return 0;
  const LeaseSlice* slice = lanes_[lane].find(key);
  return slice == nullptr ? 0 : slice->tokens;
}

}  // namespace ringproxy
