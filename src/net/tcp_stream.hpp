// A connection's byte stream over plain TCP, in the shape the connection code is generic over.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>

#include "net/read_readiness.hpp"
#include "net/socket_now.hpp"
#include "net/worker_socket.hpp"

namespace ringproxy {

// The operations the proxy's connection code uses on a stream: reads and writes tried at
// once (socket_now.hpp), waits that cost no system call on a drained socket
// (read_readiness.hpp), and asio's own operations for the rest. A TLS stream offers the same
// members. Worker thread only, as its socket.
class TcpStream {
 public:
  using executor_type = WorkerSocket::executor_type;
  static constexpr bool kParkable = true;      // the park can hold it as a bare descriptor
  static constexpr bool kMultiplexed = false;  // a connection of its own (not a PipeStream)

  explicit TcpStream(WorkerSocket socket) : socket_(std::move(socket)) {}
  explicit TcpStream(const executor_type& ex) : socket_(ex) {}

  executor_type get_executor() { return socket_.get_executor(); }
  WorkerSocket& socket() { return socket_; }
  // The bare socket, for the park (the stream is empty afterwards).
  WorkerSocket release() { return std::move(socket_); }

  // What the stream holds now; 0 with ec clear when nothing is there (see read_now).
  template <class MutableBuffers>
  std::size_t read_now(const MutableBuffers& buffers, boost::system::error_code& ec) {
    return ringproxy::read_now(socket_, buffers, ec);
  }
  // What the stream takes now of buffers (see write_now).
  template <class ConstBuffers>
  std::size_t write_now(const ConstBuffers& buffers, boost::system::error_code& ec) {
    return ringproxy::write_now(socket_, buffers, ec);
  }
  // The rest of buffers after done bytes, through the reactor.
  template <class ConstBuffers>
  boost::asio::awaitable<boost::system::error_code> write_rest(const ConstBuffers& buffers,
                                                               std::size_t done) {
    return ringproxy::write_rest(socket_, buffers, done);
  }
  // False when the last direct read found the stream drained and nothing came since.
  bool may_be_readable() { return ringproxy::may_be_readable(socket_); }
  // The last read came back short and completed a message: the next wait is free.
  void note_drained() { ringproxy::note_drained(socket_); }
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return ringproxy::async_wait_readable(socket_, std::forward<Token>(token));
  }
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

  void cancel(boost::system::error_code& ec) { socket_.cancel(ec); }
  void shutdown_send(boost::system::error_code& ec) {
    socket_.shutdown(WorkerSocket::shutdown_send, ec);
  }
  void close(boost::system::error_code& ec) { socket_.close(ec); }
  bool is_open() const { return socket_.is_open(); }

 private:
  WorkerSocket socket_;
};

}  // namespace ringproxy
