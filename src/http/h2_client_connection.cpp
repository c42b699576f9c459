// An HTTP/2 connection to a backend and the worker's pool of them (see h2_client_connection.hpp).
#include "http/h2_client_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <tuple>

namespace ringproxy {

namespace asio = boost::asio;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadSize = 16 * 1024;
}  // namespace

H2ClientConnection::H2ClientConnection(const asio::io_context::executor_type& ex, bool tls,
                                       WorkerMetrics::BackendCounts* counts)
    : ready_(ex, std::chrono::steady_clock::time_point::max()), tls_(tls), counts_(counts) {}

void H2ClientConnection::start(std::unique_ptr<UpstreamConnection> c) {
  conn_ = std::move(c);
  state_ = State::open;
  last_read_ = Clock::now();
  counted_ = true;
  WorkerMetrics::add_h2_upstream_connection(counts_, 1);
  ready_.cancel();
  asio::co_spawn(conn_->stream.get_executor(), read_loop(), asio::detached);
  flush();  // the preface and SETTINGS, and the streams already submitted
}

void H2ClientConnection::fail() {
  state_ = State::closed;
  ready_.cancel();
}

void H2ClientConnection::close() {
  if (state_ == State::connecting) fail();
  if (conn_) {
    boost::system::error_code ignored;
    conn_->stream.close(ignored);  // the read loop ends and calls lost()
  }
  lost();
}

void H2ClientConnection::lost() {
  state_ = State::closed;
  if (counted_) {
    counted_ = false;
    WorkerMetrics::add_h2_upstream_connection(counts_, -1);
  }
  session_.fail_all();
}

void H2ClientConnection::remove_stream() {
  if (streams_ > 0) --streams_;
  if (streams_ == 0) idle_since_ = Clock::now();
}

H2ConnectionTimes H2ClientConnection::times() const {
  H2ConnectionTimes t;
  t.streams = streams_;
  t.open = state_ == State::open;
  t.usable = load().usable;
  t.idle_since = idle_since_;
  t.last_read = last_read_;
  t.ping_sent = ping_sent_;
  return t;
}

void H2ClientConnection::ping() {
  if (state_ != State::open || ping_sent_ || !session_.ping()) return;
  ping_sent_ = Clock::now();
  flush();
}

H2ConnectionLoad H2ClientConnection::load() const {
  return H2ConnectionLoad{streams_, state_ == State::connecting ? 100U : session_.max_streams(),
                          state_ != State::closed && !session_.going_away() && session_.ids_left()};
}

void H2ClientConnection::flush() {
  if (writing_ || state_ != State::open) return;
  for (;;) {
    const std::string_view out = session_.output();
    if (out.empty()) break;
    boost::system::error_code ec;
    const std::size_t n = conn_->stream.write_now(asio::buffer(out.data(), out.size()), ec);
    if (ec) {
      close();
      return;
    }
    if (n < out.size()) {
      session_.sent(0);
      writing_ = true;
      asio::co_spawn(
          conn_->stream.get_executor(),
          [self = shared_from_this(), n]() -> asio::awaitable<void> {
            const std::string_view rest = self->session_.output();
            const auto ec =
                co_await self->conn_->stream.write_rest(asio::buffer(rest.data(), rest.size()), n);
            self->writing_ = false;
            if (ec) {
              self->close();
              co_return;
            }
            self->session_.sent(rest.size());
            self->flush();
          },
          asio::detached);
      return;
    }
    session_.sent(n);
  }
  if (!session_.alive() && session_.attached() == 0) close();
}

asio::awaitable<void> H2ClientConnection::read_loop() {
  const auto self = shared_from_this();
  auto& stream = conn_->stream;
  auto& buffer = conn_->buffer;
  while (state_ == State::open) {
    boost::system::error_code ec;
    const auto space = buffer.prepare(kReadSize);
    const std::size_t n = stream.read_now(space, ec);
    if (ec) break;
    if (n == 0) {
      std::tie(ec) = co_await stream.async_wait_readable(use_nothrow);
      if (ec) break;
      continue;
    }
    last_read_ = Clock::now();
    if (!session_.receive(static_cast<const std::uint8_t*>(space.data()), n)) break;
    if (session_.pings_acked() != pings_acked_) {
      pings_acked_ = session_.pings_acked();
      ping_sent_.reset();
    }
    flush();
  }
  boost::system::error_code ignored;
  stream.close(ignored);
  lost();
}

H2ConnectionPool::H2ConnectionPool(const asio::io_context::executor_type& ex,
                                   WorkerMetrics& metrics)
    : ex_(ex), metrics_(metrics), sweep_timer_(ex) {}

H2ConnectionPool::~H2ConnectionPool() {
  for (auto& s : by_slot_) {
    for (auto& c : s.connections) c->close();
  }
}

H2ConnectionPool::Slot& H2ConnectionPool::slot(std::uint32_t index) {
  if (index >= by_slot_.size()) by_slot_.resize(index + 1);
  return by_slot_[index];
}

std::shared_ptr<H2ClientConnection> H2ConnectionPool::place(std::uint32_t index, bool tls,
                                                            std::size_t max_idle) {
  Slot& s = slot(index);
  s.max_idle = max_idle;
  auto& list = s.connections;
  std::erase_if(list, [tls](const std::shared_ptr<H2ClientConnection>& c) {
    return c->state() == H2ClientConnection::State::closed || c->tls() != tls;
  });
  std::vector<H2ConnectionLoad> loads;
  loads.reserve(list.size());
  for (const auto& c : list) loads.push_back(c->load());
  const H2Placement p = place_h2_stream(loads, kMaxConnections);
  if (p.kind == H2Placement::Kind::open_new) return nullptr;
  list[p.index]->add_stream();
  return list[p.index];
}

std::shared_ptr<H2ClientConnection> H2ConnectionPool::add(std::uint32_t index, bool tls) {
  auto c = std::make_shared<H2ClientConnection>(ex_, tls, metrics_.backend(index));
  c->add_stream();
  slot(index).connections.push_back(c);
  schedule_sweep();
  return c;
}

void H2ConnectionPool::retain_only(const std::vector<bool>& live_slots) {
  for (std::size_t index = 0; index < by_slot_.size(); ++index) {
    if (index < live_slots.size() && live_slots[index]) continue;
    for (auto& c : by_slot_[index].connections) c->close();
    by_slot_[index].connections.clear();
  }
}

void H2ConnectionPool::schedule_sweep() {
  if (sweep_timer_.expiry() > std::chrono::steady_clock::now()) return;  // already pending
  sweep_timer_.expires_after(kUpkeepTick);
  // The pool is a Worker member and outlives its io_context's run: `this` is safe here.
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) sweep();
  });
}

void H2ConnectionPool::sweep() {
  const auto now = std::chrono::steady_clock::now();
  bool any = false;
  for (std::uint32_t index = 0; index < by_slot_.size(); ++index) {
    upkeep(index, by_slot_[index], now);
    any = any || !by_slot_[index].connections.empty();
  }
  if (any) schedule_sweep();
}

void H2ConnectionPool::upkeep(std::uint32_t index, Slot& slot,
                              std::chrono::steady_clock::time_point now) {
  auto& list = slot.connections;
  std::erase_if(list, [](const std::shared_ptr<H2ClientConnection>& c) {
    return c->state() == H2ClientConnection::State::closed;
  });
  if (list.empty()) return;
  std::vector<H2ConnectionTimes> times;
  times.reserve(list.size());
  for (const auto& c : list) times.push_back(c->times());
  H2UpkeepLimits limits;
  limits.max_idle_connections = slot.max_idle;
  std::vector<H2Upkeep> plan(list.size(), H2Upkeep::keep);
  plan_h2_upkeep(times, now, limits, plan);
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (plan[i] == H2Upkeep::ping) list[i]->ping();
    if (plan[i] == H2Upkeep::close_dead) {
      WorkerMetrics::count_h2_ping_timeout(metrics_.backend(index));
    }
    if (plan[i] != H2Upkeep::keep && plan[i] != H2Upkeep::ping) list[i]->close();
  }
  std::erase_if(list, [](const std::shared_ptr<H2ClientConnection>& c) {
    return c->state() == H2ClientConnection::State::closed;
  });
}

}  // namespace ringproxy
