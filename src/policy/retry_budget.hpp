// A retry budget (Finagle's RetryBudget, Envoy's retry_budget): retries stay a bounded share
// of a recent window's requests, with a floor per second; lock-free, one lane per worker.
// Pure: time is passed in. The counting and the rule are in docs/policy.md.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace ringproxy {

// The retry budget of one upstream. Thread-safe and lock-free: on_request and try_retry may be
// called from any number of threads at once (relaxed atomics and CAS loops; the counters guard
// no other data).
class RetryBudget {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  static constexpr unsigned kMaxWindowSeconds = 60;

  struct Options {
    double ratio = 0.2;  // retries may be this share of requests; clamped to [0, 1000]
    std::uint32_t min_per_second = 3;  // retries always allowed per second; clamped to 2^20 - 1
    unsigned window_seconds = 10;      // clamped to [1, kMaxWindowSeconds]
    unsigned lanes = 1;                // request counters, one per counting thread; >= 1
  };

  RetryBudget() : RetryBudget(Options{}) {}
  explicit RetryBudget(const Options& options);
  RetryBudget(const RetryBudget&) = delete;
  RetryBudget& operator=(const RetryBudget&) = delete;

  // Counts one client request (call once per request, not per attempt) in lane % lanes.
  void on_request(TimePoint now, unsigned lane = 0);
  // Whether one more attempt (a retry) may be made now; counts it when allowed.
  bool try_retry(TimePoint now);

  // Counts in the window ending at now, for metrics and tests.
  std::uint64_t requests_in_window(TimePoint now) const;
  std::uint64_t retries_in_window(TimePoint now) const;

  const Options& options() const { return options_; }

 private:
  struct Totals {
    std::uint64_t requests = 0;
    std::uint64_t retries = 0;
  };
  // One lane's ring of per-second buckets, on cache lines of its own.
  struct alignas(64) Lane {
    std::array<std::atomic<std::uint64_t>, kMaxWindowSeconds> buckets{};
  };
  // Sums the buckets of every lane for the seconds [second - window + 1, second - first_back].
  Totals sum(std::int64_t second, unsigned first_back) const;
  std::atomic<std::uint64_t>& bucket(unsigned lane, std::int64_t second);
  const std::atomic<std::uint64_t>& bucket(unsigned lane, std::int64_t second) const;

  Options options_;
  std::uint64_t ratio_ppm_;  // ratio in parts per million
  std::unique_ptr<Lane[]> lanes_;
};

}  // namespace ringproxy
