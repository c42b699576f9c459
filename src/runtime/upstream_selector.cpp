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
    const auto i = walk_.next([this](std::size_t b) { return selector_.available(b, now_); });
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
