// A TLS listener's connection: handshake, then the request pipeline (see tls_accept.hpp).
#include "proxy/tls_accept.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "log/log.hpp"
#include "net/tls_stream.hpp"
#include "proxy/downstream_connection.hpp"
#include "proxy/h2_connection.hpp"

namespace ringproxy {

namespace asio = boost::asio;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// Why a handshake failed, from OpenSSL's error reason.
TlsFailure classify_failure(unsigned long error) {
  switch (ERR_GET_REASON(error)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return TlsFailure::protocol_version;
    case SSL_R_NO_SHARED_CIPHER:
      return TlsFailure::no_shared_cipher;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return TlsFailure::no_client_certificate;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return TlsFailure::bad_client_certificate;
    case SSL_R_HTTP_REQUEST:
      return TlsFailure::http_request;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return TlsFailure::closed;
    default:
      return TlsFailure::other;
  }
}

// One handshake in progress: a task the worker's deadline tick can expire and a drain can
// end. Worker thread only; kept alive by its coroutine (shared_from_this).
class TlsHandshake final : public DownstreamTask,
                           public std::enable_shared_from_this<TlsHandshake> {
 public:
  TlsHandshake(Worker& worker, WorkerSocket socket, TlsListenerCounters& listener)
      : worker_(worker), socket_(std::move(socket)), listener_(listener) {
    worker_.session_started(this);
  }
  ~TlsHandshake() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    worker_.session_ended(this);
    if (!handed_over_) worker_.connections().closed();
  }

  void start() {
    asio::co_spawn(
        socket_.get_executor(), [self = shared_from_this()] { return self->run(); },
        asio::detached);
  }
  void drain() override {
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  }
  void expire_if_due(std::chrono::steady_clock::time_point now) override {
    if (now < deadline_ || timed_out_) return;
    timed_out_ = true;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  }

 private:
  asio::awaitable<void> run();
  // SSL_do_handshake until done; false when it failed (counted).
  asio::awaitable<bool> handshake();
  void fail(TlsFailure why, std::string_view detail);

  Worker& worker_;
  WorkerSocket socket_;
  TlsListenerCounters& listener_;
  std::shared_ptr<const TlsContexts> contexts_;
  SSL* ssl_ = nullptr;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  bool timed_out_ = false;
  bool handed_over_ = false;
};

void TlsHandshake::fail(TlsFailure why, std::string_view detail) {
  listener_.count_failure(why);
  log::debug("TLS handshake on " + listener_.listener +
             " failed: " + std::string(kTlsFailureNames[static_cast<std::size_t>(why)]) +
             (detail.empty() ? "" : " (" + std::string(detail) + ")"));
}

asio::awaitable<bool> TlsHandshake::handshake() {
  const auto [ec, error] = co_await tls_handshake(TlsIo{&socket_, ssl_});
  if (!ec) co_return true;
  if (error == 0) {
    // The client went away, or its time ran out, mid-handshake.
    fail(timed_out_ ? TlsFailure::timeout : TlsFailure::closed, {});
  } else {
    const char* reason = ERR_reason_error_string(error);
    fail(classify_failure(error), reason != nullptr ? reason : "");
  }
  co_return false;
}

asio::awaitable<void> TlsHandshake::run() {
  contexts_ = worker_.tls();
  if (!contexts_ || !contexts_->server) co_return;  // TLS gone by a reload: close
  const TlsServerContexts& server = *contexts_->server;
  deadline_ = std::chrono::steady_clock::now() + server.handshake_timeout();
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  if (!ec) socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  // Nothing of TLS is made before the client speaks.
  if (!ec) std::tie(ec) = co_await socket_.async_wait(WorkerSocket::wait_read, use_nothrow);
  if (ec) {
    fail(timed_out_ ? TlsFailure::timeout : TlsFailure::closed, {});
    co_return;
  }
  ssl_ = SSL_new(server.default_context());
  if (ssl_ == nullptr || SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle())) != 1) {
    fail(TlsFailure::other, "cannot make an SSL");
    co_return;
  }
  SSL_set_accept_state(ssl_);
  if (!co_await handshake()) co_return;
  listener_.handshakes.fetch_add(1, std::memory_order_relaxed);
  if (SSL_session_reused(ssl_)) listener_.resumed.fetch_add(1, std::memory_order_relaxed);
  // The connection counts from here on in the DownstreamConnection; it keeps the contexts.
  handed_over_ = true;
  SSL* ssl = std::exchange(ssl_, nullptr);
  const unsigned char* alpn = nullptr;
  unsigned int alpn_size = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_size);
  if (alpn_size == 2 && alpn[0] == 'h' && alpn[1] == '2') {
    ClientIdentity client = identify_client(socket_);
    describe_tls(ssl, client);
    start_h2_connection(worker_, TlsStream(std::move(socket_), ssl, std::move(contexts_)), client,
                        {});
    co_return;
  }
  std::make_shared<DownstreamConnection<TlsStream>>(
      worker_, TlsStream(std::move(socket_), ssl, std::move(contexts_)))
      ->start();
}

}  // namespace

ClientIdentity identify_client(WorkerSocket& socket) {
  ClientIdentity client;
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (!ec) client.ip = remote.address().to_string();
  // The authority the client reached: the Host sent on for requests without one (HTTP/1.0).
  auto local = socket.local_endpoint(ec);
  if (!ec) {
    client.local_authority = local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                                     : local.address().to_string();
    client.local_authority += ":" + std::to_string(local.port());
  }
  return client;
}

void describe_tls(SSL* ssl, ClientIdentity& client) {
  client.tls = true;
  client.tls_version = tls_io::version(ssl);
  client.tls_cipher = tls_io::cipher(ssl);
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return;
  // RFC 2253 form ("CN=alice,O=Example"), on one line.
  BIO* out = BIO_new(BIO_s_mem());
  if (out == nullptr) return;
  if (X509_NAME_print_ex(out, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(out, &data);
    if (size > 0) client.client_cert_subject.assign(data, static_cast<std::size_t>(size));
  }
  BIO_free(out);
}

void start_tls_connection(Worker& worker, WorkerSocket socket, TlsListenerCounters& listener) {
  std::make_shared<TlsHandshake>(worker, std::move(socket), listener)->start();
}

}  // namespace ringproxy
