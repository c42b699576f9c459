// Backend selection for one upstream (see upstream_selector.hpp).
#include "runtime/upstream_selector.hpp"

#include <algorithm>

namespace ringproxy {

std::int64_t UpstreamSelector::retry_after_seconds(TimePoint now) const {
  std::int64_t retry_after = 0;
  if (settings_.breaker) {
    for (const auto& b : backends_) {
      if (b->breaker.state(now) != BreakerState::open) continue;
      const std::int64_t s = b->breaker.retry_after_seconds(now);
      if (retry_after == 0 || s < retry_after) retry_after = s;
    }
  }
  return std::max<std::int64_t>(1, retry_after);
}

namespace {

// Writes down each step of a walk (explain()).
class StepRecorder final : public WalkObserver {
 public:
  explicit StepRecorder(std::vector<WalkExplanation::Step>& steps) : steps_(steps) {}
  void met(std::size_t backend, WalkVerdict verdict) override {
    steps_.push_back({backend, verdict});
  }

 private:
  std::vector<WalkExplanation::Step>& steps_;
};

}  // namespace

WalkExplanation UpstreamSelector::explain(std::uint64_t key, std::uint64_t sequence,
                                          TimePoint now) const {
  WalkExplanation out;
  const std::size_t n = backends_.size();
  out.origin = picker_->origin(key, sequence);
  StepRecorder recorder(out.walk);
  UniqueWalk walk(*picker_, key, sequence, n, &recorder);
  out.chosen = walk_on(walk, now);
  // The whole order: the same walk again, passing every backend by.
  std::vector<WalkExplanation::Step> all;
  StepRecorder everything(all);
  UniqueWalk(*picker_, key, sequence, n, &everything).next([](std::size_t) { return false; });
  for (const auto& step : all) out.order.push_back(step.backend);
  if (!out.order.empty()) out.home = out.order.front();
  return out;
}

Selection::Selection(const UpstreamSelector& selector, std::uint64_t key, std::uint64_t sequence,
                     UpstreamSelector::TimePoint now, unsigned lane)
    : selector_(selector),
      now_(now),
      walk_(selector.picker(), key, sequence, selector.backends().size()),
      attempts_left_(selector.settings().retries + 1) {
  selector.retry_budget().on_request(now, lane);  // its own lane: no shared line
}

BackendState* Selection::next(bool resend) {
  lease_.reset();
  const SelectorSettings& settings = selector_.settings();
  while (attempts_left_ > 0) {
    const auto i = selector_.walk_on(walk_, now_);
    if (!i) return nullptr;
    BackendState& backend = *selector_.backends()[*i];
    // Lost a race for the last trial or concurrency slot: walk on, as the pick would have.
    if (!lease_.acquire(backend, settings.breaker, settings.bounded_load, now_)) continue;
    // Every attempt after the first is a retry. Re-sending a request a backend may already
    // have had spends the retry budget (that is what multiplies load in an outage); trying
    // the next backend after a refused connection costs the backends nothing and is free.
    if (attempts_left_ <= settings.retries && resend && !selector_.retry_budget().try_retry(now_)) {
      lease_.reset();
      attempts_left_ = 0;
      return nullptr;
    }
    --attempts_left_;
    return &backend;
  }
  return nullptr;
}

}  // namespace ringproxy
