// One event-loop thread with its io_context, acceptors, upstream pool and client sessions.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "log/access_log.hpp"
#include "net/connection_count.hpp"
#include "net/connection_park.hpp"
#include "net/message_arena.hpp"
#include "net/redis_link.hpp"
#include "net/relay_buffer.hpp"
#include "net/tls_context.hpp"
#include "net/tls_metrics.hpp"
#include "net/tls_stream.hpp"
#include "net/upstream_pool.hpp"
#include "net/worker_metrics.hpp"
#include "net/worker_socket.hpp"
#include "policy/request_id.hpp"
#include "runtime/snapshot.hpp"
#include "runtime/snapshot_store.hpp"

namespace ringproxy {

class Worker;

// A client connection's task on a worker, as the worker sees it: told to drain and to check
// its deadline. Worker thread only.
class DownstreamTask {
 public:
  // Drain: an idle connection closes now; a busy one closes after its current response.
  virtual void drain() = 0;
  // Past its deadline, the task's pending socket operations are cancelled.
  virtual void expire_if_due(std::chrono::steady_clock::time_point now) = 0;
  // A reload closed the listener bound at `listener`: a task accepted on it that can end
  // gracefully (HTTP/2: GOAWAY) starts to; the others go on as they are.
  virtual void listener_closed(const boost::asio::ip::tcp::endpoint& /*listener*/) {}

 protected:
  ~DownstreamTask() = default;

 private:
  friend class TaskList;
  DownstreamTask* prev_task_ = nullptr;  // TaskList's links (its worker's thread only)
  DownstreamTask* next_task_ = nullptr;
};

// A worker's running tasks, linked through the tasks themselves: joining and leaving cost no
// allocation (an HTTP/2 stream is a task). Worker thread only.
class TaskList {
 public:
  void insert(DownstreamTask* t) {
    t->prev_task_ = nullptr;
    t->next_task_ = head_;
    if (head_ != nullptr) head_->prev_task_ = t;
    head_ = t;
  }
  void erase(DownstreamTask* t) {
    (t->prev_task_ != nullptr ? t->prev_task_->next_task_ : head_) = t->next_task_;
    if (t->next_task_ != nullptr) t->next_task_->prev_task_ = t->prev_task_;
    t->prev_task_ = t->next_task_ = nullptr;
  }
  bool empty() const { return head_ == nullptr; }
  // f(task) for each task; f must not end any task (none leaves the list meanwhile).
  template <class F>
  void for_each(F&& f) const {
    for (DownstreamTask* t = head_; t != nullptr; t = t->next_task_) f(t);
  }

 private:
  DownstreamTask* head_ = nullptr;
};

// How a worker hands client connections to the layer that speaks to them (set once, at
// start). start: a new connection (resumed: back from the park, head_deadline: when its
// first head must be in); refuse: one over max_connections; start_tls: a new connection on a
// TLS listener (its handshake first), counted in listener; resume_tls: a TLS connection back
// from the park.
struct ConnectionHandlers {
  void (*start)(Worker& worker, WorkerSocket socket,
                std::optional<std::chrono::steady_clock::time_point> head_deadline,
                bool resumed) = nullptr;
  void (*refuse)(Worker& worker, WorkerSocket socket) = nullptr;
  void (*start_tls)(Worker& worker, WorkerSocket socket, TlsListenerCounters& listener) = nullptr;
  void (*resume_tls)(Worker& worker, TlsStream stream,
                     std::optional<std::chrono::steady_clock::time_point> head_deadline) = nullptr;
};

// What the workers share with the process. Every member is thread-safe.
struct WorkerShared {
  SnapshotStore& snapshots;
  ConnectionCount& connections;
  AccessLogSink& access_log_sink;
  ConnectionHandlers handlers;
  TlsStore* tls = nullptr;  // the TLS contexts in force; null: no TLS at all
};

// A snapshot and the number of this worker's requests still using it. Worker thread only.
struct SnapshotHold {
  std::shared_ptr<const Snapshot> snapshot;
  std::size_t leases = 0;
};

// One event loop. Everything here runs on the worker's own thread; other threads reach it only
// through post() (begin_drain, stop, start_listener, stop_listener) and active_sessions().
// A worker's multiplexed backend connections (HTTP/2 to backends), made by a higher layer on
// first use and owned by the worker, which closes them after a reload removed their backends.
// Worker thread only.
class MultiplexedPool {
 public:
  virtual ~MultiplexedPool() = default;
  // Closes the connections of backends whose slot is not live.
  virtual void retain_only(const std::vector<bool>& live_slots) = 0;
};

// Whether a connection whose own address is `local` came through a listener bound at
// `listener` (a wildcard listener takes every address of its port).
bool accepted_through(const boost::asio::ip::tcp::endpoint& local,
                      const boost::asio::ip::tcp::endpoint& listener);

class Worker {
 public:
  Worker(const WorkerShared& shared, unsigned index);
  ~Worker();

  boost::asio::io_context& context() { return context_; }
  ConnectionCount& connections() { return shared_.connections; }
  // The TLS contexts in force (null when the process has no TLS store).
  std::shared_ptr<const TlsContexts> tls() const {
    return shared_.tls != nullptr ? shared_.tls->current() : nullptr;
  }
  unsigned index() const { return index_; }

  // Takes an acceptor bound by the server and accepts on it from this worker's thread; tls: a
  // TLS listener's counters (null for cleartext).
  void add_acceptor(const HostPort& address, boost::asio::ip::tcp::acceptor acceptor,
                    TlsListenerCounters* tls = nullptr);
  // From any thread, once running: accept on a new listener (reload added it) / close one.
  void start_listener(const HostPort& address, boost::asio::ip::tcp::acceptor acceptor,
                      TlsListenerCounters* tls = nullptr);
  void stop_listener(const HostPort& address);
  // Whether a listener of this worker bound at a local endpoint that accepts `local` (a
  // connection's own address) is open: false once a reload closed it, or while draining.
  bool accepting_on(const boost::asio::ip::tcp::endpoint& local) const;
  void start();  // runs the thread
  void join();

  // The snapshot new requests use; refreshed from the server when its generation moves.
  const std::shared_ptr<const Snapshot>& snapshot();

  // One request's hold on this worker's current snapshot, counted without atomics (the
  // snapshot's shared_ptr is copied once per worker and generation, not once per request, so
  // workers do not contend on its count). Worker thread only; a snapshot a reload replaced
  // lives on until the last request that leased it ends.
  class SnapshotLease {
   public:
    explicit SnapshotLease(Worker& worker);
    ~SnapshotLease();
    SnapshotLease(const SnapshotLease&) = delete;
    SnapshotLease& operator=(const SnapshotLease&) = delete;
    const Snapshot& operator*() const { return *hold_->snapshot; }
    const Snapshot* operator->() const { return hold_->snapshot.get(); }

   private:
    Worker& worker_;
    SnapshotHold* hold_;
  };
  // This worker's connection to the Redis at address (global rate limits), made on first use;
  // links to addresses the current snapshot no longer names are dropped when it changes.
  RedisLink& redis(const HostPort& address);
  UpstreamPool& pool() { return pool_; }
  // The HTTP/2 backend connections (null until an h2/h2c upstream is first used).
  std::unique_ptr<MultiplexedPool>& h2_pool() { return h2_pool_; }
  // Client connections waiting without a session (see ConnectionPark).
  ConnectionPark& park() { return park_; }
  const ConnectionPark& park() const { return park_; }
  RequestIdGenerator& request_ids() { return request_ids_; }
  RelayBufferPool& relay_buffers() { return relay_buffers_; }
  ArenaBlockPool& arena_blocks() { return arena_blocks_; }
  UpstreamBufferPool& upstream_buffers() { return upstream_buffers_; }
  AccessLogBuffer& access_log() { return access_log_; }
  WorkerMetrics& metrics() { return metrics_; }
  const WorkerMetrics& metrics() const { return metrics_; }
  std::uint64_t next_sequence() { return sequence_++; }

  // Session bookkeeping, for drain.
  void session_started(DownstreamTask* s);
  void session_ended(DownstreamTask* s);
  // How often the sessions' deadlines are checked: a timeout fires up to this late.
  static constexpr std::chrono::milliseconds kDeadlineTick{20};
  std::size_t active_sessions() const { return active_sessions_.load(std::memory_order_acquire); }
  bool draining() const { return draining_; }

  // From any thread: stop accepting and ask sessions to finish (idle ones close now); tunnels
  // close at deadline (server.drain_timeout from the signal).
  void begin_drain(std::chrono::steady_clock::time_point deadline =
                       std::chrono::steady_clock::time_point::max());
  // When tunnels must close: the drain's deadline (max while not draining).
  std::chrono::steady_clock::time_point drain_deadline() const { return drain_deadline_; }
  // From any thread: stop the event loop.
  void stop();

 private:
  void accept_loop(std::size_t listener);
  // Drops the Redis links no global limit of fresh names.
  void retain_redis_links(const Snapshot& fresh);
  // Starts a session for a new connection, or refuses it over max_connections.
  void admit(WorkerSocket socket, TlsListenerCounters* tls);
  // Expires the sessions past their deadline, then ticks again while any session is left.
  void tick_deadlines();
  // A parked connection has bytes (or its close) to read: a new session takes it.
  void resume(WorkerSocket socket,
              std::optional<std::chrono::steady_clock::time_point> head_deadline,
              std::unique_ptr<ParkedTls> tls);
  static constexpr int kAcceptBatch = 64;  // connections accepted per wake-up at most

  // Declared before context_ so that they outlive it: sessions still suspended when the
  // loop stops are destroyed by ~io_context, and their destructors use these.
  WorkerShared shared_;
  unsigned index_;
  TaskList sessions_;
  std::atomic<std::size_t> active_sessions_{0};
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_ =
      std::chrono::steady_clock::time_point::max();
  RelayBufferPool relay_buffers_;
  ArenaBlockPool arena_blocks_;
  UpstreamBufferPool upstream_buffers_;
  WorkerMetrics metrics_;
  RequestIdGenerator request_ids_;
  std::uint64_t sequence_;
  // The current snapshot and the requests leasing it; replaced ones are owned by their leases.
  std::unique_ptr<SnapshotHold> current_;

  boost::asio::io_context context_;
  // I/O objects: declared after context_, so destroyed before it.
  struct Listener {
    HostPort address;  // as configured
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    TlsListenerCounters* tls = nullptr;    // set on a TLS listener
    boost::asio::ip::tcp::endpoint local;  // where it is bound
  };
  void add_listener(const HostPort& address, boost::asio::ip::tcp::acceptor acceptor,
                    TlsListenerCounters* tls);
  std::vector<Listener> acceptors_;
  UpstreamPool pool_;
  std::unique_ptr<MultiplexedPool> h2_pool_;
  ConnectionPark park_;
  WorkerTimer deadline_tick_;
  bool ticking_ = false;
  AccessLogBuffer access_log_;
  std::vector<std::shared_ptr<RedisLink>> redis_links_;
  std::thread thread_;
};

}  // namespace ringproxy
