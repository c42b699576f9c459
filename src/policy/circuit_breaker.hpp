// Per-backend circuit breaker and concurrency cap ([upstream.circuit_breaker]), shared by every
// worker thread, lock-free (one CAS per transition). Pure: now is an argument. The state
// machine, backoff, epochs and memory order are in docs/policy.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace ringproxy {

// The state of a breaker; the values are those of the circuit_breaker_state metric.
enum class BreakerState : std::uint8_t { closed = 0, half_open = 1, open = 2 };

// "closed", "half_open" or "open".
std::string_view to_string(BreakerState state);

// The default backoff cap: max(open_duration, min(16 x open_duration, 5 minutes)).
std::chrono::nanoseconds breaker_backoff_cap(std::chrono::nanoseconds open_duration);

// How a breaker trips and recovers. Plain data.
struct BreakerSettings {
  std::uint32_t failure_threshold = 5;                                    // >= 1
  std::chrono::nanoseconds open_duration{std::chrono::seconds(10)};       // > 0
  std::uint32_t half_open_requests = 1;                                   // >= 1
  std::chrono::nanoseconds max_open_duration{std::chrono::seconds(160)};  // backoff cap

  // Settings with max_open_duration = breaker_backoff_cap(open_duration).
  static BreakerSettings with_default_cap(std::uint32_t failure_threshold,
                                          std::chrono::nanoseconds open_duration,
                                          std::uint32_t half_open_requests);
  bool operator==(const BreakerSettings&) const = default;
};

// A breaker's answer to try_acquire: whether the request may go to the backend, and whether it
// is a half-open trial. Plain data; settle it with the breaker that issued it.
class BreakerPermit {
 public:
  enum class Kind : std::uint8_t { refused, normal, trial };

  BreakerPermit() = default;  // refused
  explicit operator bool() const { return kind_ != Kind::refused; }
  Kind kind() const { return kind_; }
  bool trial() const { return kind_ == Kind::trial; }

 private:
  friend class CircuitBreaker;
  BreakerPermit(Kind kind, std::uint32_t epoch) : kind_(kind), epoch_(epoch) {}

  Kind kind_ = Kind::refused;
  std::uint32_t epoch_ = 0;
};

// One backend's circuit breaker. Thread-safe and lock-free: any member may be called from any
// number of threads at once (see the file comment for the memory ordering).
class CircuitBreaker {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Counts are held in 20 bits: thresholds above this are clamped to it.
  static constexpr std::uint32_t kMaxCount = (1u << 20) - 1;
  // Consecutive trips are counted up to this (the backoff is long capped by then).
  static constexpr std::uint32_t kMaxTrips = 63;

  CircuitBreaker() : CircuitBreaker(BreakerSettings{}) {}
  explicit CircuitBreaker(const BreakerSettings& settings);
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // Replaces the settings (e.g. on reload), keeping the state. Values are normalised: thresholds
  // to [1, kMaxCount], open_duration to >= 1ns, max_open_duration to >= open_duration.
  void configure(const BreakerSettings& settings);
  BreakerSettings settings() const;

  // May a request go to the backend now? Closed: yes (a normal permit; no write, one load).
  // Open: no, until the open time has passed; then the breaker turns half-open and this request
  // is its first trial. Half-open: yes while fewer than half_open_requests trials are in
  // flight (a trial permit takes a slot), else no.
  BreakerPermit try_acquire(TimePoint now);
  // The backend answered well. Closed: the failure count resets. A trial: the breaker closes,
  // and the backoff resets.
  void on_success(const BreakerPermit& permit);
  // The backend failed (connect error, reset, timeout, 5xx). Closed: the failure count grows and
  // at failure_threshold the breaker opens. A trial: the breaker opens again, for twice as long
  // as last time (up to max_open_duration).
  void on_failure(const BreakerPermit& permit, TimePoint now);
  // The permit was never used (the request died before reaching the backend): a trial gives its
  // slot back. A normal permit needs no release (it is allowed but not required).
  void release(const BreakerPermit& permit);

  // The state at now; an open breaker whose open time has passed reads as half_open.
  BreakerState state(TimePoint now) const;
  // Whether try_acquire(now) would admit a request (takes nothing).
  bool available(TimePoint now) const;
  // Time until an open breaker half-opens; zero when it is not open or its time has passed.
  std::chrono::nanoseconds open_remaining(TimePoint now) const;
  // open_remaining rounded up to whole seconds, at least 1: the Retry-After of a 503.
  std::int64_t retry_after_seconds(TimePoint now) const;

  // Failures in a row while closed (0 otherwise).
  std::uint32_t consecutive_failures() const;
  // Trial permits taken and not yet settled while half-open (0 otherwise).
  std::uint32_t trials_in_flight() const;
  // Trips since the breaker was last closed by a success (0 while closed); the open time of the
  // current or last trip is open_time(trips()).
  std::uint32_t trips() const;
  // The open time of the n-th consecutive trip under the current settings (n >= 1).
  std::chrono::nanoseconds open_time(std::uint32_t trips) const;

 private:
  bool trip(std::uint64_t& word, std::uint32_t trips, std::int64_t now_ns);

  std::atomic<std::uint64_t> word_;
  std::atomic<std::int64_t> open_until_{0};  // steady ns; valid while open and not pending
  std::atomic<std::uint32_t> failure_threshold_{5};
  std::atomic<std::uint32_t> half_open_requests_{1};
  std::atomic<std::int64_t> open_ns_{0};
  std::atomic<std::int64_t> max_open_ns_{0};
};

// Caps the requests in flight to one backend (max_concurrent; 0 = no limit). Thread-safe and
// lock-free: one atomic counter, relaxed (it guards no other data).
class ConcurrencyLimit {
 public:
  explicit ConcurrencyLimit(std::uint32_t max = 0) : max_(max) {}
  ConcurrencyLimit(const ConcurrencyLimit&) = delete;
  ConcurrencyLimit& operator=(const ConcurrencyLimit&) = delete;

  // Replaces the limit (e.g. on reload); requests already in flight stay counted.
  void configure(std::uint32_t max) { max_.store(max, std::memory_order_relaxed); }
  std::uint32_t max() const { return max_.load(std::memory_order_relaxed); }

  // Counts a request in if fewer than max are in flight (always when max is 0).
  bool try_enter();
  // Counts out a request that entered. Must follow exactly one successful try_enter.
  void leave() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  // Whether try_enter would succeed now.
  bool available() const;
  std::uint32_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint32_t> max_;
  std::atomic<std::uint32_t> in_flight_{0};
};

}  // namespace ringproxy
