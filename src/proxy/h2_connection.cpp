// One HTTP/2 client connection: its lifecycle, read and write loops (see h2_connection.hpp;
// the streams' events are in h2_exchange.cpp).
#include "proxy/h2_connection.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "log/log.hpp"
#include "proxy/downstream_connection.hpp"

namespace ringproxy {

namespace asio = boost::asio;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadSize = 16 * 1024;
constexpr std::size_t kWriteBatch = 64 * 1024;  // frames gathered into one write at most
// After the session ends, what the client still sends is read and dropped this long, so that
// a reset does not destroy the GOAWAY (a lingering close, as for HTTP/1.1).
constexpr std::chrono::seconds kLinger{2};
constexpr std::size_t kPreface = 24;  // the client's "PRI * HTTP/2.0..." (RFC 9113 §3.4)
constexpr std::uint8_t kHeadersFrame = 0x1;
constexpr std::size_t kStartBatch = 8;  // streams opened before their pipelines start
constexpr std::size_t kPackBatch = 8;   // stream events before their frames are packed

H2SessionLimits session_limits(const ServerConfig& server) {
  H2SessionLimits limits;
  limits.max_header_list = static_cast<std::uint32_t>(server.max_header_bytes);
  limits.max_continuations = H2FloodLimits{}.max_continuations + 1;  // ours answers first
  // Extended CONNECT (RFC 8441) only where WebSocket upgrades are tunnelled at all.
  for (const std::string& p : server.upgrade_protocols) {
    limits.enable_connect_protocol = limits.enable_connect_protocol || p == "websocket";
  }
  return limits;
}

H2FloodLimits flood_limits(const ServerConfig& server) {
  H2FloodLimits limits;
  // HPACK makes a block smaller than its fields, rarely larger: twice the head limit.
  limits.max_header_block = 2 * server.max_header_bytes;
  return limits;
}

template <class Stream>
void start(Worker& worker, Stream stream, const ClientIdentity& client, std::string_view early) {
  std::make_shared<H2Connection<Stream>>(worker, std::move(stream), client, early)->start();
}
}  // namespace

void start_h2_connection(Worker& worker, TcpStream stream, const ClientIdentity& client,
                         std::string_view early) {
  start(worker, std::move(stream), client, early);
}

void start_h2_connection(Worker& worker, TlsStream stream, const ClientIdentity& client,
                         std::string_view early) {
  start(worker, std::move(stream), client, early);
}

template <class Stream>
H2Connection<Stream>::H2Connection(Worker& worker, Stream stream, const ClientIdentity& client,
                                   std::string_view early)
    : worker_(worker),
      stream_(std::move(stream)),
      client_(client),
      early_(early),
      session_(*this, session_limits(worker.snapshot()->config().server)),
      guard_(flood_limits(worker.snapshot()->config().server)),
      cutter_(kPreface),
      max_header_bytes_(worker.snapshot()->config().server.max_header_bytes),
      writer_(stream_.get_executor()),
      idle_timeout_(worker.snapshot()->config().server.idle_timeout) {
  // The preface and first request are due within client_header_timeout, as a first head.
  idle_deadline_ = Clock::now() + worker.snapshot()->config().server.client_header_timeout;
  worker_.session_started(this);
  worker_.metrics().add_h2_connection(1);
}

template <class Stream>
H2Connection<Stream>::~H2Connection() {
  for (auto& [id, x] : exchanges_) {
    if (!x.pipe) continue;
    x.pipe->events = nullptr;
    x.pipe->reset();
  }
  worker_.metrics().add_h2_memory(-static_cast<std::int64_t>(reported_memory_));
  worker_.metrics().add_h2_connection(-1);
  worker_.session_ended(this);
  worker_.connections().closed();
}

template <class Stream>
void H2Connection<Stream>::start() {
  auto self = this->shared_from_this();
  asio::co_spawn(
      stream_.get_executor(), [self] { return self->read_loop(); }, asio::detached);
  asio::co_spawn(
      stream_.get_executor(), [self] { return self->write_loop(); }, asio::detached);
}

template <class Stream>
void H2Connection<Stream>::drain() {
  // GOAWAY: no new streams; those in flight finish (their pipelines drain on their own).
  session_.goaway(0, true);
  wake_writer();
}

template <class Stream>
void H2Connection<Stream>::listener_closed(const asio::ip::tcp::endpoint& listener) {
  if (accepted_through(local_endpoint(), listener)) drain();
}

template <class Stream>
asio::ip::tcp::endpoint H2Connection<Stream>::local_endpoint() {
  boost::system::error_code ec;
  auto local = stream_.socket().local_endpoint(ec);
  return ec ? asio::ip::tcp::endpoint() : local;
}

template <class Stream>
void H2Connection<Stream>::expire_if_due(Clock::time_point now) {
  if (closed_) return;
  if (now >= idle_deadline_) {
    idle_deadline_ = Clock::time_point::max();
    session_.goaway(0, true);  // idle: a graceful GOAWAY, then the close
    wake_writer();
  }
  if (now >= write_deadline_ || now >= linger_deadline_) {
    write_deadline_ = linger_deadline_ = Clock::time_point::max();
    boost::system::error_code ignored;
    stream_.cancel(ignored);
    if (discarding_) close();
  }
}

template <class Stream>
void H2Connection<Stream>::report_memory() {
  std::size_t now = session_.memory() + out_.capacity() + packed_.capacity() + head_.memory();
  for (const auto& [id, x] : exchanges_) {
    if (x.pipe) now += x.pipe->in.capacity() + x.pipe->out.capacity();
  }
  worker_.metrics().add_h2_memory(static_cast<std::int64_t>(now) -
                                  static_cast<std::int64_t>(reported_memory_));
  reported_memory_ = now;
}

template <class Stream>
void H2Connection<Stream>::end_session() {
  if (discarding_) return;
  discarding_ = true;
  linger_deadline_ = Clock::now() + kLinger;
  if (guard_.flooded() || session_.goaway_code() == 11 /* ENHANCE_YOUR_CALM */) {
    worker_.metrics().count_h2_flood();
    if (!flood_logged_) {
      flood_logged_ = true;
      log::info("HTTP/2 connection from " + client_.ip +
                " sent frames faster than a client needs: GOAWAY ENHANCE_YOUR_CALM");
    }
  }
  wake_writer();
}

template <class Stream>
asio::awaitable<void> H2Connection<Stream>::read_loop() {
  if (!early_.empty()) {
    const bool ok = take_input(early_.data(), early_.size());
    early_.clear();
    early_.shrink_to_fit();
    if (!ok) end_session();
    report_memory();  // the streams those bytes opened count now, not at the next read
    wake_writer();
  }
  // Its listener closed while the connection was on its way here (a TLS handshake, the
  // park): GOAWAY after the streams its first bytes opened.
  if (!worker_.accepting_on(local_endpoint())) drain();
  std::array<char, kReadSize> buffer;
  while (!closed_) {
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(buffer), use_nothrow);
    if (ec) break;
    if (discarding_) continue;
    if (!take_input(buffer.data(), n)) end_session();
    report_memory();
    wake_writer();
  }
  reader_done_ = true;
  wake_writer();
  if (writer_done_) close();
}

template <class Stream>
bool H2Connection<Stream>::take_input(const char* data, std::size_t n) {
  bool ok = true;
  while (n > 0 && ok) {
    const std::size_t k = cutter_.next(reinterpret_cast<const std::uint8_t*>(data), n);
    ok = session_.receive(data, k);
    if (guard_.flooded()) {
      session_.goaway(11, false);  // ENHANCE_YOUR_CALM
      ok = false;
    }
    data += k;
    n -= k;
    // The streams frames opened start while what they just allocated is in the cache: a few
    // at a time (the code of nghttp2's input and of the pipeline then take turns in the
    // instruction cache in runs), before the next HEADERS, or once the bytes are through. A
    // reset right behind its stream's HEADERS (rapid reset) still comes first, and that
    // stream never reaches a backend.
    if (n >= 4 && static_cast<std::uint8_t>(data[3]) == kHeadersFrame &&
        starting_.size() >= kStartBatch) {
      start_streams();
    }
  }
  start_streams();
  return ok;
}

template <class Stream>
void H2Connection<Stream>::start_streams() {
  // By index, not by iterator: the pipelines' first steps run here, and the walk stays safe
  // even if one of them ever opened a stream (none does).
  for (std::size_t i = 0; i < starting_.size(); ++i) {
    const auto conn = std::move(starting_[i]);
    conn->start();
  }
  starting_.clear();
}

template <class Stream>
void H2Connection<Stream>::pack_soon() {
  // In runs: the code that packs and the pipeline's then take turns in the instruction cache
  // a few streams at a time, and the last few streams' objects are still in the data cache.
  if (++unpacked_ >= kPackBatch && packed_.size() < kWriteBatch) {
    unpacked_ = 0;
    session_.send(packed_, kWriteBatch);
  }
  wake_writer();
}

template <class Stream>
asio::awaitable<void> H2Connection<Stream>::write_loop() {
  for (;;) {
    // What was packed since the last write first, then what else nghttp2 has ready.
    out_.clear();
    out_.swap(packed_);
    if (out_.size() < kWriteBatch) session_.send(out_, kWriteBatch);
    unpacked_ = 0;
    if (out_.empty()) {
      if (reader_done_ || discarding_ || !session_.alive()) break;
      co_await writer_.wait(false, nullptr, use_nothrow);
      if (closed_) break;
      continue;
    }
    write_deadline_ = Clock::now() + idle_timeout_;
    const auto bytes = asio::buffer(out_.data(), out_.size());
    boost::system::error_code ec;
    const std::size_t n = stream_.write_now(bytes, ec);
    if (!ec && n < out_.size()) ec = co_await stream_.write_rest(bytes, n);
    write_deadline_ = Clock::time_point::max();
    if (ec) break;
  }
  writer_done_ = true;
  if (reader_done_ || closed_) {
    close();
    co_return;
  }
  // Half-close after the last frame (GOAWAY); the read loop drops what still comes.
  if (!discarding_) {
    discarding_ = true;
    linger_deadline_ = Clock::now() + kLinger;
  }
  boost::system::error_code ignored;
  stream_.shutdown_send(ignored);
}

template <class Stream>
void H2Connection<Stream>::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  stream_.close(ignored);
  writer_.notify(asio::error::operation_aborted);
}

template class H2Connection<TcpStream>;
template class H2Connection<TlsStream>;

}  // namespace ringproxy
