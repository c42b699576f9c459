// The request path's backend selection without sockets: walk, admission, leases, budget.
#include "runtime/upstream_selector.hpp"

#include <gtest/gtest.h>

#include "policy/hash_ring.hpp"
#include "runtime/bounded_load_picker.hpp"

namespace ringproxy {
namespace {

using Clock = std::chrono::steady_clock;

struct Fixture {
  std::vector<std::shared_ptr<BackendState>> backends;
  std::vector<PickerBackend> identities;

  explicit Fixture(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      auto b = std::make_shared<BackendState>();
      b->key = "10.0.0." + std::to_string(i + 1) + ":80";
      b->slot = static_cast<std::uint32_t>(i);
      identities.push_back({b->key, 1});
      backends.push_back(std::move(b));
    }
  }
  UpstreamSelector selector(SelectorSettings settings, double bounded = 0,
                            RetryBudget::Options budget = {}) {
    std::unique_ptr<BackendPicker> picker = std::make_unique<HashRingPicker>(identities);
    if (bounded > 0)
      picker = std::make_unique<BoundedLoadPicker>(std::move(picker), backends, bounded);
    return UpstreamSelector(backends, std::move(picker), std::make_unique<RetryBudget>(budget),
                            settings);
  }
  std::size_t index_of(const BackendState* b) const {
    for (std::size_t i = 0; i < backends.size(); ++i)
      if (backends[i].get() == b) return i;
    return backends.size();
  }
};

constexpr std::uint64_t kKey = 0x1234567890abcdefULL;

TEST(Selection, FirstAttemptIsTheKeysHomeAndRetriesWalkOnToDistinctBackends) {
  Fixture f(4);
  const UpstreamSelector sel = f.selector({false, false, false, 3});
  const std::size_t home = *sel.picker().pick(
      kKey, [](std::size_t) { return true; }, 4);
  Selection s(sel, kKey, 0, Clock::now(), 0);
  std::vector<std::size_t> met;
  while (BackendState* b = s.next(false)) met.push_back(f.index_of(b));
  ASSERT_EQ(met.size(), 4u);  // retries = 3: four attempts, each a different backend
  EXPECT_EQ(met[0], home);
  std::sort(met.begin(), met.end());
  EXPECT_EQ(std::unique(met.begin(), met.end()), met.end());
}

TEST(Selection, AttemptsStopAtRetriesPlusOne) {
  Fixture f(4);
  const UpstreamSelector sel = f.selector({false, false, false, 1});
  Selection s(sel, kKey, 0, Clock::now(), 0);
  EXPECT_NE(s.next(false), nullptr);
  EXPECT_NE(s.next(false), nullptr);
  EXPECT_EQ(s.next(false), nullptr);
}

TEST(Selection, UnhealthyHomeIsPassedByOnlyWhenChecksAreOn) {
  Fixture f(3);
  const UpstreamSelector checked = f.selector({true, false, false, 0});
  Selection first(checked, kKey, 0, Clock::now(), 0);
  BackendState* home = first.next(false);
  ASSERT_NE(home, nullptr);
  home->healthy = false;
  Selection again(checked, kKey, 0, Clock::now(), 0);
  BackendState* moved = again.next(false);
  ASSERT_NE(moved, nullptr);
  EXPECT_NE(moved, home);
  const UpstreamSelector unchecked = f.selector({false, false, false, 0});
  Selection plain(unchecked, kKey, 0, Clock::now(), 0);
  EXPECT_EQ(plain.next(false), home);
}

TEST(Selection, ResendSpendsTheRetryBudgetAndStopsWhenItIsGone) {
  Fixture f(3);
  RetryBudget::Options none;
  none.ratio = 0;
  none.min_per_second = 0;
  const UpstreamSelector sel = f.selector({false, false, false, 2}, 0, none);
  Selection s(sel, kKey, 0, Clock::now(), 0);
  ASSERT_NE(s.next(true), nullptr);   // the first attempt is no retry: free
  EXPECT_NE(s.next(false), nullptr);  // after a refused connect: free
  EXPECT_EQ(s.next(true), nullptr);   // a resend with no budget left: refused
}

TEST(Selection, LeaseHoldsTheConcurrencySlotUntilTheNextAttempt) {
  Fixture f(2);
  for (auto& b : f.backends) {
    b->breaker.configure(BreakerSettings::with_default_cap(5, std::chrono::seconds(1), 1));
    b->concurrency.configure(1);
  }
  const UpstreamSelector sel = f.selector({false, true, false, 1});
  Selection a(sel, kKey, 0, Clock::now(), 0);
  BackendState* first = a.next(false);
  ASSERT_NE(first, nullptr);
  Selection b(sel, kKey, 0, Clock::now(), 0);
  BackendState* second = b.next(false);
  ASSERT_NE(second, nullptr);
  EXPECT_NE(second, first);  // the home's one slot is a's
  Selection c(sel, kKey, 0, Clock::now(), 0);
  EXPECT_EQ(c.next(false), nullptr);  // both slots taken
  a.lease().reset();
  Selection d(sel, kKey, 0, Clock::now(), 0);
  EXPECT_EQ(d.next(false), first);
}

TEST(Selection, FailuresSettledThroughTheLeaseOpenTheBreaker) {
  Fixture f(2);
  for (auto& b : f.backends)
    b->breaker.configure(BreakerSettings::with_default_cap(2, std::chrono::seconds(10), 1));
  const UpstreamSelector sel = f.selector({false, true, false, 0});
  const auto now = Clock::now();
  BackendState* home = nullptr;
  for (int i = 0; i < 2; ++i) {
    Selection s(sel, kKey, 0, now, 0);
    home = s.next(false);
    ASSERT_NE(home, nullptr);
    EXPECT_EQ(s.lease().failure(now), i == 1);  // the second failure opens it
  }
  EXPECT_EQ(home->breaker.state(now), BreakerState::open);
  EXPECT_EQ(sel.retry_after_seconds(now), 10);
  Selection after(sel, kKey, 0, now, 0);
  BackendState* other = after.next(false);
  ASSERT_NE(other, nullptr);
  EXPECT_NE(other, home);
}

TEST(UpstreamSelector, RetryAfterIsTheEarliestOpenBreakersAndAtLeastOne) {
  Fixture f(3);
  const auto now = Clock::now();
  f.backends[0]->breaker.configure(
      BreakerSettings::with_default_cap(1, std::chrono::seconds(30), 1));
  f.backends[1]->breaker.configure(
      BreakerSettings::with_default_cap(1, std::chrono::seconds(7), 1));
  f.backends[2]->breaker.configure(
      BreakerSettings::with_default_cap(1, std::chrono::seconds(12), 1));
  const UpstreamSelector sel = f.selector({false, true, false, 0});
  EXPECT_EQ(sel.retry_after_seconds(now), 1);  // none open: at least 1
  for (std::size_t i : {0u, 1u, 2u}) {
    BackendLease lease;
    ASSERT_TRUE(lease.acquire(*f.backends[i], true, false, now));
    EXPECT_TRUE(lease.failure(now));
  }
  EXPECT_EQ(sel.retry_after_seconds(now), 7);
  EXPECT_EQ(sel.retry_after_seconds(now + std::chrono::seconds(3)), 4);
}

TEST(BoundedLoadPicker, HomeOverItsShareIsPassedByAndLeasesCountInFlight) {
  Fixture f(4);
  const UpstreamSelector sel = f.selector({false, false, true, 0}, 1.25);
  Selection first(sel, kKey, 0, Clock::now(), 0);
  BackendState* home = first.next(false);
  ASSERT_NE(home, nullptr);
  EXPECT_EQ(home->in_flight.load(), 1);  // counted while the lease lives
  // Capacity with 1 in flight over 4 backends at c = 1.25: ceil(1.25 * 2 / 4) = 1 each.
  Selection second(sel, kKey, 0, Clock::now(), 0);
  BackendState* next = second.next(false);
  ASSERT_NE(next, nullptr);
  EXPECT_NE(next, home);
  second.lease().reset();
  first.lease().reset();
  EXPECT_EQ(home->in_flight.load(), 0);
  Selection third(sel, kKey, 0, Clock::now(), 0);
  EXPECT_EQ(third.next(false), home);  // back under its share: the key goes home again
}

TEST(RoundRobinPicker, WalksFromTheSequenceNotTheKey) {
  RoundRobinPicker rr({1, 1, 1});
  UniqueWalk a(rr, 999, 0, 3), b(rr, 5, 1, 3);
  EXPECT_EQ(a.next([](std::size_t) { return true; }), 0u);
  EXPECT_EQ(b.next([](std::size_t) { return true; }), 1u);
}

}  // namespace
}  // namespace ringproxy
