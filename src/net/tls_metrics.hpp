// TLS handshake counters per TLS listener, for /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

namespace ringproxy {

// Why a handshake failed, as /metrics labels it.
enum class TlsFailure : std::size_t {
  timeout,
  closed,
  protocol_version,
  no_shared_cipher,
  no_client_certificate,
  bad_client_certificate,
  http_request,
  other,
};
inline constexpr std::array<std::string_view, 8> kTlsFailureNames = {"timeout",
                                                                     "closed",
                                                                     "protocol_version",
                                                                     "no_shared_cipher",
                                                                     "no_client_certificate",
                                                                     "bad_client_certificate",
                                                                     "http_request",
                                                                     "other"};

// One TLS listener's counters. Thread-safe (relaxed atomics; every worker adds).
struct TlsListenerCounters {
  explicit TlsListenerCounters(std::string address) : listener(std::move(address)) {}
  std::string listener;
  std::atomic<std::uint64_t> handshakes{0};  // completed
  std::atomic<std::uint64_t> resumed{0};     // of those, resumed sessions
  std::array<std::atomic<std::uint64_t>, kTlsFailureNames.size()> failures{};

  void count_failure(TlsFailure why) {
    failures[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  }
};

// The process's TLS listener counters, by listen address; made once per address and kept for
// the process's life (a listener removed by a reload keeps its totals). Thread-safe.
class TlsMetrics {
 public:
  static TlsMetrics& process() {
    static TlsMetrics metrics;
    return metrics;
  }
  TlsListenerCounters& listener(const std::string& address) {
    std::lock_guard lock(mutex_);
    for (auto& c : counters_) {
      if (c.listener == address) return c;
    }
    return counters_.emplace_back(address);
  }
  template <class F>
  void for_each(F&& f) const {
    std::lock_guard lock(mutex_);
    for (const auto& c : counters_) f(c);
  }

 private:
  mutable std::mutex mutex_;
  std::deque<TlsListenerCounters> counters_;
};

}  // namespace ringproxy
