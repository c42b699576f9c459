// A connection's byte stream over TLS, with TcpStream's members: OpenSSL reads and writes the
// socket itself (SSL_set_fd, the socket non-blocking) and asio's reactor only says when to try
// again, so reads and writes are tried at once as on TCP and the edge-triggered read fast path
// applies (docs/tls.md says why not asio::ssl::stream's memory BIOs).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <iterator>
#include <memory>
#include <string_view>
#include <utility>

#include "net/read_readiness.hpp"
#include "net/worker_socket.hpp"

namespace ringproxy {

namespace tls_io {

// How a TLS read or write that did not finish stopped.
enum class Blocked { no, on_read, on_write };

// One SSL_read_ex into [data, data+size): the bytes read; 0 with ec clear when nothing is
// there yet (*blocked says what to wait for); ec set on close (eof) or failure.
std::size_t read(SSL* ssl, void* data, std::size_t size, boost::system::error_code& ec,
                 Blocked* blocked);
// One SSL_write_ex: the bytes taken (0 with *blocked set when the socket is full).
std::size_t write(SSL* ssl, const void* data, std::size_t size, boost::system::error_code& ec,
                  Blocked* blocked);
// A thread's scratch for gathering a buffer sequence into one TLS record (never held across
// a suspension).
constexpr std::size_t kRecordSize = 16384;
char* scratch();

// Writes buffers from byte offset done on; returns the new offset. Stops when all is written,
// the socket is full (*blocked) or on failure (ec).
template <class ConstBuffers>
std::size_t write_from(SSL* ssl, const ConstBuffers& buffers, std::size_t done,
                       boost::system::error_code& ec, Blocked* blocked) {
  const std::size_t total = boost::asio::buffer_size(buffers);
  const bool single = std::next(boost::asio::buffer_sequence_begin(buffers)) ==
                      boost::asio::buffer_sequence_end(buffers);
  *blocked = Blocked::no;
  while (done < total && !ec && *blocked == Blocked::no) {
    std::size_t n = 0;
    if (single) {
      const boost::asio::const_buffer b = *boost::asio::buffer_sequence_begin(buffers);
      n = write(ssl, static_cast<const char*>(b.data()) + done, total - done, ec, blocked);
    } else {
      // Several pieces (a head and a body): one record rather than one per piece. A retry
      // after a full socket gathers the same bytes again, as OpenSSL requires.
      boost::beast::buffers_suffix<ConstBuffers> rest(buffers);
      rest.consume(done);
      const std::size_t take =
          boost::asio::buffer_copy(boost::asio::buffer(scratch(), kRecordSize), rest);
      n = write(ssl, scratch(), take, ec, blocked);
    }
    done += n;
  }
  return done;
}

// Whether a read would find bytes without the socket: yes (decrypted bytes, or a whole
// record buffered), no (nothing buffered), or drained (only part of a record is buffered and
// the socket had nothing more: wait for it, noting it drained).
enum class Buffered { yes, no, drained };
Buffered buffered(SSL* ssl);

// The SSL's negotiated version and cipher ("TLSv1.3", "TLS_AES_128_GCM_SHA256").
std::string_view version(const SSL* ssl);
std::string_view cipher(const SSL* ssl);

}  // namespace tls_io

struct TlsIo;
template <class ConstBuffers>
boost::asio::awaitable<boost::system::error_code> tls_write_rest(TlsIo io,
                                                                 const ConstBuffers& buffers,
                                                                 std::size_t done);

// The handshake over io (either side, as its SSL was set up), until done or failed: the error,
// and OpenSSL's error code for a protocol failure (0 otherwise). Waits on the socket through
// asio; a cancel ends it.
boost::asio::awaitable<std::pair<boost::system::error_code, unsigned long>> tls_handshake(TlsIo io);

// TcpStream's I/O members over one SSL on one socket, neither owned: a view that TlsStream
// (a client connection) and BackendStream (a backend connection) make on each call. Copied
// into the async operations it starts, so it need not outlive them; the socket and the SSL
// must. Worker thread only, as the socket.
struct TlsIo {
  WorkerSocket* socket;
  SSL* ssl;

  template <class MutableBuffers>
  std::size_t read_now(const MutableBuffers& buffers, boost::system::error_code& ec) const {
    const boost::asio::mutable_buffer b = *boost::asio::buffer_sequence_begin(buffers);
    tls_io::Blocked blocked = tls_io::Blocked::no;
    const std::size_t n = tls_io::read(ssl, b.data(), b.size(), ec, &blocked);
    // OpenSSL wants more bytes: the socket had none (what it holds is part of a record).
    if (blocked == tls_io::Blocked::on_read) ringproxy::note_drained(*socket);
    return n;
  }
  template <class ConstBuffers>
  std::size_t write_now(const ConstBuffers& buffers, boost::system::error_code& ec) const {
    tls_io::Blocked blocked = tls_io::Blocked::no;
    return tls_io::write_from(ssl, buffers, 0, ec, &blocked);
  }
  // The rest of buffers after done bytes, waiting on the socket as OpenSSL asks.
  template <class ConstBuffers>
  boost::asio::awaitable<boost::system::error_code> write_rest(const ConstBuffers& buffers,
                                                               std::size_t done) const {
    return tls_write_rest(*this, buffers, done);  // a coroutine with its own copy of the view
  }
  bool may_be_readable() const {
    return SSL_has_pending(ssl) || ringproxy::may_be_readable(*socket);
  }
  void note_drained() const {
    if (!SSL_has_pending(ssl)) ringproxy::note_drained(*socket);
  }
  // Readable: at once when OpenSSL holds a record already, else as the socket's wait.
  template <class Token>
  auto async_wait_readable(Token&& token) const {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [io = *this](auto handler) {
          const tls_io::Buffered buffered = tls_io::buffered(io.ssl);
          if (buffered == tls_io::Buffered::yes) {
            boost::asio::post(io.socket->get_executor(), [h = std::move(handler)]() mutable {
              std::move(h)(boost::system::error_code());
            });
            return;
          }
          if (buffered == tls_io::Buffered::drained) ringproxy::note_drained(*io.socket);
          ringproxy::async_wait_readable(*io.socket, std::move(handler));
        },
        token);
  }
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) const {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        [io = *this, buffers, started = false](auto& self,
                                               boost::system::error_code ec = {}) mutable {
          if (ec) {
            self.complete(ec, 0);
            return;
          }
          if (started) {
            const std::size_t n = io.read_now(buffers, ec);
            if (ec || n > 0) {
              self.complete(ec, n);
              return;
            }
          }
          started = true;
          io.async_wait_readable(std::move(self));
        },
        token, *socket);
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) const {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        [io = *this, buffers, started = false](auto& self,
                                               boost::system::error_code ec = {}) mutable {
          if (ec) {
            self.complete(ec, 0);
            return;
          }
          if (started) {
            tls_io::Blocked blocked = tls_io::Blocked::no;
            const std::size_t n = tls_io::write_from(io.ssl, buffers, 0, ec, &blocked);
            if (ec || n > 0) {
              self.complete(ec, n);
              return;
            }
          }
          started = true;
          io.socket->async_wait(WorkerSocket::wait_write, std::move(self));
        },
        token, *socket);
  }
  // Sends close_notify if the socket takes it now (no wait for the peer's).
  void send_close_notify() const;
};

// The operations the connection code uses on a stream (see TcpStream), over TLS. The SSL is
// set up and its handshake done before the stream is made (proxy/tls_accept.cpp). It keeps
// the contexts it was accepted with (keep) for its life: a reload does not touch it. Cannot be
// parked (its state is more than a descriptor). Worker thread only, as its socket.
class TlsStream {
 public:
  using executor_type = WorkerSocket::executor_type;
  static constexpr bool kParkable = false;
  static constexpr bool kMultiplexed = false;

  TlsStream(WorkerSocket socket, SSL* ssl, std::shared_ptr<const void> keep);
  TlsStream(TlsStream&& other) noexcept;
  TlsStream& operator=(TlsStream&&) = delete;
  ~TlsStream();

  executor_type get_executor() { return socket_.get_executor(); }
  WorkerSocket& socket() { return socket_; }
  SSL* ssl() const { return ssl_; }

  template <class MutableBuffers>
  std::size_t read_now(const MutableBuffers& buffers, boost::system::error_code& ec) {
    return io().read_now(buffers, ec);
  }
  template <class ConstBuffers>
  std::size_t write_now(const ConstBuffers& buffers, boost::system::error_code& ec) {
    return io().write_now(buffers, ec);
  }
  template <class ConstBuffers>
  boost::asio::awaitable<boost::system::error_code> write_rest(const ConstBuffers& buffers,
                                                               std::size_t done) {
    return io().write_rest(buffers, done);
  }
  bool may_be_readable() { return io().may_be_readable(); }
  void note_drained() { io().note_drained(); }
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return io().async_wait_readable(std::forward<Token>(token));
  }
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return io().async_read_some(buffers, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return io().async_write_some(buffers, std::forward<Token>(token));
  }

  void cancel(boost::system::error_code& ec) { socket_.cancel(ec); }
  // Sends close_notify (if the socket takes it now), then shuts the TCP send side.
  void shutdown_send(boost::system::error_code& ec);
  void close(boost::system::error_code& ec);
  bool is_open() const { return socket_.is_open(); }

 private:
  TlsIo io() { return TlsIo{&socket_, ssl_}; }

  WorkerSocket socket_;
  SSL* ssl_;
  std::shared_ptr<const void> keep_;
};

template <class ConstBuffers>
boost::asio::awaitable<boost::system::error_code> tls_write_rest(TlsIo io,
                                                                 const ConstBuffers& buffers,
                                                                 std::size_t done) {
  const std::size_t total = boost::asio::buffer_size(buffers);
  for (;;) {
    boost::system::error_code ec;
    tls_io::Blocked blocked = tls_io::Blocked::no;
    done = tls_io::write_from(io.ssl, buffers, done, ec, &blocked);
    if (ec || done >= total) co_return ec;
    auto [wec] = co_await io.socket->async_wait(
        blocked == tls_io::Blocked::on_read ? WorkerSocket::wait_read : WorkerSocket::wait_write,
        boost::asio::as_tuple(boost::asio::use_awaitable));
    if (wec) co_return wec;
  }
}

}  // namespace ringproxy
