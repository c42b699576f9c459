// The reads and writes every connection makes, for any stream of net's shape (TcpStream):
// tried at once, and through the reactor only for what the kernel cannot do now.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>

namespace ringproxy {

// Reads what stream holds now into buffers, unless it is known drained (then it costs no
// system call). 0 with ec clear: wait (async_read_when_ready).
template <class Stream, class MutableBuffers>
std::size_t try_read_now(Stream& stream, const MutableBuffers& buffers,
                         boost::system::error_code& ec) {
  if (!stream.may_be_readable()) return 0;
  return stream.read_now(buffers, ec);
}

namespace stream_io_detail {

// The wait-then-read sequence: wait for readiness (no system call on a drained stream), read
// directly, and if the event was for bytes already read, read through the reactor.
template <class Stream, class MutableBuffers>
struct ReadWhenReady {
  Stream& stream;
  MutableBuffers buffers;

  template <class Self>
  void operator()(Self& self) {
    stream.async_wait_readable(std::move(self));
  }
  template <class Self>
  void operator()(Self& self, boost::system::error_code ec) {
    std::size_t n = 0;
    if (!ec) n = stream.read_now(buffers, ec);
    if (ec || n > 0) return self.complete(ec, n, true);
    stream.async_read_some(buffers, std::move(self));
  }
  template <class Self>
  void operator()(Self& self, boost::system::error_code ec, std::size_t n) {
    self.complete(ec, n, false);
  }
};

}  // namespace stream_io_detail

// Waits until stream is readable and reads what is there into buffers: completes with
// (error_code, bytes read, direct), at least one byte unless ec is set. direct: the bytes came
// from a direct read, and the completion runs inline after it (asio completes a composed
// operation in place), so a short one may still be noted drained. The buffers must outlive it.
template <class Stream, class MutableBuffers, class Token>
auto async_read_when_ready(Stream& stream, const MutableBuffers& buffers, Token&& token) {
  return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t, bool)>(
      stream_io_detail::ReadWhenReady<Stream, MutableBuffers>{stream, buffers}, token, stream);
}

}  // namespace ringproxy
