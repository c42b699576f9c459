// Request counters of one worker, summed over all workers when /metrics is scraped.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace ringproxy {

// Written only by its worker's thread (relaxed load + store: no locked instruction, no shared
// cache line on the hot path); read by the scraping thread with relaxed loads.
class WorkerMetrics {
 public:
  static constexpr std::size_t kMaxUpstreams = 1024;  // upstream ids beyond this are not counted
  static constexpr std::size_t kCodes = 500;          // status 100..599
  static constexpr std::array<double, 14> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};

  // Responses of one upstream id by status code.
  struct UpstreamCounts {
    std::array<std::atomic<std::uint64_t>, kCodes> by_code{};
  };
  // One backend's traffic from this worker, by the backend's slot (BackendState::slot).
  struct BackendCounts {
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> failures{0};
    std::atomic<std::int64_t> in_flight{0};
    std::atomic<std::uint64_t> connects{0};  // new connections opened to it
    // HTTP/2 (protocol h2/h2c): connections open now, streams sent, connections dropped
    // because a keep-alive PING went unanswered.
    std::atomic<std::int64_t> h2_connections{0};
    std::atomic<std::uint64_t> h2_streams{0};
    std::atomic<std::uint64_t> h2_ping_timeouts{0};
  };
  static constexpr std::size_t kSlotBlock = 256;  // backend counters are made 256 at a time
  static constexpr std::size_t kMaxBackendSlots = 256 * kSlotBlock;  // slots beyond: not counted

  WorkerMetrics() = default;
  ~WorkerMetrics();
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // Redis round trips of global rate limits (lease script calls), in seconds.
  static constexpr std::array<double, 12> kRedisBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};

  // Owner thread only.
  void count_redis_error() { bump(redis_errors_); }
  void observe_redis(std::chrono::nanoseconds duration);
  void count_response(std::uint32_t upstream_id, int status, std::chrono::nanoseconds duration);
  void count_rate_limited() { bump(rate_limited_); }
  // Tunnels (Upgrade, 101): opened (+1) or closed (-1), and bytes relayed each way.
  void add_tunnel(std::int64_t by) {
    tunnels_.store(tunnels_.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  // HTTP/2 client connections: open (+1/-1), their memory (bytes, +/-), streams started,
  // connections ended for flooding (GOAWAY ENHANCE_YOUR_CALM).
  void add_h2_connection(std::int64_t by) { add(h2_connections_, by); }
  void add_h2_memory(std::int64_t by) { add(h2_memory_, by); }
  void count_h2_stream() { bump(h2_streams_); }
  void count_h2_flood() { bump(h2_floods_); }
  std::int64_t h2_connections() const { return h2_connections_.load(std::memory_order_relaxed); }
  std::int64_t h2_memory() const { return h2_memory_.load(std::memory_order_relaxed); }
  std::uint64_t h2_streams() const { return h2_streams_.load(std::memory_order_relaxed); }
  std::uint64_t h2_floods() const { return h2_floods_.load(std::memory_order_relaxed); }
  void count_tunnel_bytes(bool to_backend, std::uint64_t n) {
    bump(to_backend ? tunnel_bytes_up_ : tunnel_bytes_down_, n);
  }
  // The counters of backend slot, made on first use; nullptr past kMaxBackendSlots.
  BackendCounts* backend(std::uint32_t slot);
  static void count_request(BackendCounts* c) {
    if (c != nullptr) bump(c->requests);
  }
  static void count_failure(BackendCounts* c) {
    if (c != nullptr) bump(c->failures);
  }
  static void count_connect(BackendCounts* c) {
    if (c != nullptr) bump(c->connects);
  }
  static void add_h2_upstream_connection(BackendCounts* c, std::int64_t by) {
    if (c != nullptr) add(c->h2_connections, by);
  }
  static void count_h2_upstream_stream(BackendCounts* c) {
    if (c != nullptr) bump(c->h2_streams);
  }
  static void count_h2_ping_timeout(BackendCounts* c) {
    if (c != nullptr) bump(c->h2_ping_timeouts);
  }
  static void add_in_flight(BackendCounts* c, std::int64_t by) {
    if (c != nullptr) {
      c->in_flight.store(c->in_flight.load(std::memory_order_relaxed) + by,
                         std::memory_order_relaxed);
    }
  }

  // Any thread.
  const UpstreamCounts* upstream(std::uint32_t id) const {
    return id < kMaxUpstreams ? upstreams_[id].load(std::memory_order_acquire) : nullptr;
  }
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  std::uint64_t sum_ns() const { return sum_ns_.load(std::memory_order_relaxed); }
  std::uint64_t rate_limited() const { return rate_limited_.load(std::memory_order_relaxed); }
  std::int64_t tunnels() const { return tunnels_.load(std::memory_order_relaxed); }
  std::uint64_t tunnel_bytes(bool to_backend) const {
    return (to_backend ? tunnel_bytes_up_ : tunnel_bytes_down_).load(std::memory_order_relaxed);
  }
  std::uint64_t redis_errors() const { return redis_errors_.load(std::memory_order_relaxed); }
  std::uint64_t redis_bucket(std::size_t i) const {
    return redis_buckets_[i].load(std::memory_order_relaxed);
  }
  std::uint64_t redis_count() const { return redis_count_.load(std::memory_order_relaxed); }
  std::uint64_t redis_sum_ns() const { return redis_sum_ns_.load(std::memory_order_relaxed); }
  // Slot's counters, or nullptr when this worker has not used the slot's block yet.
  const BackendCounts* backend_counts(std::uint32_t slot) const {
    if (slot >= kMaxBackendSlots) return nullptr;
    const BackendBlock* block = backend_blocks_[slot / kSlotBlock].load(std::memory_order_acquire);
    return block != nullptr ? &block->slots[slot % kSlotBlock] : nullptr;
  }

 private:
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  static void add(std::atomic<std::int64_t>& c, std::int64_t by) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  struct BackendBlock {
    std::array<BackendCounts, kSlotBlock> slots;
  };
  std::array<std::atomic<UpstreamCounts*>, kMaxUpstreams> upstreams_{};
  std::array<std::atomic<BackendBlock*>, kMaxBackendSlots / kSlotBlock> backend_blocks_{};
  std::array<std::atomic<std::uint64_t>, kBuckets.size()> buckets_{};  // non-cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::uint64_t> rate_limited_{0};
  std::atomic<std::int64_t> tunnels_{0};
  std::atomic<std::int64_t> h2_connections_{0};
  std::atomic<std::int64_t> h2_memory_{0};
  std::atomic<std::uint64_t> h2_streams_{0};
  std::atomic<std::uint64_t> h2_floods_{0};
  std::atomic<std::uint64_t> tunnel_bytes_up_{0};    // client to backend
  std::atomic<std::uint64_t> tunnel_bytes_down_{0};  // backend to client
  std::atomic<std::uint64_t> redis_errors_{0};
  std::array<std::atomic<std::uint64_t>, kRedisBuckets.size()> redis_buckets_{};  // non-cumulative
  std::atomic<std::uint64_t> redis_count_{0};
  std::atomic<std::uint64_t> redis_sum_ns_{0};
};

}  // namespace ringproxy
