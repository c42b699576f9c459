// One HTTP/2 connection to a backend: its stream (TCP or TLS), its nghttp2 session, the loop
// that reads it and the writes the session asks for; shared by the requests multiplexed on it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "http/h2_client_session.hpp"
#include "net/upstream_pool.hpp"
#include "net/worker.hpp"
#include "net/worker_metrics.hpp"
#include "net/worker_socket.hpp"
#include "policy/h2_placement.hpp"
#include "policy/h2_upkeep.hpp"

namespace ringproxy {

// A backend connection speaking HTTP/2: made while it connects (streams may be placed on it
// and wait for ready()), started with the connected stream, closed when the backend or the
// pool ends it. Kept alive by the pool, by its read loop and by the streams on it
// (shared_from_this). Worker thread only.
class H2ClientConnection : public std::enable_shared_from_this<H2ClientConnection> {
 public:
  enum class State { connecting, open, closed };
  using Clock = std::chrono::steady_clock;

  // counts: the backend's counters (open connections counted from start() to the close).
  H2ClientConnection(const boost::asio::io_context::executor_type& ex, bool tls,
                     WorkerMetrics::BackendCounts* counts);
  H2ClientConnection(const H2ClientConnection&) = delete;
  H2ClientConnection& operator=(const H2ClientConnection&) = delete;

  // Takes the connected (and, for h2, TLS-agreed) connection: sends the preface and starts
  // reading. Streams waiting on ready() go on.
  void start(std::unique_ptr<UpstreamConnection> c);
  // Connecting failed: streams waiting on ready() learn it (state closed).
  void fail();
  // Closes the socket; the streams on it are closed (refused when the backend said so).
  void close();

  State state() const { return state_; }
  bool tls() const { return tls_; }
  // Cancelled when the state leaves connecting: streams wait on it with their deadline.
  WorkerTimer& ready() { return ready_; }
  H2ClientSession& session() { return session_; }
  // Writes what the session has to say, now, or from a writer coroutine when the socket is full.
  void flush();

  // Streams placed on it (counted from placement to their end), for placement and idling.
  void add_stream() { ++streams_; }
  void remove_stream();
  H2ConnectionLoad load() const;
  std::uint32_t streams() const { return streams_; }
  // Its times for upkeep (plan_h2_upkeep), and a keep-alive PING sent now.
  H2ConnectionTimes times() const;
  void ping();

 private:
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  void lost();

  H2ClientSession session_;
  std::unique_ptr<UpstreamConnection> conn_;
  WorkerTimer ready_;
  State state_ = State::connecting;
  bool tls_;
  bool writing_ = false;
  std::uint32_t streams_ = 0;
  Clock::time_point idle_since_ = Clock::now();
  Clock::time_point last_read_ = idle_since_;
  std::optional<Clock::time_point> ping_sent_;  // a PING not yet acknowledged
  std::uint64_t pings_acked_ = 0;               // the session's ACK count, as last seen
  WorkerMetrics::BackendCounts* counts_;
  bool counted_ = false;  // in counts_->h2_connections
};

// A worker's HTTP/2 connections, by backend slot: where a new stream goes (place_h2_stream);
// once a second the upkeep (plan_h2_upkeep): keep-alive PINGs on idle ones, those that do not
// answer dropped, idle ones closed after a while or beyond max_idle_per_backend. Worker
// thread only.
class H2ConnectionPool final : public MultiplexedPool {
 public:
  H2ConnectionPool(const boost::asio::io_context::executor_type& ex, WorkerMetrics& metrics);
  ~H2ConnectionPool() override;

  // The connection a new stream to the backend in slot goes on, with the stream counted on
  // it; nullptr when the caller must open one (it then calls add()). max_idle: the
  // upstream's max_idle_per_backend, kept for the slot's upkeep.
  std::shared_ptr<H2ClientConnection> place(std::uint32_t slot, bool tls, std::size_t max_idle);
  // A new connection for slot in state connecting, with the caller's stream counted on it.
  std::shared_ptr<H2ClientConnection> add(std::uint32_t slot, bool tls);
  void retain_only(const std::vector<bool>& live_slots) override;

  // Connections per backend and worker before streams queue on the least loaded.
  static constexpr std::size_t kMaxConnections = 8;
  static constexpr std::chrono::seconds kUpkeepTick{1};

 private:
  // One backend's connections, and its upstream's max_idle_per_backend.
  struct Slot {
    std::vector<std::shared_ptr<H2ClientConnection>> connections;
    std::size_t max_idle = H2UpkeepLimits{}.max_idle_connections;
  };
  Slot& slot(std::uint32_t index);
  void schedule_sweep();
  void sweep();
  // One slot's upkeep: PINGs sent, connections closed (and dropped from the list).
  void upkeep(std::uint32_t index, Slot& slot, std::chrono::steady_clock::time_point now);

  boost::asio::io_context::executor_type ex_;
  WorkerMetrics& metrics_;
  WorkerTimer sweep_timer_;
  std::vector<Slot> by_slot_;
};

}  // namespace ringproxy
