// Tests for LeaseBook (a global limit's leases on this instance) with a fake clock, and for the
// shared bucket's keys and the RateLimit view of a lease.
#include "policy/lease_book.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "policy/global_bucket.hpp"

namespace ringproxy {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kSec = 1000 * kMs;
constexpr std::int64_t kT0 = 1000 * kSec;

// A waiter that counts its wakes.
struct CountingWaiter final : LeaseWaiter {
  std::atomic<int> woken{0};
  void wake() override { ++woken; }
};

LeaseRule rule_of(double lease, std::uint64_t burst) {
  return LeaseRule::make(lease, burst, 2 * kSec, 1000);
}

TEST(LeaseBook, LeaseIsAShareOfBurstAndAtLeastOneToken) {
  EXPECT_EQ(rule_of(0.1, 50).lease_tokens, 5u);
  EXPECT_EQ(rule_of(0.1, 50).low_water, 2u);
  EXPECT_EQ(rule_of(0.1, 5).lease_tokens, 1u);
  EXPECT_EQ(rule_of(0.1, 5).low_water, 0u);
  EXPECT_EQ(rule_of(1.0, 200).lease_tokens, 200u);
  EXPECT_EQ(LeaseRule::make(0.5, 10, 10, 5).idle_ns, kSec);  // at least a second
}

TEST(LeaseBook, NewClientWaitsForItsFirstLeaseWhichOnlyOneFetchAsksFor) {
  LeaseBook book(rule_of(0.1, 50));
  LeaseTake first = book.take(7, kT0, true);
  EXPECT_EQ(first.verdict, LeaseVerdict::wait);
  ASSERT_TRUE(first.fetch);
  EXPECT_EQ(first.want, 5u);
  // A second request meanwhile waits on the same fetch.
  LeaseTake second = book.take(7, kT0 + kMs, true);
  EXPECT_EQ(second.verdict, LeaseVerdict::wait);
  EXPECT_FALSE(second.fetch);
  auto waiter = std::make_shared<CountingWaiter>();
  ASSERT_TRUE(book.add_waiter(7, waiter));

  LeaseWaiters woken = book.granted(7, first.fetch_id, 5, 45, 0ns, kT0 + 2 * kMs);
  ASSERT_EQ(woken.size(), 1u);
  EXPECT_EQ(woken[0], waiter);
  EXPECT_EQ(book.tokens(7), 5u);
  // The fetch is over: nobody can wait on it any more.
  EXPECT_FALSE(book.add_waiter(7, waiter));
}

TEST(LeaseBook, TokensAreSpentLocallyAndTheNextLeaseIsAskedForBeforeTheyRunOut) {
  LeaseBook book(rule_of(0.1, 50));
  LeaseTake t = book.take(1, kT0, true);
  book.granted(1, t.fetch_id, 5, 45, 0ns, kT0);
  // 5 tokens, low water 2: the third take leaves 2 and asks for the next lease.
  for (int i = 0; i < 2; ++i) {
    t = book.take(1, kT0, true);
    EXPECT_EQ(t.verdict, LeaseVerdict::allow);
    EXPECT_FALSE(t.fetch) << i;
  }
  t = book.take(1, kT0, true);
  EXPECT_EQ(t.verdict, LeaseVerdict::allow);
  EXPECT_EQ(t.remaining, 2u + 45u);
  ASSERT_TRUE(t.fetch);
  const std::uint64_t prefetch = t.fetch_id;
  // While it is in flight the rest of the lease is spent without another fetch.
  for (int i = 0; i < 2; ++i) {
    t = book.take(1, kT0, true);
    EXPECT_EQ(t.verdict, LeaseVerdict::allow);
    EXPECT_FALSE(t.fetch);
  }
  EXPECT_EQ(book.take(1, kT0, true).verdict, LeaseVerdict::wait);
  book.granted(1, prefetch, 5, 40, 0ns, kT0);
  EXPECT_EQ(book.take(1, kT0, true).verdict, LeaseVerdict::allow);
}

TEST(LeaseBook, AnEmptySharedBucketRefusesLocallyUntilItsRetryTime) {
  LeaseBook book(rule_of(0.1, 50));
  LeaseTake t = book.take(3, kT0, true);
  book.granted(3, t.fetch_id, 0, 0, 100ms, kT0);
  for (std::int64_t at : {kT0, kT0 + 50 * kMs, kT0 + 99 * kMs}) {
    t = book.take(3, at, true);
    EXPECT_EQ(t.verdict, LeaseVerdict::deny);
    EXPECT_FALSE(t.fetch);  // Redis is not asked while refused
    EXPECT_EQ(t.retry_after.count(), kT0 + 100 * kMs - at);
  }
  t = book.take(3, kT0 + 100 * kMs, true);
  EXPECT_EQ(t.verdict, LeaseVerdict::wait);
  EXPECT_TRUE(t.fetch);
}

TEST(LeaseBook, WithRedisUnreachableAnEmptyLeaseFallsBackButLeasedTokensStillCount) {
  LeaseBook book(rule_of(0.1, 50));
  EXPECT_EQ(book.take(4, kT0, false).verdict, LeaseVerdict::fallback);
  LeaseTake t = book.take(4, kT0, true);
  book.granted(4, t.fetch_id, 5, 0, 0ns, kT0);
  for (int i = 0; i < 5; ++i) {
    t = book.take(4, kT0, false);
    EXPECT_EQ(t.verdict, LeaseVerdict::allow) << i;
    EXPECT_FALSE(t.fetch);
  }
  EXPECT_EQ(book.take(4, kT0, false).verdict, LeaseVerdict::fallback);
}

TEST(LeaseBook, AFailedFetchWakesItsWaitersAndRedisIsLeftAloneForRetryNs) {
  LeaseBook book(rule_of(0.1, 50));
  LeaseTake t = book.take(5, kT0, true);
  auto waiter = std::make_shared<CountingWaiter>();
  ASSERT_TRUE(book.add_waiter(5, waiter));
  EXPECT_EQ(book.failed(5, t.fetch_id, kT0).size(), 1u);
  const std::int64_t retry = book.rule().retry_ns;
  EXPECT_EQ(book.take(5, kT0 + retry - 1, true).verdict, LeaseVerdict::fallback);
  t = book.take(5, kT0 + retry, true);
  EXPECT_EQ(t.verdict, LeaseVerdict::wait);
  EXPECT_TRUE(t.fetch);
  // A failure reported for an older fetch changes nothing.
  EXPECT_TRUE(book.failed(5, t.fetch_id + 100, kT0 + retry).empty());
  EXPECT_EQ(book.take(5, kT0 + retry, true).verdict, LeaseVerdict::wait);
}

TEST(LeaseBook, AFetchNeverAnsweredIsGivenUpAfterStaleNsAndALateAnswerStillCounts) {
  LeaseBook book(rule_of(0.1, 50));
  const LeaseTake lost = book.take(6, kT0, true);
  const std::int64_t later = kT0 + book.rule().stale_ns + 1;
  const LeaseTake again = book.take(6, later, true);
  EXPECT_EQ(again.verdict, LeaseVerdict::wait);
  ASSERT_TRUE(again.fetch);
  EXPECT_NE(again.fetch_id, lost.fetch_id);
  // The lost fetch's tokens were taken from Redis for this instance: they are spent here.
  book.granted(6, lost.fetch_id, 5, 0, 0ns, later);
  EXPECT_EQ(book.tokens(6), 5u);
  EXPECT_EQ(book.take(6, later, true).verdict, LeaseVerdict::allow);
  // The newer fetch is still the one in flight.
  auto waiter = std::make_shared<CountingWaiter>();
  EXPECT_TRUE(book.add_waiter(6, waiter));
}

TEST(LeaseBook, IdleLeasesAreKeptUntilSweptAndMemoryIsBounded) {
  LeaseRule rule = rule_of(0.1, 50);
  rule.max_clients = 64;
  LeaseBook book(rule, 0);  // one shard: the bound is exact
  for (std::uint64_t k = 1; k <= 1000; ++k) {
    LeaseTake t = book.take(k, kT0, true);
    book.granted(k, t.fetch_id, 5, 0, 0ns, kT0);
    ASSERT_LE(book.size(), 64u);
  }
  // An idle lease is still this instance's, unspent: its client, back after a pause, spends it
  // without asking Redis (nor waiting for it).
  const std::int64_t later = kT0 + rule.idle_ns + 1;
  LeaseTake t = book.take(1000, later, true);
  EXPECT_EQ(t.verdict, LeaseVerdict::allow);
  EXPECT_FALSE(t.fetch);
  EXPECT_EQ(book.tokens(1000), 4u);
  // A new client needing room sweeps the idle entries out: theirs ask Redis again.
  book.take(5000, later, true);
  EXPECT_LE(book.size(), 64u);
  t = book.take(999, later, true);
  EXPECT_EQ(t.verdict, LeaseVerdict::wait);
  EXPECT_TRUE(t.fetch);
  EXPECT_EQ(book.tokens(1000), 4u);  // in use at the sweep: kept
}

TEST(LeaseBook, ConcurrentTakesNeverSpendMoreThanWasGranted) {
  LeaseBook book(rule_of(1.0, 1000));
  LeaseTake t = book.take(9, kT0, true);
  book.granted(9, t.fetch_id, 1000, 0, 0ns, kT0);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < 1000; ++n) {
        if (book.take(9, kT0, false).verdict == LeaseVerdict::allow) ++allowed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(allowed.load(), 1000);
}

// Lanes: each worker spends slices of the instance's lease without the book's lock.

LeaseRule lane_rule(std::uint64_t burst, unsigned lanes) {
  return LeaseRule::make(1.0, burst, 2 * kSec, 1000, lanes);
}

// Takes key's first lease (granted in full) through lane 0.
void lease_once(LeaseBook& book, std::uint64_t key, std::int64_t now) {
  const LeaseTake t = book.take(key, now, true, 0);
  ASSERT_EQ(t.verdict, LeaseVerdict::wait);
  ASSERT_TRUE(t.fetch);
  book.granted(key, t.fetch_id, book.rule().lease_tokens, 0, 0ns, now);
}

TEST(LeaseBookLanes, ASliceIsAnEighthOfALeaseSharedOverTheLanes) {
  EXPECT_EQ(lane_rule(1600, 1).slice_tokens, 200u);
  EXPECT_EQ(lane_rule(1600, 4).slice_tokens, 50u);
  EXPECT_EQ(lane_rule(7, 1).slice_tokens, 0u);   // too small to cut: lanes unused
  EXPECT_EQ(rule_of(0.1, 50).slice_tokens, 0u);  // no lanes asked for
  // Without lanes a lane given to take() is ignored: the book alone.
  LeaseBook book(lane_rule(7, 1));
  lease_once(book, 1, kT0);
  EXPECT_EQ(book.take(1, kT0, true, 0).verdict, LeaseVerdict::allow);
  EXPECT_EQ(book.tokens(1), 6u);
  EXPECT_EQ(book.lent(1), 0u);
}

TEST(LeaseBookLanes, ALaneSpendsItsSliceWithoutTheBookAndComesBackWhenItIsSpent) {
  LeaseBook book(lane_rule(1600, 1));  // lease 1600, slice 200, low water 800
  lease_once(book, 5, kT0);
  // The first take spends a token of the book and cuts a slice for the lane.
  LeaseTake t = book.take(5, kT0, true, 0);
  EXPECT_EQ(t.verdict, LeaseVerdict::allow);
  EXPECT_EQ(t.remaining, 1599u);
  EXPECT_EQ(book.tokens(5), 1399u);
  EXPECT_EQ(book.lent(5), 200u);
  EXPECT_EQ(book.lane_tokens(0, 5), 200u);
  // The slice is spent in the lane: the book does not change.
  for (int i = 0; i < 200; ++i) {
    t = book.take(5, kT0 + i, true, 0);
    ASSERT_EQ(t.verdict, LeaseVerdict::allow) << i;
    EXPECT_FALSE(t.fetch);
  }
  EXPECT_EQ(t.remaining, 1399u);
  EXPECT_EQ(book.tokens(5), 1399u);
  EXPECT_EQ(book.lane_tokens(0, 5), 0u);
  // Spent: the next take hands the slice back and cuts another.
  t = book.take(5, kT0 + kMs, true, 0);
  EXPECT_EQ(t.verdict, LeaseVerdict::allow);
  EXPECT_EQ(book.tokens(5), 1198u);
  EXPECT_EQ(book.lent(5), 200u);
  EXPECT_EQ(book.lane_tokens(0, 5), 200u);
}

TEST(LeaseBookLanes, TheNextLeaseIsAskedForWhenTheBookAndItsSlicesHoldLowWaterAtMost) {
  LeaseBook book(lane_rule(1600, 2));  // slice 100, low water 800
  lease_once(book, 8, kT0);
  std::uint64_t admitted = 0;
  bool fetched = false;
  for (int i = 0; i < 2000 && !fetched; ++i) {
    const LeaseTake t = book.take(8, kT0, true, static_cast<unsigned>(i % 2));
    ASSERT_EQ(t.verdict, LeaseVerdict::allow) << i;
    ++admitted;
    if (t.fetch) {
      fetched = true;
      // Asked for no later than without lanes: everything not admitted yet is at most low
      // water, counting the slices in full.
      EXPECT_LE(book.tokens(8) + book.lent(8), book.rule().low_water);
      EXPECT_EQ(book.tokens(8) + book.lane_tokens(0, 8) + book.lane_tokens(1, 8) + admitted, 1600u);
    }
  }
  EXPECT_TRUE(fetched);
}

TEST(LeaseBookLanes, ASliceIsSpentForIdleNsAfterItsCutThenGoesBackKeepingTheLeaseAlive) {
  LeaseBook book(lane_rule(1600, 2));  // idle_ns 1 s: the bucket's refill time
  const std::int64_t idle = book.rule().idle_ns;
  lease_once(book, 9, kT0);
  book.take(9, kT0, true, 0);
  book.take(9, kT0, true, 1);
  EXPECT_EQ(book.lent(9), 200u);
  EXPECT_EQ(book.tokens(9), 1398u);
  // Lane 0's client stays busy: past idle_ns its slice goes back (unspent tokens too) and a
  // new one is cut; the lease is not dropped.
  for (std::int64_t at = kT0; at <= kT0 + idle; at += idle / 4) book.take(9, at, true, 0);
  EXPECT_EQ(book.lane_tokens(0, 9), 95u);
  EXPECT_EQ(book.take(9, kT0 + idle + kMs, true, 0).verdict, LeaseVerdict::allow);
  EXPECT_EQ(book.lane_tokens(0, 9), 100u);
  EXPECT_EQ(book.tokens(9), 1398u + 94u - 100u);
  EXPECT_EQ(book.lent(9), 200u);
  // Lane 1's slice expired unspent: it goes back too, and the lease lives on.
  EXPECT_EQ(book.take(9, kT0 + idle + 2 * kMs, true, 1).verdict, LeaseVerdict::allow);
  EXPECT_EQ(book.tokens(9), 1392u + 99u - 100u);
}

TEST(LeaseBookLanes, ALeaseIdleEverywhereKeepsItsTokensButLetsItsSlicesGo) {
  LeaseBook book(lane_rule(1600, 2));
  const std::int64_t idle = book.rule().idle_ns;
  lease_once(book, 9, kT0);
  book.take(9, kT0, true, 0);
  book.take(9, kT0 + kMs, true, 1);
  EXPECT_EQ(book.tokens(9), 1398u);
  EXPECT_EQ(book.lent(9), 200u);
  // Nobody took for idle_ns after the last cut: no slice can be spent any more. Lane 0's
  // comes back with its 100 tokens; lane 1's (100, not back) is let go, which only admits less;
  // the book's tokens stay: no Redis call, no wait.
  const LeaseTake t = book.take(9, kT0 + kMs + idle + 1, true, 0);
  EXPECT_EQ(t.verdict, LeaseVerdict::allow);
  EXPECT_FALSE(t.fetch);
  EXPECT_EQ(book.tokens(9), 1398u + 100u - 1u - 100u);  // a new slice of 100 for lane 0
  EXPECT_EQ(book.lent(9), 100u);
  // Lane 1's slice is of the old epoch: it is not spent, and its return adds nothing.
  EXPECT_EQ(book.take(9, kT0 + kMs + idle + 2, true, 1).verdict, LeaseVerdict::allow);
  EXPECT_EQ(book.tokens(9), 1397u - 1u - 100u);
  EXPECT_EQ(book.lent(9), 200u);
}

TEST(LeaseBookLanes, AFullLaneHandsItsSlicesBackAndKeepsItsBound) {
  LeaseRule rule = lane_rule(1600, 1);
  rule.max_clients = 16;  // 16 slices per lane at most
  LeaseBook book(rule, 0);
  for (std::uint64_t k = 1; k <= 100; ++k) {
    lease_once(book, k, kT0);
    ASSERT_EQ(book.take(k, kT0, true, 0).verdict, LeaseVerdict::allow);
  }
  // Every entry left (the book evicts too) counts its slice out as lent, or has it back.
  std::uint64_t in_lane = 0;
  for (std::uint64_t k = 1; k <= 100; ++k) {
    const std::uint64_t slice = book.lane_tokens(0, k);
    in_lane += slice > 0 ? 1 : 0;
    if (book.tokens(k) == 0 && book.lent(k) == 0) continue;  // evicted from the book
    EXPECT_EQ(book.lent(k), slice) << k;
    EXPECT_EQ(book.tokens(k) + slice + 1, 1600u) << k;
  }
  EXPECT_LE(in_lane, 16u);
  EXPECT_GT(in_lane, 0u);
}

TEST(LeaseBookLanes, RefusalsWaitsAndFallbacksAreTheBooksOwn) {
  LeaseBook book(lane_rule(1600, 1));
  EXPECT_EQ(book.take(3, kT0, false, 0).verdict, LeaseVerdict::fallback);
  LeaseTake t = book.take(3, kT0, true, 0);
  EXPECT_EQ(t.verdict, LeaseVerdict::wait);
  EXPECT_EQ(book.take(3, kT0, true, 0).verdict, LeaseVerdict::wait);
  book.granted(3, t.fetch_id, 0, 0, 100ms, kT0);
  EXPECT_EQ(book.take(3, kT0 + kMs, true, 0).verdict, LeaseVerdict::deny);
  EXPECT_EQ(book.lane_tokens(0, 3), 0u);
}

TEST(LeaseBookLanes, LanesOnTheirOwnThreadsNeverSpendMoreThanWasGranted) {
  constexpr unsigned kLanes = 4;
  LeaseBook book(lane_rule(8000, kLanes));  // slice 250
  constexpr std::uint64_t kKey = 11;
  lease_once(book, kKey, kT0);
  std::atomic<int> allowed{0};
  std::atomic<int> granted{8000};
  std::vector<std::thread> threads;
  for (unsigned lane = 0; lane < kLanes; ++lane) {
    threads.emplace_back([&, lane] {
      for (int n = 0; n < 5000; ++n) {
        const LeaseTake t = book.take(kKey, kT0, true, lane);
        if (t.verdict == LeaseVerdict::allow) ++allowed;
        // Half of the next leases come: the lanes must share what there is.
        if (t.fetch && granted.load() < 16000) {
          granted += 4000;
          book.granted(kKey, t.fetch_id, 4000, 0, 0ns, kT0);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::uint64_t unspent = book.tokens(kKey);
  for (unsigned lane = 0; lane < kLanes; ++lane) unspent += book.lane_tokens(lane, kKey);
  EXPECT_EQ(static_cast<std::uint64_t>(allowed.load()) + unspent,
            static_cast<std::uint64_t>(granted.load()));
}

TEST(GlobalBucket, KeysCarryTheClientAsAHashTagAndKeepAddressesApartFromHeaders) {
  EXPECT_EQ(global_bucket_key("default", true, "10.0.0.1"), "ringproxy:default:{a:10.0.0.1}");
  EXPECT_EQ(global_bucket_key("route-2", false, "key-1"), "ringproxy:route-2:{h:key-1}");
  const std::string long_value(300, 'x');
  const std::string key = global_bucket_key("default", false, long_value);
  EXPECT_LT(key.size(), 80u);
  EXPECT_EQ(key, global_bucket_key("default", false, long_value));
  EXPECT_NE(key, global_bucket_key("default", false, std::string(300, 'y')));
  EXPECT_EQ(key.back(), '}');
}

TEST(GlobalBucket, ScriptArgumentsAreTheRuleInNanoseconds) {
  const LeaseScriptArgs args = LeaseScriptArgs::make(TokenBucketRule(50.0, 50), 5);
  EXPECT_EQ(args.interval_ns, "20000000");
  EXPECT_EQ(args.capacity_ns, "1000000000");
  EXPECT_EQ(args.want, "5");
}

TEST(GlobalBucket, LeaseAdmissionReportsRemainingAndReset) {
  const TokenBucketRule rule(10.0, 20);
  TakeResult r = lease_admission(rule, 15);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 15u);
  EXPECT_EQ(r.reset, 500ms);
  r = lease_admission(rule, 1000);  // clamped to burst
  EXPECT_EQ(r.remaining, 20u);
  EXPECT_EQ(r.reset, 0ns);
  r = lease_admission(rule, 0);
  EXPECT_EQ(r.retry_after, 100ms);
}

}  // namespace
}  // namespace ringproxy
