// Lock-free circuit breaker and concurrency cap (see circuit_breaker.hpp for the model).
#include "policy/circuit_breaker.hpp"

#include <algorithm>
#include <limits>

namespace ringproxy {

namespace {

using std::chrono::nanoseconds;

constexpr std::int64_t kMaxNs = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kSecond = 1'000'000'000;

// The word: bits 0-1 state, bit 2 pending, bits 3-22 count, bits 23-28 trips, bits 32-63 epoch.
// count is the consecutive failures while closed and the trials in flight while half-open.
constexpr std::uint64_t kStateMask = 0x3;
constexpr std::uint64_t kPending = 1u << 2;
constexpr int kCountShift = 3;
constexpr std::uint64_t kCountMask = CircuitBreaker::kMaxCount;
constexpr int kTripsShift = 23;
constexpr std::uint64_t kTripsMask = 0x3f;
constexpr int kEpochShift = 32;

BreakerState state_of(std::uint64_t w) {
  return static_cast<BreakerState>(w & kStateMask);
}
bool pending(std::uint64_t w) {
  return (w & kPending) != 0;
}
std::uint32_t count_of(std::uint64_t w) {
  return static_cast<std::uint32_t>((w >> kCountShift) & kCountMask);
}
std::uint32_t trips_of(std::uint64_t w) {
  return static_cast<std::uint32_t>((w >> kTripsShift) & kTripsMask);
}
std::uint32_t epoch_of(std::uint64_t w) {
  return static_cast<std::uint32_t>(w >> kEpochShift);
}

std::uint64_t make_word(BreakerState state, std::uint32_t count, std::uint32_t trips,
                        std::uint32_t epoch) {
  return static_cast<std::uint64_t>(state) |
         (static_cast<std::uint64_t>(count & kCountMask) << kCountShift) |
         (static_cast<std::uint64_t>(trips & kTripsMask) << kTripsShift) |
         (static_cast<std::uint64_t>(epoch) << kEpochShift);
}

std::uint64_t with_count(std::uint64_t w, std::uint32_t count) {
  return (w & ~(kCountMask << kCountShift)) |
         (static_cast<std::uint64_t>(count & kCountMask) << kCountShift);
}

std::int64_t ns_of(CircuitBreaker::TimePoint t) {
  return std::chrono::duration_cast<nanoseconds>(t.time_since_epoch()).count();
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  if (b > 0 && a > kMaxNs - b) return kMaxNs;
  return a + b;
}

std::uint32_t clamp_count(std::uint32_t n) {
  return std::clamp<std::uint32_t>(n, 1, CircuitBreaker::kMaxCount);
}

}  // namespace

std::string_view to_string(BreakerState state) {
  switch (state) {
    case BreakerState::closed:
      return "closed";
    case BreakerState::half_open:
      return "half_open";
    case BreakerState::open:
      return "open";
  }
  return "closed";
}

nanoseconds breaker_backoff_cap(nanoseconds open_duration) {
  constexpr nanoseconds kFiveMinutes = std::chrono::minutes(5);
  nanoseconds sixteen =
      open_duration.count() > kMaxNs / 16 ? nanoseconds(kMaxNs) : open_duration * 16;
  return std::max(open_duration, std::min(sixteen, kFiveMinutes));
}

BreakerSettings BreakerSettings::with_default_cap(std::uint32_t failure_threshold,
                                                  nanoseconds open_duration,
                                                  std::uint32_t half_open_requests) {
  return BreakerSettings{failure_threshold, open_duration, half_open_requests,
                         breaker_backoff_cap(open_duration)};
}

CircuitBreaker::CircuitBreaker(const BreakerSettings& settings)
    : word_(make_word(BreakerState::closed, 0, 0, 0)) {
  configure(settings);
}

void CircuitBreaker::configure(const BreakerSettings& settings) {
  std::int64_t open = std::max<std::int64_t>(settings.open_duration.count(), 1);
  std::int64_t max_open = std::max<std::int64_t>(settings.max_open_duration.count(), open);
  failure_threshold_.store(clamp_count(settings.failure_threshold), std::memory_order_relaxed);
  half_open_requests_.store(clamp_count(settings.half_open_requests), std::memory_order_relaxed);
  open_ns_.store(open, std::memory_order_relaxed);
  max_open_ns_.store(max_open, std::memory_order_relaxed);
}

BreakerSettings CircuitBreaker::settings() const {
  return BreakerSettings{failure_threshold_.load(std::memory_order_relaxed),
                         nanoseconds(open_ns_.load(std::memory_order_relaxed)),
                         half_open_requests_.load(std::memory_order_relaxed),
                         nanoseconds(max_open_ns_.load(std::memory_order_relaxed))};
}

nanoseconds CircuitBreaker::open_time(std::uint32_t trips) const {
  std::int64_t d = open_ns_.load(std::memory_order_relaxed);
  std::int64_t cap = std::max(max_open_ns_.load(std::memory_order_relaxed), d);
  for (std::uint32_t i = 1; i < trips && d < cap; ++i) d = d > cap / 2 ? cap : d * 2;
  return nanoseconds(std::min(d, cap));
}

BreakerPermit CircuitBreaker::try_acquire(TimePoint now) {
  std::uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    switch (state_of(w)) {
      case BreakerState::closed:
        return BreakerPermit(BreakerPermit::Kind::normal, epoch_of(w));
      case BreakerState::open: {
        if (pending(w)) return {};
        if (ns_of(now) < open_until_.load(std::memory_order_relaxed)) return {};
        // Open time over: half-open, with this request as the first trial.
        std::uint32_t epoch = epoch_of(w) + 1;
        std::uint64_t next = make_word(BreakerState::half_open, 1, trips_of(w), epoch);
        if (word_.compare_exchange_weak(w, next, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
          return BreakerPermit(BreakerPermit::Kind::trial, epoch);
        }
        break;  // w reloaded: decide again
      }
      case BreakerState::half_open: {
        std::uint32_t trials = count_of(w);
        if (trials >= half_open_requests_.load(std::memory_order_relaxed)) return {};
        if (word_.compare_exchange_weak(w, with_count(w, trials + 1), std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
          return BreakerPermit(BreakerPermit::Kind::trial, epoch_of(w));
        }
        break;
      }
    }
  }
}

void CircuitBreaker::on_success(const BreakerPermit& permit) {
  if (!permit) return;
  std::uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if (epoch_of(w) != permit.epoch_) return;  // issued before the last state change
    std::uint64_t next = 0;
    switch (state_of(w)) {
      case BreakerState::closed:
        if (count_of(w) == 0) return;  // the common case: no write
        next = with_count(w, 0);
        break;
      case BreakerState::half_open:
        next = make_word(BreakerState::closed, 0, 0, epoch_of(w) + 1);
        break;
      case BreakerState::open:
        return;  // no permit is issued in an open epoch
    }
    if (word_.compare_exchange_weak(w, next, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      return;
    }
  }
}

void CircuitBreaker::on_failure(const BreakerPermit& permit, TimePoint now) {
  if (!permit) return;
  std::int64_t now_ns = ns_of(now);
  std::uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if (epoch_of(w) != permit.epoch_) return;
    switch (state_of(w)) {
      case BreakerState::closed: {
        std::uint32_t failures = count_of(w) + 1;
        if (failures >= failure_threshold_.load(std::memory_order_relaxed)) {
          if (trip(w, 1, now_ns)) return;
        } else if (word_.compare_exchange_weak(w, with_count(w, failures),
                                               std::memory_order_acq_rel,
                                               std::memory_order_acquire)) {
          return;
        }
        break;
      }
      case BreakerState::half_open:
        if (trip(w, std::min(trips_of(w) + 1, kMaxTrips), now_ns)) return;
        break;
      case BreakerState::open:
        return;
    }
  }
}

bool CircuitBreaker::trip(std::uint64_t& w, std::uint32_t trips, std::int64_t now_ns) {
  std::uint64_t opened = make_word(BreakerState::open, 0, trips, epoch_of(w) + 1);
  if (!word_.compare_exchange_weak(w, opened | kPending, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
    return false;
  }
  // Only this thread changes the word while it is pending (every other writer needs a matching
  // epoch or a non-pending open word), so a plain release store publishes open_until_.
  open_until_.store(saturating_add(now_ns, open_time(trips).count()), std::memory_order_relaxed);
  word_.store(opened, std::memory_order_release);
  return true;
}

void CircuitBreaker::release(const BreakerPermit& permit) {
  if (!permit.trial()) return;
  std::uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if (epoch_of(w) != permit.epoch_ || state_of(w) != BreakerState::half_open) return;
    std::uint32_t trials = count_of(w);
    if (trials == 0) return;
    if (word_.compare_exchange_weak(w, with_count(w, trials - 1), std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      return;
    }
  }
}

BreakerState CircuitBreaker::state(TimePoint now) const {
  std::uint64_t w = word_.load(std::memory_order_acquire);
  BreakerState s = state_of(w);
  if (s != BreakerState::open || pending(w)) return s;
  return ns_of(now) >= open_until_.load(std::memory_order_relaxed) ? BreakerState::half_open
                                                                   : BreakerState::open;
}

bool CircuitBreaker::available(TimePoint now) const {
  std::uint64_t w = word_.load(std::memory_order_acquire);
  switch (state_of(w)) {
    case BreakerState::closed:
      return true;
    case BreakerState::half_open:
      return count_of(w) < half_open_requests_.load(std::memory_order_relaxed);
    case BreakerState::open:
      return !pending(w) && ns_of(now) >= open_until_.load(std::memory_order_relaxed);
  }
  return false;
}

nanoseconds CircuitBreaker::open_remaining(TimePoint now) const {
  std::uint64_t w = word_.load(std::memory_order_acquire);
  if (state_of(w) != BreakerState::open) return nanoseconds(0);
  if (pending(w)) return open_time(trips_of(w));  // opening this very moment: all of it
  std::int64_t until = open_until_.load(std::memory_order_relaxed);
  std::int64_t t = ns_of(now);
  return nanoseconds(until > t ? until - t : 0);
}

std::int64_t CircuitBreaker::retry_after_seconds(TimePoint now) const {
  std::int64_t ns = open_remaining(now).count();
  return std::max<std::int64_t>(ns / kSecond + (ns % kSecond != 0 ? 1 : 0), 1);
}

std::uint32_t CircuitBreaker::consecutive_failures() const {
  std::uint64_t w = word_.load(std::memory_order_acquire);
  return state_of(w) == BreakerState::closed ? count_of(w) : 0;
}

std::uint32_t CircuitBreaker::trials_in_flight() const {
  std::uint64_t w = word_.load(std::memory_order_acquire);
  return state_of(w) == BreakerState::half_open ? count_of(w) : 0;
}

std::uint32_t CircuitBreaker::trips() const {
  return trips_of(word_.load(std::memory_order_acquire));
}

bool ConcurrencyLimit::try_enter() {
  std::uint32_t max = max_.load(std::memory_order_relaxed);
  if (max == 0) {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  std::uint32_t current = in_flight_.load(std::memory_order_relaxed);
  while (current < max) {
    if (in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

bool ConcurrencyLimit::available() const {
  std::uint32_t max = max_.load(std::memory_order_relaxed);
  return max == 0 || in_flight_.load(std::memory_order_relaxed) < max;
}

}  // namespace ringproxy
