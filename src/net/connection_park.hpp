// Client connections with nothing to do, held as a bare descriptor: no session, no buffer, no
// timer and no asio state of their own. nginx keeps an idle keep-alive connection in a few
// hundred bytes; this keeps one in a 48-byte entry and the kernel's epoll item (a TLS one
// also keeps its SSL, without its buffers).
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "net/worker_socket.hpp"

namespace ringproxy {

// What a parked TLS connection keeps besides its descriptor: its SSL (the session and its
// keys; OpenSSL's buffers released) and the contexts it was accepted with. Frees the SSL
// unless it was taken back. Worker thread only, as the park.
struct ParkedTls {
  ParkedTls(SSL* s, std::shared_ptr<const void> k) : ssl(s), keep(std::move(k)) {}
  ~ParkedTls() {
    if (ssl != nullptr) SSL_free(ssl);
  }
  ParkedTls(const ParkedTls&) = delete;
  ParkedTls& operator=(const ParkedTls&) = delete;

  SSL* ssl;
  std::shared_ptr<const void> keep;
};

// A worker's parked client connections. Each waits for its socket to become readable (then
// `wake` gets it back, with the deadline its request head keeps, if any) or for its deadline
// (then it is closed and `closed` is called). A parked socket leaves asio's reactor: its
// descriptor waits in the park's own epoll set, which asio watches as one descriptor, so a
// parked connection holds no asio per-descriptor record and no pending operation. Two FIFO
// lists, new connections and kept-alive ones, each ordered by deadline because every entry of
// a list waits the same time: one timer serves them all. Worker thread only (not
// thread-safe), except size().
class ConnectionPark {
 public:
  using Clock = std::chrono::steady_clock;
  // A parked connection that became readable. head_deadline: set for a new connection, whose
  // client_header_timeout runs from its accept; empty for a kept-alive one (it starts now).
  // tls: what a TLS connection parked with (null for plain TCP).
  using Wake =
      std::function<void(WorkerSocket socket, std::optional<Clock::time_point> head_deadline,
                         std::unique_ptr<ParkedTls> tls)>;
  // A parked connection closed here (deadline or close_all); its slot in the count goes.
  using Closed = std::function<void()>;

  ConnectionPark(const boost::asio::io_context::executor_type& ex, Wake wake, Closed closed);
  ~ConnectionPark();  // closes what is still parked, without calling `closed`
  ConnectionPark(const ConnectionPark&) = delete;
  ConnectionPark& operator=(const ConnectionPark&) = delete;

  // A connection that has sent nothing yet and must send a head by `deadline`. tls: a TLS
  // connection's state, handed back to `wake` (freed if it closes here).
  void park_new(WorkerSocket socket, Clock::time_point deadline,
                std::unique_ptr<ParkedTls> tls = nullptr);
  // A kept-alive connection between requests, closed at `deadline` (idle_timeout).
  void park_idle(WorkerSocket socket, Clock::time_point deadline,
                 std::unique_ptr<ParkedTls> tls = nullptr);
  // Drain: closes every parked connection now.
  void close_all();

  // Connections parked now (a relaxed read: any thread).
  std::size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  struct Entry;
  struct List {
    Entry* head = nullptr;
    Entry* tail = nullptr;
  };

  using EpollWatch =
      boost::asio::posix::basic_stream_descriptor<boost::asio::io_context::executor_type>;

  void park(List& list, WorkerSocket socket, Clock::time_point deadline,
            std::unique_ptr<ParkedTls> tls);
  void link(List& list, Entry* e);
  void unlink(Entry* e);
  void watch();                // asio waits for the park's epoll set to have a readable socket
  void on_ready();             // wakes every parked socket that is readable now
  void close_entry(Entry* e);  // unlinks e, closes its descriptor and deletes it
  void schedule();             // the timer at the earliest deadline of the two heads
  void expire();

  EpollWatch epoll_;  // the park's epoll set (level-triggered EPOLLIN per parked descriptor)
  bool watching_ = false;
  WorkerTimer timer_;
  Clock::time_point timer_at_ = Clock::time_point::max();
  Wake wake_;
  Closed closed_;
  List new_;
  List idle_;
  std::atomic<std::size_t> size_{0};
};

}  // namespace ringproxy
