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

// One client's lease. fetch_id != 0 while a fetch is in flight.
struct Entry {
  std::uint64_t tokens = 0;            // leased here, not spent yet
  std::uint64_t bucket_remaining = 0;  // what the shared bucket held at the last grant
  std::int64_t last_used = kNever;
  std::int64_t denied_until = kNever;    // the shared bucket was empty: refuse until then
  std::int64_t no_fetch_until = kNever;  // a fetch failed: do not ask again until then
  std::int64_t fetch_started = 0;
  std::uint64_t fetch_id = 0;
  LeaseWaiters waiters;
};

}  // namespace

LeaseRule LeaseRule::make(double lease, std::uint64_t burst, std::int64_t idle_ns,
                          std::size_t max_clients) {
  LeaseRule rule;
  const double tokens = std::floor(lease * static_cast<double>(burst));
  rule.lease_tokens = tokens >= 1 ? static_cast<std::uint64_t>(tokens) : 1;
  rule.low_water = rule.lease_tokens / 2;
  rule.idle_ns = std::max<std::int64_t>(idle_ns, 1'000'000'000);
  rule.max_clients = std::max<std::size_t>(max_clients, 1);
  return rule;
}

// Guarded by lock: the map and the fetch counter.
struct alignas(64) LeaseBook::Shard {
  std::mutex lock;
  std::unordered_map<std::uint64_t, Entry> entries;
  std::size_t swept_size = 0;  // entries left by the last sweep
  std::uint64_t next_fetch_id = 0;

  // Drops entries idle since before now - idle_ns with no fetch in flight.
  void sweep(std::int64_t now, std::int64_t idle_ns) {
    std::erase_if(entries, [&](const auto& item) {
      const Entry& e = item.second;
      return e.fetch_id == 0 && e.waiters.empty() && now - e.last_used > idle_ns;
    });
    swept_size = entries.size();
  }

  // Makes room for one more entry within cap: idle ones first, else any without a fetch in
  // flight (its unspent tokens are lost: fewer admitted, never more).
  void make_room(std::int64_t now, const LeaseRule& rule, std::size_t cap) {
    if (entries.size() >= std::max(2 * swept_size, kMinSweep) || entries.size() >= cap) {
      sweep(now, rule.idle_ns);
    }
    if (entries.size() < cap) return;
    auto victim = std::find_if(entries.begin(), entries.end(),
                               [](const auto& item) { return item.second.fetch_id == 0; });
    entries.erase(victim != entries.end() ? victim : entries.begin());
  }
};

LeaseBook::LeaseBook(LeaseRule rule, unsigned shard_bits)
    : rule_(rule),
      shard_bits_(std::min(shard_bits, 10u)),
      shards_(new Shard[std::size_t{1} << shard_bits_]) {}

LeaseBook::~LeaseBook() = default;

LeaseBook::Shard& LeaseBook::shard_of(std::uint64_t key) const {
  // The top bits of a murmur-style mix: keys from any hash spread evenly.
  const std::uint64_t mixed = (key ^ (key >> 31)) * 0x9e3779b97f4a7c15ULL;
  return shards_[shard_bits_ == 0 ? 0 : mixed >> (64 - shard_bits_)];
}

LeaseTake LeaseBook::take(std::uint64_t key, std::int64_t now, bool redis_up) {
  Shard& shard = shard_of(key);
  std::lock_guard guard(shard.lock);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) {
    const std::size_t cap = std::max<std::size_t>(1, rule_.max_clients >> shard_bits_);
    shard.make_room(now, rule_, cap);
    it = shard.entries.try_emplace(key).first;
  }
  Entry& e = it->second;
  if (e.fetch_id == 0 && e.last_used != kNever && now - e.last_used > rule_.idle_ns) {
    e = Entry{};  // a lease this old is dropped, as if evicted
  }
  e.last_used = std::max(e.last_used, now);
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
    if (e.tokens <= rule_.low_water && e.fetch_id == 0 && may_fetch && now >= e.denied_until) {
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

}  // namespace ringproxy
