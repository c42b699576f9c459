#include "net/upstream_pool.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "net/coarse_clock.hpp"

namespace ringproxy {

namespace {

// True when the peer has not closed or written to an idle connection (one recv, no wait).
bool still_open(UpstreamConnection& c) {
  char byte;
  const ssize_t n = ::recv(c.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

UpstreamPool::UpstreamPool(const boost::asio::io_context::executor_type& ex) : sweep_timer_(ex) {}

std::unique_ptr<UpstreamConnection> UpstreamPool::acquire(std::uint32_t slot, bool always_check) {
  if (slot >= idle_.size()) return nullptr;
  auto& list = idle_[slot];
  const auto now = coarse_now();
  while (!list.empty()) {
    auto conn = std::move(list.back());
    list.pop_back();
    idle_count_.store(idle_count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    const auto idle = now - conn->idle_since;
    // A connection used moments ago is taken on trust (a recv per request is a syscall per
    // request); one idle longer may have met the backend's keep-alive timeout, so look first.
    // A stale one is still caught after the write (retried for idempotent requests).
    if (idle < max_idle_time && ((idle < trust_idle_for && !always_check) || still_open(*conn))) {
      return conn;
    }
    boost::system::error_code ignored;
    conn->stream.close(ignored);
  }
  return nullptr;
}

void UpstreamPool::release(std::uint32_t slot, std::unique_ptr<UpstreamConnection> conn,
                           std::size_t max_idle, std::size_t max_total) {
  if (stopped_) return;
  if (slot >= idle_.size()) idle_.resize(slot + 1);
  auto& list = idle_[slot];
  // conn closes as it goes out of scope
  if (list.size() >= max_idle || idle_count_.load(std::memory_order_relaxed) >= max_total) return;
  conn->idle_since = coarse_now();
  conn->buffer.clear();
  conn->buffer.shrink_to_fit();  // its block back to the worker's pool while it idles
  list.push_back(std::move(conn));
  idle_count_.store(idle_count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  schedule_sweep();
}

void UpstreamPool::clear() {
  stopped_ = true;
  idle_.clear();
  recount();
  sweep_timer_.cancel();
}

void UpstreamPool::retain_only(const std::vector<bool>& live_slots) {
  for (std::size_t slot = 0; slot < idle_.size(); ++slot) {
    if (slot >= live_slots.size() || !live_slots[slot]) idle_[slot].clear();
  }
  recount();
}

void UpstreamPool::recount() {
  std::size_t n = 0;
  for (const auto& l : idle_) n += l.size();
  idle_count_.store(n, std::memory_order_relaxed);
}

void UpstreamPool::schedule_sweep() {
  if (sweep_timer_.expiry() > std::chrono::steady_clock::now()) return;  // already pending
  sweep_timer_.expires_after(std::chrono::seconds(5));
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    // The pool outlives its io_context's run (it is a Worker member), so `this` is safe here.
    if (!ec) sweep();
  });
}

void UpstreamPool::sweep() {
  const auto now = coarse_now();
  bool any = false;
  for (auto& list : idle_) {
    std::erase_if(list, [&](const std::unique_ptr<UpstreamConnection>& c) {
      return now - c->idle_since >= max_idle_time || !still_open(*c);
    });
    any = any || !list.empty();
  }
  recount();
  if (any) schedule_sweep();
}

}  // namespace ringproxy
