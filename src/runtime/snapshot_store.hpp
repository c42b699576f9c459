// The snapshot in force: published whole by a reload, read by every worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "runtime/snapshot.hpp"

namespace ringproxy {

// One published config generation. Thread-safe: the pointer behind a mutex (copied out), the
// generation in an atomic so that workers can tell cheaply whether it moved.
class SnapshotStore {
 public:
  explicit SnapshotStore(std::shared_ptr<const Snapshot> initial)
      : snapshot_(std::move(initial)), generation_(snapshot_->generation()) {}

  std::shared_ptr<const Snapshot> current() const {
    std::lock_guard lock(mutex_);
    return snapshot_;
  }
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Installs next; cannot fail.
  void publish(std::shared_ptr<const Snapshot> next) noexcept {
    const std::uint64_t generation = next->generation();
    {
      std::lock_guard lock(mutex_);
      snapshot_.swap(next);
    }
    generation_.store(generation, std::memory_order_release);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::atomic<std::uint64_t> generation_;
};

}  // namespace ringproxy
