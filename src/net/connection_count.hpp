// Client connections held by the process, against server.max_connections.
#pragma once

#include <atomic>
#include <cstddef>

namespace ringproxy {

// Thread-safe (relaxed atomics): every worker admits and closes, a reload sets the maximum.
class ConnectionCount {
 public:
  explicit ConnectionCount(std::size_t max) : max_(max) {}

  // Counts one more connection, or refuses it (counting nothing) at the maximum.
  bool admit() {
    if (count_.fetch_add(1, std::memory_order_relaxed) >= max_.load(std::memory_order_relaxed)) {
      count_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void closed() { count_.fetch_sub(1, std::memory_order_relaxed); }
  std::size_t active() const { return count_.load(std::memory_order_relaxed); }
  void set_max(std::size_t max) { max_.store(max, std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> count_{0};
  std::atomic<std::size_t> max_;
};

}  // namespace ringproxy
