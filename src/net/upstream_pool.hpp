// Per-worker keep-alive connections to backends, indexed by backend slot.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "net/backend_stream.hpp"
#include "net/message_arena.hpp"
#include "net/worker_socket.hpp"

namespace ringproxy {

// One connection to a backend with its read buffer. Owned by one session at a time.
struct UpstreamConnection {
  UpstreamConnection(const boost::asio::io_context::executor_type& ex, UpstreamBufferPool& buffers)
      : stream(ex), buffer(128 * 1024, BlockAllocator<char, UpstreamBufferPool>(buffers)) {}
  BackendStream stream;  // TCP, or TLS for an upstream with tls = {...}
  // Its usual 16 KiB (a response head and body in one read) comes from the worker's pool and
  // goes back while the connection idles in the pool.
  boost::beast::basic_flat_buffer<BlockAllocator<char, UpstreamBufferPool>> buffer;
  std::chrono::steady_clock::time_point idle_since{};
  std::uint64_t uses = 0;  // requests sent over it so far
};

// The idle connections of one worker; used only on that worker's thread (not thread-safe),
// except idle_count(), which any thread may read.
class UpstreamPool {
 public:
  explicit UpstreamPool(const boost::asio::io_context::executor_type& ex);

  // A live idle connection to the backend in slot, or nullptr. Connections the peer has
  // closed, or idle longer than max_idle_time, are dropped on the way. A connection idle for
  // less than trust_idle_for is not checked, unless always_check: a request that cannot be
  // sent twice (POST) should not find out after its body went that the backend died.
  std::unique_ptr<UpstreamConnection> acquire(std::uint32_t slot, bool always_check = false);
  // Keeps conn for reuse unless the slot already holds max_idle connections or the pool
  // max_total (over all backends): the default max_idle is unlimited, so the pool keeps what
  // the load opened (as HAProxy's does), bounded by max_total and max_idle_time.
  void release(std::uint32_t slot, std::unique_ptr<UpstreamConnection> conn, std::size_t max_idle,
               std::size_t max_total);
  // Closes every idle connection (shutdown).
  void clear();
  // Closes the idle connections of backends whose slot is not live (a reload removed them).
  void retain_only(const std::vector<bool>& live_slots);
  // Number of idle connections held (a relaxed read: for /metrics).
  std::size_t idle_count() const { return idle_count_.load(std::memory_order_relaxed); }

  static constexpr std::chrono::seconds max_idle_time{60};
  // Idle for less than this, a connection is reused without checking that it is still open.
  static constexpr std::chrono::seconds trust_idle_for{1};

 private:
  void schedule_sweep();
  void sweep();
  void recount();  // refreshes idle_count_ after idle_ changed

  WorkerTimer sweep_timer_;
  std::vector<std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
  bool stopped_ = false;
  std::atomic<std::size_t> idle_count_{0};
};

}  // namespace ringproxy
