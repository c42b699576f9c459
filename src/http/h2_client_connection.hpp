// One HTTP/2 connection to a backend: its stream (TCP or TLS), its nghttp2 session, the loop
// that reads it and the writes the session asks for; shared by the requests multiplexed on it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>

#include "http/h2_client_session.hpp"
#include "net/upstream_pool.hpp"
#include "net/worker.hpp"
#include "net/worker_socket.hpp"
#include "policy/h2_placement.hpp"

namespace ringproxy {

// A backend connection speaking HTTP/2: made while it connects (streams may be placed on it
// and wait for ready()), started with the connected stream, closed when the backend or the
// pool ends it. Kept alive by the pool, by its read loop and by the streams on it
// (shared_from_this). Worker thread only.
class H2ClientConnection : public std::enable_shared_from_this<H2ClientConnection> {
 public:
  enum class State { connecting, open, closed };

  H2ClientConnection(const boost::asio::io_context::executor_type& ex, bool tls);
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
  std::chrono::steady_clock::time_point idle_since() const { return idle_since_; }
  std::uint32_t streams() const { return streams_; }

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
  std::chrono::steady_clock::time_point idle_since_ = std::chrono::steady_clock::now();
};

// A worker's HTTP/2 connections, by backend slot: where a new stream goes (place_h2_stream),
// idle ones closed after a while. Worker thread only.
class H2ConnectionPool final : public MultiplexedPool {
 public:
  explicit H2ConnectionPool(const boost::asio::io_context::executor_type& ex);
  ~H2ConnectionPool() override;

  // The connection a new stream to the backend in slot goes on, with the stream counted on
  // it; nullptr when the caller must open one (it then calls add()).
  std::shared_ptr<H2ClientConnection> place(std::uint32_t slot, bool tls);
  // A new connection for slot in state connecting, with the caller's stream counted on it.
  std::shared_ptr<H2ClientConnection> add(std::uint32_t slot, bool tls);
  void retain_only(const std::vector<bool>& live_slots) override;

  // Connections per backend and worker before streams queue on the least loaded.
  static constexpr std::size_t kMaxConnections = 8;
  static constexpr std::chrono::seconds kMaxIdle{60};

 private:
  void schedule_sweep();
  void sweep();

  boost::asio::io_context::executor_type ex_;
  WorkerTimer sweep_timer_;
  std::vector<std::vector<std::shared_ptr<H2ClientConnection>>> by_slot_;
};

}  // namespace ringproxy
