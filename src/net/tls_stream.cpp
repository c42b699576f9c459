// TLS reads and writes on a non-blocking socket (see tls_stream.hpp).
#include "net/tls_stream.hpp"

#include <openssl/err.h>

#include <boost/asio/error.hpp>
#include <cerrno>
#include <tuple>

namespace ringproxy {

using asio_awaitable_pair =
    boost::asio::awaitable<std::pair<boost::system::error_code, unsigned long>>;

namespace tls_io {

namespace {

// What an SSL call that returned failure means for the caller.
void classify(SSL* ssl, int result, boost::system::error_code& ec, Blocked* blocked) {
  switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ:
      *blocked = Blocked::on_read;
      return;
    case SSL_ERROR_WANT_WRITE:
      *blocked = Blocked::on_write;
      return;
    case SSL_ERROR_ZERO_RETURN:
      ec = boost::asio::error::eof;  // close_notify
      break;
    case SSL_ERROR_SYSCALL:
      ec = errno != 0 ? boost::system::error_code(errno, boost::system::system_category())
                      : boost::system::error_code(boost::asio::error::eof);
      break;
    default:
      // A protocol failure, or the peer's TCP close without close_notify (OpenSSL 3 reports
      // that as an SSL error): either way the stream is over.
      ec = ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING
               ? boost::system::error_code(boost::asio::error::eof)
               : boost::system::error_code(boost::asio::error::connection_reset);
      break;
  }
  ERR_clear_error();
}

}  // namespace

std::size_t read(SSL* ssl, void* data, std::size_t size, boost::system::error_code& ec,
                 Blocked* blocked) {
  std::size_t n = 0;
  errno = 0;
  const int r = SSL_read_ex(ssl, data, size, &n);
  if (r == 1) return n;
  classify(ssl, r, ec, blocked);
  return 0;
}

std::size_t write(SSL* ssl, const void* data, std::size_t size, boost::system::error_code& ec,
                  Blocked* blocked) {
  std::size_t n = 0;
  errno = 0;
  const int r = SSL_write_ex(ssl, data, size, &n);
  if (r == 1) return n;
  classify(ssl, r, ec, blocked);
  return 0;
}

Buffered buffered(SSL* ssl) {
  if (SSL_pending(ssl) > 0) return Buffered::yes;
  if (!SSL_has_pending(ssl)) return Buffered::no;
  // Raw bytes: a whole record, or part of one? A peek processes what is there (and reads the
  // socket, which has nothing or the rest).
  char byte;
  std::size_t n = 0;
  const int r = SSL_peek_ex(ssl, &byte, 1, &n);
  if (r == 1) return Buffered::yes;
  const int error = SSL_get_error(ssl, r);
  ERR_clear_error();
  if (error == SSL_ERROR_WANT_READ) return Buffered::drained;
  return error == SSL_ERROR_WANT_WRITE ? Buffered::no : Buffered::yes;  // yes: a read reports it
}

char* scratch() {
  thread_local char buffer[kRecordSize];
  return buffer;
}

std::string_view version(const SSL* ssl) {
  return ssl != nullptr ? SSL_get_version(ssl) : "";
}

std::string_view cipher(const SSL* ssl) {
  const char* name = ssl != nullptr ? SSL_get_cipher_name(ssl) : nullptr;
  return name != nullptr ? name : "";
}

}  // namespace tls_io

asio_awaitable_pair tls_handshake(TlsIo io) {
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(io.ssl);
    if (r == 1) co_return std::make_pair(boost::system::error_code(), 0UL);
    const int err = SSL_get_error(io.ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      boost::system::error_code ec;
      if (err == SSL_ERROR_WANT_READ) {
        // OpenSSL's read found the socket empty: its next readiness event ends the wait,
        // with no epoll_ctl to re-arm it (read_readiness.hpp).
        ringproxy::note_drained(*io.socket);
        std::tie(ec) = co_await ringproxy::async_wait_readable(
            *io.socket, boost::asio::as_tuple(boost::asio::use_awaitable));
      } else {
        std::tie(ec) = co_await io.socket->async_wait(
            WorkerSocket::wait_write, boost::asio::as_tuple(boost::asio::use_awaitable));
      }
      if (ec) co_return std::make_pair(ec, 0UL);
      continue;
    }
    const unsigned long error = ERR_peek_error();
    ERR_clear_error();
    const boost::system::error_code failed =
        error == 0 ? boost::system::error_code(boost::asio::error::eof)
                   : boost::system::error_code(boost::asio::error::connection_reset);
    co_return std::make_pair(failed, error);
  }
}

void TlsIo::send_close_notify() const {
  if (SSL_is_init_finished(ssl)) {
    SSL_shutdown(ssl);
    ERR_clear_error();
  }
}

TlsStream::TlsStream(WorkerSocket socket, SSL* ssl, std::shared_ptr<const void> keep)
    : socket_(std::move(socket)), ssl_(ssl), keep_(std::move(keep)) {}

TlsStream::TlsStream(TlsStream&& other) noexcept
    : socket_(std::move(other.socket_)),
      ssl_(std::exchange(other.ssl_, nullptr)),
      keep_(std::move(other.keep_)) {}

TlsStream::~TlsStream() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

void TlsStream::park_in(ConnectionPark& park, ConnectionPark::Clock::time_point deadline,
                        bool is_new) {
  SSL_free_buffers(ssl_);  // a no-op when part of a record is buffered: it is kept
  auto tls = std::make_unique<ParkedTls>(std::exchange(ssl_, nullptr), std::move(keep_));
  if (is_new) {
    park.park_new(std::move(socket_), deadline, std::move(tls));
  } else {
    park.park_idle(std::move(socket_), deadline, std::move(tls));
  }
}

void TlsStream::shutdown_send(boost::system::error_code& ec) {
  if (ssl_ != nullptr) io().send_close_notify();
  socket_.shutdown(WorkerSocket::shutdown_send, ec);
}

void TlsStream::close(boost::system::error_code& ec) {
  socket_.close(ec);
}

}  // namespace ringproxy
