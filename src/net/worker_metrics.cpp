#include "net/worker_metrics.hpp"

namespace ringproxy {

WorkerMetrics::~WorkerMetrics() {
  for (auto& p : upstreams_) delete p.load(std::memory_order_relaxed);
  for (auto& p : backend_blocks_) delete p.load(std::memory_order_relaxed);
}

WorkerMetrics::BackendCounts* WorkerMetrics::backend(std::uint32_t slot) {
  if (slot >= kMaxBackendSlots) return nullptr;
  auto& entry = backend_blocks_[slot / kSlotBlock];
  BackendBlock* block = entry.load(std::memory_order_relaxed);
  if (block == nullptr) {
    block = new BackendBlock();
    entry.store(block, std::memory_order_release);
  }
  return &block->slots[slot % kSlotBlock];
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

void WorkerMetrics::observe_redis(std::chrono::nanoseconds duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  std::size_t i = 0;
  while (i < kRedisBuckets.size() && seconds > kRedisBuckets[i]) ++i;
  if (i < kRedisBuckets.size()) bump(redis_buckets_[i]);
  bump(redis_count_);
  bump(redis_sum_ns_, static_cast<std::uint64_t>(duration.count() > 0 ? duration.count() : 0));
}

}  // namespace ringproxy
