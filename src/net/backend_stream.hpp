// A backend connection's byte stream: plain TCP, or TLS once start_tls() gave it an SSL.
#pragma once

#include <openssl/ssl.h>

#include <utility>

#include "net/tcp_stream.hpp"
#include "net/tls_stream.hpp"

namespace ringproxy {

// TcpStream's members, each going to OpenSSL when the connection speaks TLS (an upstream with
// tls = {...}) and straight to the socket otherwise (one predictable branch). Worker thread
// only, as its socket; owns its SSL.
class BackendStream {
 public:
  using executor_type = WorkerSocket::executor_type;

  explicit BackendStream(const executor_type& ex) : tcp_(ex) {}
  BackendStream(const BackendStream&) = delete;
  BackendStream& operator=(const BackendStream&) = delete;
  ~BackendStream() {
    if (ssl_ != nullptr) SSL_free(ssl_);
  }

  executor_type get_executor() { return tcp_.get_executor(); }
  WorkerSocket& socket() { return tcp_.socket(); }
  // Takes ssl (set up on this socket, handshake done or to do through tls()).
  void start_tls(SSL* ssl) { ssl_ = ssl; }
  bool is_tls() const { return ssl_ != nullptr; }
  SSL* ssl() const { return ssl_; }
  TlsIo tls() { return TlsIo{&tcp_.socket(), ssl_}; }

  template <class MutableBuffers>
  std::size_t read_now(const MutableBuffers& buffers, boost::system::error_code& ec) {
    if (ssl_ != nullptr) return tls().read_now(buffers, ec);
    return tcp_.read_now(buffers, ec);
  }
  template <class ConstBuffers>
  std::size_t write_now(const ConstBuffers& buffers, boost::system::error_code& ec) {
    if (ssl_ != nullptr) return tls().write_now(buffers, ec);
    return tcp_.write_now(buffers, ec);
  }
  template <class ConstBuffers>
  boost::asio::awaitable<boost::system::error_code> write_rest(const ConstBuffers& buffers,
                                                               std::size_t done) {
    if (ssl_ != nullptr) return tls().write_rest(buffers, done);
    return tcp_.write_rest(buffers, done);
  }
  bool may_be_readable() {
    return ssl_ != nullptr ? tls().may_be_readable() : tcp_.may_be_readable();
  }
  void note_drained() {
    if (ssl_ != nullptr) {
      tls().note_drained();
    } else {
      tcp_.note_drained();
    }
  }
  template <class Token>
  auto async_wait_readable(Token&& token) {
    if (ssl_ != nullptr) return tls().async_wait_readable(std::forward<Token>(token));
    return tcp_.async_wait_readable(std::forward<Token>(token));
  }
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (ssl_ != nullptr) return tls().async_read_some(buffers, std::forward<Token>(token));
    return tcp_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (ssl_ != nullptr) return tls().async_write_some(buffers, std::forward<Token>(token));
    return tcp_.async_write_some(buffers, std::forward<Token>(token));
  }

  void cancel(boost::system::error_code& ec) { tcp_.cancel(ec); }
  void shutdown_send(boost::system::error_code& ec) {
    if (ssl_ != nullptr) tls().send_close_notify();
    tcp_.shutdown_send(ec);
  }
  void close(boost::system::error_code& ec) { tcp_.close(ec); }
  bool is_open() const { return tcp_.is_open(); }

 private:
  TcpStream tcp_;
  SSL* ssl_ = nullptr;
};

}  // namespace ringproxy
