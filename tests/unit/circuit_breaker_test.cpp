// Tests for CircuitBreaker and ConcurrencyLimit with a fake clock (time points made by hand).
#include "policy/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace ringproxy {
namespace {

using namespace std::chrono_literals;
using TimePoint = CircuitBreaker::TimePoint;

const TimePoint kT0 = TimePoint{} + 1000s;  // an arbitrary start

BreakerSettings settings(std::uint32_t failure_threshold, std::chrono::nanoseconds open_duration,
                         std::uint32_t half_open_requests) {
  return BreakerSettings::with_default_cap(failure_threshold, open_duration, half_open_requests);
}

// Fails `n` requests in a row at now.
void fail(CircuitBreaker& b, int n, TimePoint now) {
  for (int i = 0; i < n; ++i) {
    BreakerPermit p = b.try_acquire(now);
    ASSERT_TRUE(p);
    b.on_failure(p, now);
  }
}

TEST(BreakerBasics, NamesAndMetricValues) {
  EXPECT_EQ(to_string(BreakerState::closed), "closed");
  EXPECT_EQ(to_string(BreakerState::half_open), "half_open");
  EXPECT_EQ(to_string(BreakerState::open), "open");
  EXPECT_EQ(static_cast<int>(BreakerState::closed), 0);  // circuit_breaker_state values
  EXPECT_EQ(static_cast<int>(BreakerState::half_open), 1);
  EXPECT_EQ(static_cast<int>(BreakerState::open), 2);
  EXPECT_FALSE(BreakerPermit{});
}

TEST(BreakerBasics, DefaultCap) {
  EXPECT_EQ(breaker_backoff_cap(10s), 160s);  // 16 x
  EXPECT_EQ(breaker_backoff_cap(1s), 16s);
  EXPECT_EQ(breaker_backoff_cap(1ms), 16ms);
  EXPECT_EQ(breaker_backoff_cap(30s), 5min);     // 5 minutes at most...
  EXPECT_EQ(breaker_backoff_cap(10min), 10min);  // ...unless open_duration itself is longer
  EXPECT_EQ(breaker_backoff_cap(std::chrono::nanoseconds::max()), std::chrono::nanoseconds::max());
  EXPECT_EQ(BreakerSettings{}, settings(5, 10s, 1));
  EXPECT_EQ(BreakerSettings{}.max_open_duration, 160s);
}

TEST(BreakerBasics, SettingsAreNormalised) {
  CircuitBreaker b(BreakerSettings{0, 0ns, 0, 0ns});
  BreakerSettings s = b.settings();
  EXPECT_EQ(s.failure_threshold, 1u);
  EXPECT_EQ(s.half_open_requests, 1u);
  EXPECT_EQ(s.open_duration, 1ns);
  EXPECT_EQ(s.max_open_duration, 1ns);
  b.configure(BreakerSettings{5'000'000, 5s, 5'000'000, 1s});
  s = b.settings();
  EXPECT_EQ(s.failure_threshold, CircuitBreaker::kMaxCount);
  EXPECT_EQ(s.half_open_requests, CircuitBreaker::kMaxCount);
  EXPECT_EQ(s.max_open_duration, 5s);  // never below open_duration
}

TEST(Breaker, StartsClosedAndAdmits) {
  CircuitBreaker b(settings(3, 10s, 1));
  EXPECT_EQ(b.state(kT0), BreakerState::closed);
  EXPECT_TRUE(b.available(kT0));
  BreakerPermit p = b.try_acquire(kT0);
  ASSERT_TRUE(p);
  EXPECT_EQ(p.kind(), BreakerPermit::Kind::normal);
  EXPECT_FALSE(p.trial());
  b.on_success(p);
  EXPECT_EQ(b.consecutive_failures(), 0u);
  EXPECT_EQ(b.trips(), 0u);
  EXPECT_EQ(b.open_remaining(kT0), 0ns);
  EXPECT_EQ(b.retry_after_seconds(kT0), 1);
}

TEST(Breaker, OpensAfterExactlyFailureThresholdConsecutiveFailures) {
  CircuitBreaker b(settings(3, 10s, 1));
  fail(b, 2, kT0);
  EXPECT_EQ(b.state(kT0), BreakerState::closed);
  EXPECT_EQ(b.consecutive_failures(), 2u);
  fail(b, 1, kT0);
  EXPECT_EQ(b.state(kT0), BreakerState::open);
  EXPECT_EQ(b.trips(), 1u);
  EXPECT_EQ(b.consecutive_failures(), 0u);
  EXPECT_FALSE(b.available(kT0));
  EXPECT_FALSE(b.try_acquire(kT0));
  EXPECT_FALSE(b.try_acquire(kT0 + 10s - 1ns));
  EXPECT_EQ(b.state(kT0 + 10s - 1ns), BreakerState::open);
  EXPECT_EQ(b.open_remaining(kT0 + 4s), 6s);
}

TEST(Breaker, ASuccessResetsTheFailureCount) {
  CircuitBreaker b(settings(3, 10s, 1));
  fail(b, 2, kT0);
  b.on_success(b.try_acquire(kT0));
  EXPECT_EQ(b.consecutive_failures(), 0u);
  fail(b, 2, kT0);
  EXPECT_EQ(b.state(kT0), BreakerState::closed);
  fail(b, 1, kT0);
  EXPECT_EQ(b.state(kT0), BreakerState::open);
}

TEST(Breaker, ThresholdOfOneOpensOnTheFirstFailure) {
  CircuitBreaker b(settings(1, 1s, 1));
  fail(b, 1, kT0);
  EXPECT_EQ(b.state(kT0), BreakerState::open);
}

TEST(Breaker, HalfOpensAfterOpenDurationAndAdmitsOneTrial) {
  CircuitBreaker b(settings(1, 10s, 1));
  fail(b, 1, kT0);
  const TimePoint t = kT0 + 10s;
  EXPECT_EQ(b.state(t), BreakerState::half_open);  // by time, before anyone asks
  EXPECT_TRUE(b.available(t));
  EXPECT_EQ(b.trials_in_flight(), 0u);
  BreakerPermit trial = b.try_acquire(t);
  ASSERT_TRUE(trial);
  EXPECT_TRUE(trial.trial());
  EXPECT_EQ(b.state(t), BreakerState::half_open);
  EXPECT_EQ(b.trials_in_flight(), 1u);
  EXPECT_FALSE(b.available(t));
  EXPECT_FALSE(b.try_acquire(t));  // the one trial is taken
  EXPECT_FALSE(b.try_acquire(t + 1h));
  EXPECT_EQ(b.retry_after_seconds(t), 1);
}

TEST(Breaker, TrialSuccessClosesIt) {
  CircuitBreaker b(settings(2, 10s, 1));
  fail(b, 2, kT0);
  BreakerPermit trial = b.try_acquire(kT0 + 10s);
  ASSERT_TRUE(trial.trial());
  b.on_success(trial);
  EXPECT_EQ(b.state(kT0 + 10s), BreakerState::closed);
  EXPECT_EQ(b.trips(), 0u);
  EXPECT_EQ(b.trials_in_flight(), 0u);
  BreakerPermit p = b.try_acquire(kT0 + 10s);
  EXPECT_EQ(p.kind(), BreakerPermit::Kind::normal);
  // Closed again, with a fresh count: it takes failure_threshold failures to open.
  fail(b, 1, kT0 + 11s);
  EXPECT_EQ(b.state(kT0 + 11s), BreakerState::closed);
  fail(b, 1, kT0 + 11s);
  EXPECT_EQ(b.state(kT0 + 11s), BreakerState::open);
  EXPECT_EQ(b.open_remaining(kT0 + 11s), 10s);  // backoff was reset
}

TEST(Breaker, TrialFailureReopensWithDoubledTimeUpToTheCap) {
  CircuitBreaker b(settings(1, 10s, 1));
  TimePoint t = kT0;
  fail(b, 1, t);
  const std::chrono::seconds expected[] = {10s, 20s, 40s, 80s, 160s, 160s, 160s};
  for (std::size_t i = 0; i < std::size(expected); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(b.trips(), i + 1);
    EXPECT_EQ(b.open_time(static_cast<std::uint32_t>(i + 1)), expected[i]);
    EXPECT_EQ(b.open_remaining(t), expected[i]);
    EXPECT_EQ(b.state(t + expected[i] - 1ns), BreakerState::open);
    EXPECT_FALSE(b.try_acquire(t + expected[i] - 1ns));
    t += expected[i];
    BreakerPermit trial = b.try_acquire(t);
    ASSERT_TRUE(trial.trial());
    t += 5ms;  // the trial takes a while, and the next open time counts from its failure
    b.on_failure(trial, t);
    EXPECT_EQ(b.state(t), BreakerState::open);
  }
}

TEST(Breaker, BackoffResetsAfterASuccessClosesIt) {
  CircuitBreaker b(settings(1, 1s, 1));
  TimePoint t = kT0;
  fail(b, 1, t);
  for (int i = 0; i < 3; ++i) {  // trips 2, 3, 4: open 2s, 4s, 8s
    t += 1h;
    b.on_failure(b.try_acquire(t), t);
  }
  EXPECT_EQ(b.trips(), 4u);
  EXPECT_EQ(b.open_remaining(t), 8s);
  t += 1h;
  b.on_success(b.try_acquire(t));
  EXPECT_EQ(b.state(t), BreakerState::closed);
  EXPECT_EQ(b.trips(), 0u);
  fail(b, 1, t);
  EXPECT_EQ(b.trips(), 1u);
  EXPECT_EQ(b.open_remaining(t), 1s);
}

TEST(Breaker, TripsSaturate) {
  CircuitBreaker b(settings(1, 1ms, 1));
  TimePoint t = kT0;
  fail(b, 1, t);
  for (int i = 0; i < 100; ++i) {
    t += 1h;
    b.on_failure(b.try_acquire(t), t);
  }
  EXPECT_EQ(b.trips(), CircuitBreaker::kMaxTrips);
  EXPECT_EQ(b.open_remaining(t), 16ms);
  EXPECT_EQ(b.open_time(1000), 16ms);
}

TEST(Breaker, ExactlyHalfOpenRequestsTrialsAreAdmitted) {
  CircuitBreaker b(settings(1, 10s, 3));
  fail(b, 1, kT0);
  const TimePoint t = kT0 + 10s;
  std::vector<BreakerPermit> trials;
  for (int i = 0; i < 10; ++i) {
    if (BreakerPermit p = b.try_acquire(t)) trials.push_back(p);
  }
  ASSERT_EQ(trials.size(), 3u);
  for (const auto& p : trials) EXPECT_TRUE(p.trial());
  EXPECT_EQ(b.trials_in_flight(), 3u);
  b.release(trials[0]);  // never sent: its slot comes back
  EXPECT_EQ(b.trials_in_flight(), 2u);
  EXPECT_TRUE(b.available(t));
  BreakerPermit again = b.try_acquire(t);
  ASSERT_TRUE(again.trial());
  EXPECT_FALSE(b.try_acquire(t));
  b.on_success(trials[1]);  // one success closes it
  EXPECT_EQ(b.state(t), BreakerState::closed);
  // The other trials' reports are from before the close, so they are ignored.
  b.on_failure(trials[2], t);
  b.on_failure(again, t);
  EXPECT_EQ(b.state(t), BreakerState::closed);
  EXPECT_EQ(b.consecutive_failures(), 0u);
}

TEST(Breaker, ATrialFailureIgnoresTheOtherTrialsLateSuccess) {
  CircuitBreaker b(settings(1, 10s, 2));
  fail(b, 1, kT0);
  const TimePoint t = kT0 + 10s;
  BreakerPermit first = b.try_acquire(t);
  BreakerPermit second = b.try_acquire(t);
  ASSERT_TRUE(first.trial());
  ASSERT_TRUE(second.trial());
  b.on_failure(first, t);
  EXPECT_EQ(b.state(t), BreakerState::open);
  EXPECT_EQ(b.trips(), 2u);
  b.on_success(second);  // late: must not close the reopened breaker
  b.release(second);
  EXPECT_EQ(b.state(t + 1s), BreakerState::open);
  EXPECT_EQ(b.open_remaining(t), 20s);
}

TEST(Breaker, ReportsFromBeforeTheLastStateChangeAreIgnored) {
  CircuitBreaker b(settings(2, 10s, 1));
  BreakerPermit slow = b.try_acquire(kT0);  // admitted while closed, answers much later
  ASSERT_EQ(slow.kind(), BreakerPermit::Kind::normal);
  fail(b, 2, kT0);
  ASSERT_EQ(b.state(kT0), BreakerState::open);
  b.on_success(slow);  // no effect on an open breaker
  EXPECT_EQ(b.state(kT0), BreakerState::open);
  BreakerPermit trial = b.try_acquire(kT0 + 10s);
  ASSERT_TRUE(trial.trial());
  b.on_success(slow);  // nor on a half-open one: only a trial can close it
  b.on_failure(slow, kT0 + 10s);
  EXPECT_EQ(b.state(kT0 + 10s), BreakerState::half_open);
  EXPECT_EQ(b.trials_in_flight(), 1u);
  b.on_success(trial);
  ASSERT_EQ(b.state(kT0 + 10s), BreakerState::closed);
  b.on_failure(slow, kT0 + 10s);  // nor on the closed breaker of a later epoch
  EXPECT_EQ(b.consecutive_failures(), 0u);
}

TEST(Breaker, ReleaseOnlyReturnsCurrentTrialSlots) {
  CircuitBreaker b(settings(1, 10s, 1));
  BreakerPermit normal = b.try_acquire(kT0);
  b.release(normal);  // allowed, no effect
  EXPECT_EQ(b.state(kT0), BreakerState::closed);
  fail(b, 1, kT0);
  BreakerPermit trial = b.try_acquire(kT0 + 10s);
  b.release(trial);
  EXPECT_EQ(b.trials_in_flight(), 0u);
  b.release(trial);  // twice: still no underflow
  EXPECT_EQ(b.trials_in_flight(), 0u);
  BreakerPermit next = b.try_acquire(kT0 + 10s);
  ASSERT_TRUE(next.trial());
  EXPECT_FALSE(b.try_acquire(kT0 + 10s));
  b.release(BreakerPermit{});  // a refused permit: no effect
  b.on_success(BreakerPermit{});
  b.on_failure(BreakerPermit{}, kT0);
  EXPECT_EQ(b.trials_in_flight(), 1u);
}

TEST(Breaker, RetryAfterIsRoundedUpToWholeSecondsAndAtLeastOne) {
  CircuitBreaker b(settings(1, 10s, 1));
  fail(b, 1, kT0);
  EXPECT_EQ(b.retry_after_seconds(kT0), 10);
  EXPECT_EQ(b.retry_after_seconds(kT0 + 1ns), 10);
  EXPECT_EQ(b.retry_after_seconds(kT0 + 500ms), 10);
  EXPECT_EQ(b.retry_after_seconds(kT0 + 1s), 9);
  EXPECT_EQ(b.retry_after_seconds(kT0 + 8999ms), 2);
  EXPECT_EQ(b.retry_after_seconds(kT0 + 9s), 1);
  EXPECT_EQ(b.retry_after_seconds(kT0 + 9999ms), 1);
  EXPECT_EQ(b.retry_after_seconds(kT0 + 10s), 1);  // due now: still at least 1
  EXPECT_EQ(b.retry_after_seconds(kT0 + 1h), 1);

  CircuitBreaker short_open(settings(1, 1500ms, 1));
  fail(short_open, 1, kT0);
  EXPECT_EQ(short_open.retry_after_seconds(kT0), 2);
  EXPECT_EQ(short_open.retry_after_seconds(kT0 + 600ms), 1);
}

TEST(Breaker, ConfigureKeepsTheState) {
  CircuitBreaker b(settings(2, 10s, 1));
  fail(b, 1, kT0);
  b.configure(settings(1, 1s, 2));  // a reload lowers the threshold
  EXPECT_EQ(b.consecutive_failures(), 1u);
  fail(b, 1, kT0);
  EXPECT_EQ(b.state(kT0), BreakerState::open);
  EXPECT_EQ(b.open_remaining(kT0), 1s);
  b.configure(settings(1, 1s, 1));
  EXPECT_EQ(b.open_remaining(kT0), 1s);  // the current trip keeps its time
  BreakerPermit trial = b.try_acquire(kT0 + 1s);
  ASSERT_TRUE(trial.trial());
  EXPECT_FALSE(b.try_acquire(kT0 + 1s));
}

TEST(Breaker, TimeGoingBackwardsDoesNotHalfOpen) {
  CircuitBreaker b(settings(1, 10s, 1));
  fail(b, 1, kT0);
  EXPECT_FALSE(b.try_acquire(kT0 - 1h));
  EXPECT_EQ(b.state(kT0 - 1h), BreakerState::open);
  EXPECT_EQ(b.open_remaining(kT0 - 1s), 11s);
}

TEST(Breaker, HugeOpenTimesSaturate) {
  CircuitBreaker b(
      BreakerSettings{1, std::chrono::nanoseconds::max(), 1, std::chrono::nanoseconds::max()});
  fail(b, 1, kT0);
  EXPECT_EQ(b.state(TimePoint::max()), BreakerState::half_open);
  EXPECT_EQ(b.state(kT0 + 1000h), BreakerState::open);
}

// Two threads race for the trial slots of a half-open breaker, over many rounds (the first
// acquirer of each round also races the others to turn it half-open): exactly
// half_open_requests are admitted each time.
TEST(BreakerStress, TrialSlotsNeverExceedTheLimit) {
  constexpr int kRounds = 2000;
  constexpr std::uint32_t kTrials = 3;
  CircuitBreaker b(settings(1, 1ms, kTrials));
  fail(b, 1, kT0);
  std::atomic<int> admitted{0};
  std::atomic<int> round_time{0};
  std::vector<BreakerPermit> permits[2];
  std::barrier sync(2);
  auto worker = [&](int id) {
    for (int r = 0; r < kRounds; ++r) {
      sync.arrive_and_wait();
      TimePoint t = kT0 + std::chrono::seconds(round_time.load() + 1);
      for (int i = 0; i < 8; ++i) {
        if (BreakerPermit p = b.try_acquire(t)) {
          permits[id].push_back(p);
          admitted.fetch_add(1);
        }
      }
      sync.arrive_and_wait();
      if (id == 0) {
        EXPECT_EQ(admitted.load(), static_cast<int>(kTrials)) << "round " << r;
        EXPECT_EQ(b.trials_in_flight(), kTrials);
        for (const auto& list : permits) {
          for (const auto& p : list) EXPECT_TRUE(p.trial());
        }
        // Reopen with one trial's failure (the others' reports are then stale).
        auto& list = permits[0].empty() ? permits[1] : permits[0];
        if (!list.empty()) b.on_failure(list.front(), t);
        EXPECT_EQ(b.state(t), BreakerState::open);
        for (auto& l : permits) l.clear();
        admitted.store(0);
        round_time.fetch_add(1);
      }
    }
  };
  std::thread other(worker, 1);
  worker(0);
  other.join();
}

// Two threads drive one breaker through every transition at random; the counts stay within their
// limits throughout, and once every permit is settled no trial slot is left taken.
TEST(BreakerStress, StateMachineStaysConsistent) {
  constexpr int kIterations = 200000;
  constexpr std::uint32_t kThreshold = 3;
  constexpr std::uint32_t kTrials = 2;
  CircuitBreaker b(settings(kThreshold, 50us, kTrials));
  std::atomic<std::int64_t> clock_us{0};
  std::atomic<bool> bad{false};
  auto worker = [&](std::uint64_t seed) {
    std::uint64_t x = seed;
    auto next = [&] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    std::vector<BreakerPermit> held;
    for (int i = 0; i < kIterations; ++i) {
      TimePoint now = kT0 + std::chrono::microseconds(clock_us.fetch_add(1));
      if (held.size() < 4 && next() % 2 == 0) {
        if (BreakerPermit p = b.try_acquire(now)) held.push_back(p);
      } else if (!held.empty()) {
        BreakerPermit p = held.back();
        held.pop_back();
        switch (next() % 4) {
          case 0:
            b.on_success(p);
            break;
          case 1:
          case 2:
            b.on_failure(p, now);
            break;
          default:
            b.release(p);
            break;
        }
      }
      if (b.trials_in_flight() > kTrials || b.consecutive_failures() >= kThreshold ||
          b.trips() > CircuitBreaker::kMaxTrips) {
        bad.store(true);
      }
    }
    for (const auto& p : held) b.release(p);
  };
  std::thread other(worker, 0x2545f4914f6cdd1dull);
  worker(0x9e3779b97f4a7c15ull);
  other.join();
  EXPECT_FALSE(bad.load());
  EXPECT_EQ(b.trials_in_flight(), 0u);
  TimePoint end = kT0 + std::chrono::microseconds(clock_us.load()) + 1h;
  // Whatever state it ended in, it still works: a trial (or a normal request) goes through and
  // a success closes it.
  BreakerPermit p = b.try_acquire(end);
  ASSERT_TRUE(p);
  b.on_success(p);
  EXPECT_EQ(b.state(end), BreakerState::closed);
}

TEST(ConcurrencyLimit, CapsInFlight) {
  ConcurrencyLimit limit(2);
  EXPECT_TRUE(limit.available());
  EXPECT_TRUE(limit.try_enter());
  EXPECT_TRUE(limit.try_enter());
  EXPECT_FALSE(limit.available());
  EXPECT_FALSE(limit.try_enter());
  EXPECT_EQ(limit.in_flight(), 2u);
  limit.leave();
  EXPECT_TRUE(limit.try_enter());
  limit.configure(0);  // no limit: always enters, still counts
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(limit.try_enter());
  EXPECT_EQ(limit.in_flight(), 102u);
  limit.configure(1);
  EXPECT_FALSE(limit.try_enter());
  for (int i = 0; i < 102; ++i) limit.leave();
  EXPECT_EQ(limit.in_flight(), 0u);
  EXPECT_TRUE(limit.try_enter());
  EXPECT_EQ(limit.max(), 1u);
}

TEST(ConcurrencyLimit, NeverExceedsTheCapUnderContention) {
  constexpr std::uint32_t kMax = 3;
  ConcurrencyLimit limit(kMax);
  std::atomic<std::uint32_t> inside{0};
  std::atomic<bool> over{false};
  auto worker = [&] {
    for (int i = 0; i < 200000; ++i) {
      if (!limit.try_enter()) continue;
      if (inside.fetch_add(1) + 1 > kMax) over.store(true);
      inside.fetch_sub(1);
      limit.leave();
    }
  };
  std::thread other(worker);
  worker();
  other.join();
  EXPECT_FALSE(over.load());
  EXPECT_EQ(limit.in_flight(), 0u);
}

}  // namespace
}  // namespace ringproxy
