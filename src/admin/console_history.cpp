// The console's server-side history (see console_history.hpp).
#include "admin/console_history.hpp"

#include <unordered_set>

#include "admin/process_control.hpp"
#include "net/worker.hpp"

namespace ringproxy {

void ConsoleHistory::sample(const ProcessControl& server, TimePoint now) {
  const auto snap = server.snapshot();
  std::unordered_set<std::string> present;
  for (const UpstreamRuntime& up : snap->upstreams()) {
    for (const auto& b : up.backends()) {
      const BackendTotals t = server.backend_totals(b->slot);
      record(b->identity, now, TrafficTotals{t.requests, t.failures, t.in_flight});
      present.insert(b->identity);
    }
  }
  std::uint64_t limited = 0;
  for (const auto& w : server.workers()) limited += w->metrics().rate_limited();
  record_rate_limited(now, limited);
  std::lock_guard lock(mutex_);
  std::erase_if(backends_,
                [&present](const auto& entry) { return !present.contains(entry.first); });
}

void ConsoleHistory::record(const std::string& identity, TimePoint now,
                            const TrafficTotals& totals) {
  std::lock_guard lock(mutex_);
  auto it = backends_.try_emplace(identity, samples_).first;
  it->second.record(now, totals);
}

void ConsoleHistory::record_rate_limited(TimePoint now, std::uint64_t total) {
  std::lock_guard lock(mutex_);
  rate_limited_.record(now, TrafficTotals{total, 0, 0});
}

void ConsoleHistory::record_reload(ReloadRecord record) {
  std::lock_guard lock(mutex_);
  reloads_.push_front(std::move(record));
  if (reloads_.size() > kReloads) reloads_.pop_back();
}

std::vector<TrafficSample> ConsoleHistory::backend(const std::string& identity) const {
  std::lock_guard lock(mutex_);
  const auto it = backends_.find(identity);
  return it == backends_.end() ? std::vector<TrafficSample>{} : it->second.samples();
}

std::vector<TrafficSample> ConsoleHistory::rate_limited() const {
  std::lock_guard lock(mutex_);
  return rate_limited_.samples();
}

std::vector<ReloadRecord> ConsoleHistory::reloads() const {
  std::lock_guard lock(mutex_);
  return {reloads_.begin(), reloads_.end()};
}

}  // namespace ringproxy
