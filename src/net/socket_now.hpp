// Socket reads and writes tried at once, before going through the reactor: when the kernel
// can complete them (a reply fits the send buffer, a readable socket has its bytes), they cost
// one system call and no composed operation, posted completion or coroutine resumption.
#pragma once

#include <unistd.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>

#include "net/read_readiness.hpp"
#include "net/worker_socket.hpp"

namespace ringproxy {

// Puts socket in non-blocking mode once (a flag test afterwards), so that the calls below
// return would_block rather than wait. Asio's own operations are unaffected.
inline void make_non_blocking(WorkerSocket& socket, boost::system::error_code& ec) {
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
}

// Registers a connected socket afresh with the reactor, for reads only. Asio leaves write
// readiness registered after a connect, and then every ACK from the peer wakes the event loop
// for nothing; a write that has to wait registers it again. When ec is set the connection is
// not usable: still open if release failed, closed if the new registration did.
inline void watch_reads_only(WorkerSocket& socket, const boost::asio::ip::tcp& protocol,
                             boost::system::error_code& ec) {
  const auto fd = socket.release(ec);
  if (ec) return;
  socket.assign(protocol, fd, ec);
  if (ec) ::close(fd);
}

// Reads what socket holds now into buffers. Returns the bytes read; 0 with ec clear means
// nothing was there (go through the reactor), and is noted: the socket's next wait costs no
// system call (read_readiness.hpp). ec is set on end of stream or failure.
//
// A short read is not noted here: the kernel also stops short at a peer's FIN, whose
// readiness event has then been spent, and waiting on would never end. The caller notes it
// where a short read completed a message (read_readiness.hpp, note_drained).
template <class MutableBuffers>
std::size_t read_now(WorkerSocket& socket, const MutableBuffers& buffers,
                     boost::system::error_code& ec) {
  make_non_blocking(socket, ec);
  if (ec) return 0;
  const std::size_t n = socket.read_some(buffers, ec);
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
    ec.clear();
    note_drained(socket);
  }
  return n;
}

// Writes what socket takes now of buffers. Returns the bytes written (all of them unless the
// send buffer filled); ec is set only on failure, never for a full send buffer.
template <class ConstBuffers>
std::size_t write_now(WorkerSocket& socket, const ConstBuffers& buffers,
                      boost::system::error_code& ec) {
  make_non_blocking(socket, ec);
  if (ec) return 0;
  const std::size_t n = socket.write_some(buffers, ec);
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
    ec.clear();
    return 0;
  }
  return n;
}

// Writes the rest of buffers, after the first done bytes that write_now took, through the
// reactor. Returns the failure, if any. The buffers must outlive the call.
template <class ConstBuffers>
boost::asio::awaitable<boost::system::error_code> write_rest(WorkerSocket& socket,
                                                             const ConstBuffers& buffers,
                                                             std::size_t done) {
  boost::beast::buffers_suffix<ConstBuffers> rest(buffers);
  rest.consume(done);
  auto [ec, n] = co_await boost::asio::async_write(
      socket, rest, boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return ec;
}

}  // namespace ringproxy
