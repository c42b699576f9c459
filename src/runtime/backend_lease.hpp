// One request's hold on a backend: breaker permit, concurrency slot, shared in-flight count.
#pragma once

#include <chrono>
#include <utility>

#include "runtime/backend_state.hpp"

namespace ringproxy {

// The breaker permit is settled exactly once (success, failure, or given back unused); the
// concurrency slot and the in-flight count are held until the lease is reset or destroyed,
// i.e. until the response has been relayed whole. Not thread-safe: one request's; what it
// holds is atomics in the shared BackendState.
class BackendLease {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  BackendLease() = default;
  BackendLease(const BackendLease&) = delete;
  BackendLease& operator=(const BackendLease&) = delete;
  // Moves the hold (a tunnel takes its request's lease for its whole life).
  BackendLease(BackendLease&& other) noexcept
      : backend_(std::exchange(other.backend_, nullptr)),
        permit_(other.permit_),
        unsettled_(std::exchange(other.unsettled_, false)),
        breaker_on_(other.breaker_on_),
        counted_(other.counted_) {}
  BackendLease& operator=(BackendLease&&) = delete;
  ~BackendLease() { reset(); }

  // Takes a concurrency slot and a breaker permit (when breaker_on) and counts the request in
  // the backend's shared in-flight total (when count_in_flight); false, holding nothing, when
  // the breaker or the cap refuses.
  bool acquire(BackendState& b, bool breaker_on, bool count_in_flight, TimePoint now) {
    reset();
    if (breaker_on) {
      if (!b.concurrency.try_enter()) return false;
      permit_ = b.breaker.try_acquire(now);
      if (!permit_) {
        b.concurrency.leave();
        return false;
      }
      unsettled_ = true;
    }
    backend_ = &b;
    breaker_on_ = breaker_on;
    counted_ = count_in_flight;
    if (counted_) b.in_flight.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  BackendState* backend() const { return backend_; }
  // This request is a half-open breaker's trial.
  bool trial() const { return unsettled_ && permit_.trial(); }

  // Settles the permit as a success; true when that closed the breaker (a trial succeeded).
  bool success(TimePoint now) {
    if (!backend_ || !unsettled_) return false;
    unsettled_ = false;
    backend_->breaker.on_success(permit_);
    return permit_.trial() && backend_->breaker.state(now) == BreakerState::closed;
  }
  // Settles the permit as a failure; true when that opened the breaker.
  bool failure(TimePoint now) {
    if (!backend_ || !unsettled_) return false;
    unsettled_ = false;
    const std::uint32_t trips = backend_->breaker.trips();
    backend_->breaker.on_failure(permit_, now);
    return backend_->breaker.trips() != trips;
  }
  // Gives back an unsettled permit, the concurrency slot and the in-flight count.
  void reset() {
    if (!backend_) return;
    if (unsettled_) backend_->breaker.release(permit_);
    if (breaker_on_) backend_->concurrency.leave();
    if (counted_) backend_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    backend_ = nullptr;
    unsettled_ = false;
  }

 private:
  BackendState* backend_ = nullptr;
  BreakerPermit permit_;
  bool unsettled_ = false;
  bool breaker_on_ = false;
  bool counted_ = false;
};

}  // namespace ringproxy
