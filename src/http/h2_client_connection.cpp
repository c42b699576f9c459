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

H2ClientConnection::H2ClientConnection(const asio::io_context::executor_type& ex, bool tls)
    : ready_(ex, std::chrono::steady_clock::time_point::max()), tls_(tls) {}

void H2ClientConnection::start(std::unique_ptr<UpstreamConnection> c) {
  conn_ = std::move(c);
  state_ = State::open;
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
  session_.fail_all();
}

void H2ClientConnection::remove_stream() {
  if (streams_ > 0) --streams_;
  if (streams_ == 0) idle_since_ = std::chrono::steady_clock::now();
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
    if (!session_.receive(static_cast<const std::uint8_t*>(space.data()), n)) break;
    flush();
  }
  boost::system::error_code ignored;
  stream.close(ignored);
  lost();
}

H2ConnectionPool::H2ConnectionPool(const asio::io_context::executor_type& ex)
    : ex_(ex), sweep_timer_(ex) {}

H2ConnectionPool::~H2ConnectionPool() {
  for (auto& list : by_slot_) {
    for (auto& c : list) c->close();
  }
}

std::shared_ptr<H2ClientConnection> H2ConnectionPool::place(std::uint32_t slot, bool tls) {
  if (slot >= by_slot_.size()) by_slot_.resize(slot + 1);
  auto& list = by_slot_[slot];
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

std::shared_ptr<H2ClientConnection> H2ConnectionPool::add(std::uint32_t slot, bool tls) {
  if (slot >= by_slot_.size()) by_slot_.resize(slot + 1);
  auto c = std::make_shared<H2ClientConnection>(ex_, tls);
  c->add_stream();
  by_slot_[slot].push_back(c);
  schedule_sweep();
  return c;
}

void H2ConnectionPool::retain_only(const std::vector<bool>& live_slots) {
  for (std::size_t slot = 0; slot < by_slot_.size(); ++slot) {
    if (slot < live_slots.size() && live_slots[slot]) continue;
    for (auto& c : by_slot_[slot]) c->close();
    by_slot_[slot].clear();
  }
}

void H2ConnectionPool::schedule_sweep() {
  if (sweep_timer_.expiry() > std::chrono::steady_clock::now()) return;  // already pending
  sweep_timer_.expires_after(std::chrono::seconds(5));
  // The pool is a Worker member and outlives its io_context's run: `this` is safe here.
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) sweep();
  });
}

void H2ConnectionPool::sweep() {
  const auto now = std::chrono::steady_clock::now();
  bool any = false;
  for (auto& list : by_slot_) {
    std::erase_if(list, [now](const std::shared_ptr<H2ClientConnection>& c) {
      if (c->state() == H2ClientConnection::State::closed) return true;
      if (c->streams() > 0 || now - c->idle_since() < kMaxIdle) return false;
      c->close();
      return true;
    });
    any = any || !list.empty();
  }
  if (any) schedule_sweep();
}

}  // namespace ringproxy
