// What the admin console charts and lists, kept in the server (not only in the page): each
// backend's recent traffic, recent rate-limit refusals, and the last reloads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/traffic_history.hpp"

namespace ringproxy {

class ProcessControl;

// One reload as the console lists it.
struct ReloadRecord {
  std::chrono::system_clock::time_point at;
  bool ok = false;
  std::uint64_t generation = 0;  // the generation in force after it
  std::string error;             // the first error of a failed reload
};

// Per-backend TrafficHistory rings, keyed by BackendState::identity, sampled from the counters
// the workers keep; a ring of rate-limit refusals; the last kReloads reloads. Thread-safe (one
// mutex): sampled by the control thread, read by the admin listener's worker.
class ConsoleHistory {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr std::chrono::seconds kPeriod{1};  // the sampler's interval
  static constexpr std::size_t kSamples = 300;       // five minutes of kPeriod
  static constexpr std::size_t kReloads = 10;

  explicit ConsoleHistory(std::size_t samples = kSamples) : samples_(samples) {}

  // Reads every backend of the snapshot in force and the rate-limit total at now; forgets the
  // backends the snapshot no longer has.
  void sample(const ProcessControl& server, TimePoint now);
  // One backend's reading (sample() uses it; tests feed it directly).
  void record(const std::string& identity, TimePoint now, const TrafficTotals& totals);
  void record_rate_limited(TimePoint now, std::uint64_t total);
  void record_reload(ReloadRecord record);

  // The samples of the backend with that identity, oldest first (none when unknown).
  std::vector<TrafficSample> backend(const std::string& identity) const;
  // Rate-limit refusals per second (requests_per_s of each sample), oldest first.
  std::vector<TrafficSample> rate_limited() const;
  // The last reloads, newest first.
  std::vector<ReloadRecord> reloads() const;

 private:
  mutable std::mutex mutex_;
  std::size_t samples_;
  std::unordered_map<std::string, TrafficHistory> backends_;
  TrafficHistory rate_limited_{samples_};
  std::deque<ReloadRecord> reloads_;
};

}  // namespace ringproxy
