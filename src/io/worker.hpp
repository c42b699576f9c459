// One event-loop thread with its io_context, acceptors, upstream pool and client sessions.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include "io/access_log.hpp"
#include "io/message_arena.hpp"
#include "io/relay_buffer.hpp"
#include "io/upstream_pool.hpp"
#include "io/worker_metrics.hpp"
#include "ringproxy/request_id.hpp"
#include "ringproxy/snapshot.hpp"

namespace ringproxy {

class Server;
class ClientSession;

// Everything here runs on the worker's own thread; other threads reach it only through
// post() (begin_drain, stop) and the atomic session count.
class Worker {
 public:
  Worker(Server& server, unsigned index);
  ~Worker();

  boost::asio::io_context& context() { return context_; }
  Server& server() { return server_; }
  unsigned index() const { return index_; }

  // Takes an acceptor bound by the server and accepts on it from this worker's thread.
  void add_acceptor(const HostPort& address, boost::asio::ip::tcp::acceptor acceptor);
  // From any thread, once running: accept on a new listener (reload added it) / close one.
  void start_listener(const HostPort& address, boost::asio::ip::tcp::acceptor acceptor);
  void stop_listener(const HostPort& address);
  void start();  // runs the thread
  void join();

  // The snapshot new requests use; refreshed from the server when its generation moves.
  const std::shared_ptr<const Snapshot>& snapshot();
  UpstreamPool& pool() { return pool_; }
  RequestIdGenerator& request_ids() { return request_ids_; }
  RelayBufferPool& relay_buffers() { return relay_buffers_; }
  ArenaBlockPool& arena_blocks() { return arena_blocks_; }
  AccessLogBuffer& access_log() { return access_log_; }
  WorkerMetrics& metrics() { return metrics_; }
  const WorkerMetrics& metrics() const { return metrics_; }
  std::uint64_t next_sequence() { return sequence_++; }

  // Session bookkeeping, for drain.
  void session_started(ClientSession* s);
  void session_ended(ClientSession* s);
  std::size_t active_sessions() const { return active_sessions_.load(std::memory_order_acquire); }
  bool draining() const { return draining_; }

  // From any thread: stop accepting and ask sessions to finish (idle ones close now).
  void begin_drain();
  // From any thread: stop the event loop.
  void stop();

 private:
  void accept_loop(std::size_t listener);
  // Starts a session for a new connection, or refuses it over max_connections.
  void admit(boost::asio::ip::tcp::socket socket);
  static constexpr int kAcceptBatch = 64;  // connections accepted per wake-up at most

  // Declared before context_ so that they outlive it: sessions still suspended when the
  // loop stops are destroyed by ~io_context, and their destructors use these.
  Server& server_;
  unsigned index_;
  std::unordered_set<ClientSession*> sessions_;
  std::atomic<std::size_t> active_sessions_{0};
  bool draining_ = false;
  RelayBufferPool relay_buffers_;
  ArenaBlockPool arena_blocks_;
  WorkerMetrics metrics_;
  RequestIdGenerator request_ids_;
  std::uint64_t sequence_;
  std::shared_ptr<const Snapshot> snapshot_;

  boost::asio::io_context context_;
  // I/O objects: declared after context_, so destroyed before it.
  struct Listener {
    HostPort address;  // as configured
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
  };
  std::vector<Listener> acceptors_;
  UpstreamPool pool_;
  AccessLogBuffer access_log_;
  std::thread thread_;
};

}  // namespace ringproxy
