// Why a walk passes backends by: the verdicts the request path decides on, as GET /explain
// and --explain report them (UniqueWalk's observer, UpstreamSelector::explain), no sockets.
#include <gtest/gtest.h>

#include <set>

#include "policy/hash_ring.hpp"
#include "policy/unique_walk.hpp"
#include "runtime/bounded_load_picker.hpp"
#include "runtime/upstream_selector.hpp"

namespace ringproxy {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kKey = 0x0123456789abcdefULL;

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
  UpstreamSelector selector(SelectorSettings settings, double bounded = 0) {
    std::unique_ptr<BackendPicker> picker = std::make_unique<HashRingPicker>(identities);
    if (bounded > 0) {
      picker = std::make_unique<BoundedLoadPicker>(std::move(picker), backends, bounded);
    }
    return UpstreamSelector(backends, std::move(picker), std::make_unique<RetryBudget>(), settings);
  }
  std::size_t index_of(const BackendState* b) const {
    for (std::size_t i = 0; i < backends.size(); ++i)
      if (backends[i].get() == b) return i;
    return backends.size();
  }
};

// Opens backend b's breaker for 10 s with one failure.
void open_breaker(BackendState& b, Clock::time_point now) {
  b.breaker.configure(BreakerSettings::with_default_cap(1, std::chrono::seconds(10), 1));
  const BreakerPermit permit = b.breaker.try_acquire(now);
  b.breaker.on_failure(permit, now);
}

// What the request path takes for kKey now: Selection's first attempt.
std::size_t request_path_choice(const Fixture& f, const UpstreamSelector& sel,
                                Clock::time_point now) {
  Selection s(sel, kKey, 0, now, 0);
  return f.index_of(s.next(false));
}

TEST(WalkExplain, AllWellTheHomeIsChosenAndNothingIsPassed) {
  Fixture f(4);
  const UpstreamSelector sel = f.selector({true, true, false, 0});
  const auto now = Clock::now();
  const WalkExplanation e = sel.explain(kKey, 0, now);
  ASSERT_TRUE(e.home && e.chosen);
  EXPECT_EQ(*e.chosen, *e.home);
  ASSERT_EQ(e.walk.size(), 1u);
  EXPECT_EQ(e.walk[0].verdict, WalkVerdict::usable);
  EXPECT_EQ(*e.chosen, request_path_choice(f, sel, now));
  ASSERT_EQ(e.order.size(), 4u);  // every backend, each once, the home first
  EXPECT_EQ(e.order[0], *e.home);
  EXPECT_EQ(std::set<std::size_t>(e.order.begin(), e.order.end()).size(), 4u);
}

TEST(WalkExplain, EachReasonIsNamedInWalkOrderAndTheRequestPathAgrees) {
  Fixture f(4);
  const auto now = Clock::now();
  for (auto& b : f.backends) b->concurrency.configure(1);
  const UpstreamSelector sel = f.selector({true, true, false, 0});
  const std::vector<std::size_t> order = sel.explain(kKey, 0, now).order;
  // The first three of the order refuse, each for its own reason; the fourth takes it.
  f.backends[order[0]]->healthy = false;
  open_breaker(*f.backends[order[1]], now);
  ASSERT_TRUE(f.backends[order[2]]->concurrency.try_enter());
  const WalkExplanation e = sel.explain(kKey, 0, now);
  ASSERT_EQ(e.walk.size(), 4u);
  EXPECT_EQ(e.walk[0].backend, order[0]);
  EXPECT_EQ(e.walk[0].verdict, WalkVerdict::down);
  EXPECT_EQ(e.walk[1].backend, order[1]);
  EXPECT_EQ(e.walk[1].verdict, WalkVerdict::breaker_open);
  EXPECT_EQ(e.walk[2].backend, order[2]);
  EXPECT_EQ(e.walk[2].verdict, WalkVerdict::at_max_concurrent);
  EXPECT_EQ(e.walk[3].verdict, WalkVerdict::usable);
  EXPECT_EQ(e.home, order[0]);
  EXPECT_EQ(e.chosen, order[3]);
  EXPECT_EQ(*e.chosen, request_path_choice(f, sel, now));
  EXPECT_EQ(e.order, order) << "the order is the config's, whatever is down";
}

TEST(WalkExplain, HealthAndBreakerCountOnlyWhenTheUpstreamChecksThem) {
  Fixture f(3);
  const auto now = Clock::now();
  const UpstreamSelector plain = f.selector({false, false, false, 0});
  const std::size_t home = *plain.explain(kKey, 0, now).home;
  f.backends[home]->healthy = false;
  open_breaker(*f.backends[home], now);
  const WalkExplanation e = plain.explain(kKey, 0, now);
  EXPECT_EQ(e.chosen, home);
  EXPECT_EQ(e.walk.size(), 1u);
}

TEST(WalkExplain, AHomeOverItsBoundedLoadIsPassedAsSuch) {
  Fixture f(3);
  const auto now = Clock::now();
  const UpstreamSelector sel = f.selector({false, false, true, 0}, 1.0);
  const std::size_t home = *sel.explain(kKey, 0, now).home;
  f.backends[home]->in_flight = 5;  // 6 > ceil(1.0 x 6 / 3)
  const WalkExplanation e = sel.explain(kKey, 0, now);
  ASSERT_GE(e.walk.size(), 2u);
  EXPECT_EQ(e.walk[0].backend, home);
  EXPECT_EQ(e.walk[0].verdict, WalkVerdict::over_bounded_load);
  ASSERT_TRUE(e.chosen);
  EXPECT_NE(*e.chosen, home);
  EXPECT_EQ(*e.chosen, request_path_choice(f, sel, now));
}

TEST(WalkExplain, NothingUsableChoosesNoneAndNamesEveryBackend) {
  Fixture f(3);
  const auto now = Clock::now();
  const UpstreamSelector sel = f.selector({true, false, false, 0});
  for (auto& b : f.backends) b->healthy = false;
  const WalkExplanation e = sel.explain(kKey, 0, now);
  EXPECT_FALSE(e.chosen);
  ASSERT_EQ(e.walk.size(), 3u);
  for (const auto& step : e.walk) EXPECT_EQ(step.verdict, WalkVerdict::down);
}

TEST(WalkExplain, ExplainingTakesNoTrialOfAHalfOpenBreaker) {
  Fixture f(2);
  const auto t0 = Clock::now();
  const UpstreamSelector sel = f.selector({false, true, false, 0});
  const std::size_t home = *sel.explain(kKey, 0, t0).home;
  open_breaker(*f.backends[home], t0);
  const auto later = t0 + std::chrono::seconds(11);  // half-open: one trial
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sel.explain(kKey, 0, later).chosen, home);
  EXPECT_EQ(request_path_choice(f, sel, later), home) << "explain took the only trial";
}

// The observer sees the same verdicts the walk acts on, for plain predicates too.
class Recorder final : public WalkObserver {
 public:
  void met(std::size_t backend, WalkVerdict verdict) override {
    seen.push_back({backend, verdict});
  }
  std::vector<std::pair<std::size_t, WalkVerdict>> seen;
};

TEST(UniqueWalkObserver, HearsEveryDistinctBackendOnceAndTheStop) {
  Fixture f(5);
  HashRingPicker picker(f.identities);
  Recorder recorder;
  UniqueWalk walk(picker, kKey, 0, 5, &recorder);
  std::size_t calls = 0;
  const auto taken = walk.next([&calls](std::size_t) { return ++calls == 3; });
  ASSERT_TRUE(taken);
  ASSERT_EQ(recorder.seen.size(), 3u);
  EXPECT_EQ(recorder.seen[0].second, WalkVerdict::unusable);
  EXPECT_EQ(recorder.seen[1].second, WalkVerdict::unusable);
  EXPECT_EQ(recorder.seen[2], std::make_pair(*taken, WalkVerdict::usable));
  EXPECT_EQ(picker.pick(
                kKey, [](std::size_t) { return true; }, 5),
            recorder.seen[0].first);
}

TEST(WalkVerdictNames, AreTheJsonReasons) {
  EXPECT_EQ(to_string(WalkVerdict::down), "down");
  EXPECT_EQ(to_string(WalkVerdict::breaker_open), "breaker_open");
  EXPECT_EQ(to_string(WalkVerdict::at_max_concurrent), "at_max_concurrent");
  EXPECT_EQ(to_string(WalkVerdict::over_bounded_load), "over_bounded_load");
  EXPECT_EQ(to_string(WalkVerdict::usable), "usable");
}

}  // namespace
}  // namespace ringproxy
