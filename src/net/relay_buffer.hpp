// Fixed-size body relay buffers, recycled through a per-worker free list.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace ringproxy {

// A worker's spare relay buffers; used only on that worker's thread (not thread-safe), except
// spare_bytes(), which any thread may read.
class RelayBufferPool {
 public:
  static constexpr std::size_t kBufferSize = 64 * 1024;
  static constexpr std::size_t kMaxSpare = 256;

  std::unique_ptr<char[]> take() {
    if (spare_.empty()) return std::unique_ptr<char[]>(new char[kBufferSize]);
    auto b = std::move(spare_.back());
    spare_.pop_back();
    spare_count_.store(spare_.size(), std::memory_order_relaxed);
    return b;
  }
  void give_back(std::unique_ptr<char[]> b) {
    if (spare_.size() < kMaxSpare) {
      spare_.push_back(std::move(b));
      spare_count_.store(spare_.size(), std::memory_order_relaxed);
    }
  }

  // Bytes held for reuse now (a relaxed read: for /metrics).
  std::size_t spare_bytes() const {
    return spare_count_.load(std::memory_order_relaxed) * kBufferSize;
  }

 private:
  std::vector<std::unique_ptr<char[]>> spare_;
  std::atomic<std::size_t> spare_count_{0};  // spare_.size(), for other threads
};

// One request's relay buffer, borrowed from the pool for the request's lifetime.
class RelayBuffer {
 public:
  explicit RelayBuffer(RelayBufferPool& pool) : pool_(pool), data_(pool.take()) {}
  ~RelayBuffer() { pool_.give_back(std::move(data_)); }
  RelayBuffer(const RelayBuffer&) = delete;
  RelayBuffer& operator=(const RelayBuffer&) = delete;

  char* data() { return data_.get(); }
  static constexpr std::size_t size() { return RelayBufferPool::kBufferSize; }

 private:
  RelayBufferPool& pool_;
  std::unique_ptr<char[]> data_;
};

}  // namespace ringproxy
