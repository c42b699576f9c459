#include "io/worker_metrics.hpp"

namespace ringproxy {

WorkerMetrics::~WorkerMetrics() {
  for (auto& p : upstreams_) delete p.load(std::memory_order_relaxed);
}

void WorkerMetrics::count_response(std::uint32_t upstream_id, int status,
                                   std::chrono::nanoseconds duration) {
  if (upstream_id < kMaxUpstreams && status >= 100 && status <= 599) {
    UpstreamCounts* counts = upstreams_[upstream_id].load(std::memory_order_relaxed);
    if (counts == nullptr) {
      counts = new UpstreamCounts();
      upstreams_[upstream_id].store(counts, std::memory_order_release);
    }
    bump(counts->by_code[static_cast<std::size_t>(status - 100)]);
  }
  const double seconds = std::chrono::duration<double>(duration).count();
  std::size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  if (i < kBuckets.size()) bump(buckets_[i]);  // past the last bucket: only +Inf (= count)
  bump(count_);
  bump(sum_ns_, static_cast<std::uint64_t>(duration.count() > 0 ? duration.count() : 0));
}

}  // namespace ringproxy
