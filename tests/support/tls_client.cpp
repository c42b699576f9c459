// A blocking TLS client for tests (see tls_client.hpp).
#include "support/tls_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace ringproxy::test {

namespace {

std::string openssl_errors() {
  std::string out;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(e, buffer, sizeof buffer);
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out;
}

}  // namespace

TlsClient::~TlsClient() {
  close();
}

void TlsClient::close() {
  // close_notify first: a TLS 1.2 session freed without it is no longer resumable.
  if (ssl_ != nullptr && SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
  ERR_clear_error();
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
  ssl_ = nullptr;
  ctx_ = nullptr;
  fd_ = -1;
  pending_.clear();
}

bool TlsClient::fail(const std::string& what) {
  error_ = what;
  const std::string detail = openssl_errors();
  if (!detail.empty()) error_ += ": " + detail;
  return false;
}

bool TlsClient::connect(std::uint16_t port, const TlsClientOptions& o) {
  close();
  ERR_clear_error();
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) return fail("SSL_CTX_new");
  if (o.legacy) {
    SSL_CTX_set_security_level(ctx_, 0);
    SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
  }
  SSL_CTX_set_min_proto_version(ctx_, o.min_version);
  SSL_CTX_set_max_proto_version(ctx_, o.max_version);
  if (!o.tls13_suites.empty() && SSL_CTX_set_ciphersuites(ctx_, o.tls13_suites.c_str()) != 1) {
    return fail("TLS 1.3 suites");
  }
  static const unsigned char kAlpn[] = "\x02h2\x08http/1.1";
  const unsigned char* offer = o.offer_h2 ? kAlpn : kAlpn + 3;
  SSL_CTX_set_alpn_protos(ctx_, offer, o.offer_h2 ? sizeof(kAlpn) - 1 : sizeof(kAlpn) - 4);
  if (!o.ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, o.ca.c_str(), nullptr) != 1) return fail("CA file");
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.cert.empty() &&
      (SSL_CTX_use_certificate_chain_file(ctx_, o.cert.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx_, o.key.c_str(), SSL_FILETYPE_PEM) != 1)) {
    return fail("client certificate");
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return fail(std::string("connect: ") + std::strerror(errno));
  }
  timeval tv{10, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  key_updates_received_ = 0;
  SSL_set_msg_callback(ssl_, on_message);
  SSL_set_msg_callback_arg(ssl_, this);
  if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl_, o.sni.c_str());
  if (o.session) SSL_set_session(ssl_, o.session.get());
  if (SSL_connect(ssl_) != 1) return fail("handshake");
  // TLS 1.3: with mutual TLS the server's verdict on the client comes after the handshake;
  // a peek makes it arrive (a refused client reads an alert here).
  if (SSL_version(ssl_) == TLS1_3_VERSION && !o.cert.empty()) {
    const int flags = ::fcntl(fd_, F_GETFL);
    ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    bool refused = false;
    for (int i = 0; i < 4 && !refused; ++i) {  // what arrives within 200 ms (tickets or alert)
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char byte;
      const int n = SSL_peek(ssl_, &byte, 1);
      refused = n <= 0 && SSL_get_error(ssl_, n) != SSL_ERROR_WANT_READ;
    }
    ::fcntl(fd_, F_SETFL, flags);
    if (refused) return fail("refused after the handshake");
  }
  return true;
}

std::string TlsClient::peer_common_name() const {
  X509* cert = ssl_ != nullptr ? SSL_get0_peer_certificate(ssl_) : nullptr;
  if (cert == nullptr) return {};
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  return cn;
}

std::string TlsClient::version() const {
  return ssl_ != nullptr ? SSL_get_version(ssl_) : "";
}

std::string TlsClient::cipher() const {
  return ssl_ != nullptr ? SSL_get_cipher_name(ssl_) : "";
}

std::string TlsClient::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  if (ssl_ != nullptr) SSL_get0_alpn_selected(ssl_, &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

bool TlsClient::resumed() const {
  return ssl_ != nullptr && SSL_session_reused(ssl_) == 1;
}

TlsSession TlsClient::session() const {
  SSL_SESSION* s = ssl_ != nullptr ? SSL_get1_session(ssl_) : nullptr;
  return TlsSession(s, SSL_SESSION_free);
}

void TlsClient::on_message(int write_p, int, int content_type, const void* buf, std::size_t len,
                           SSL*, void* arg) {
  const auto* bytes = static_cast<const unsigned char*>(buf);
  if (write_p == 0 && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
      bytes[0] == SSL3_MT_KEY_UPDATE) {
    ++static_cast<TlsClient*>(arg)->key_updates_received_;
  }
}

bool TlsClient::key_update(bool request_peer) {
  return ssl_ != nullptr && SSL_key_update(ssl_, request_peer ? SSL_KEY_UPDATE_REQUESTED
                                                              : SSL_KEY_UPDATE_NOT_REQUESTED) == 1;
}

TlsResponse TlsClient::get(const std::string& target, const std::string& host,
                           const std::string& extra_headers) {
  TlsResponse r;
  const std::string request =
      "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra_headers + "\r\n";
  if (ssl_ == nullptr || SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) {
    r.error = "write failed";
    return r;
  }
  std::string& in = pending_;
  auto fill = [&] {
    char buffer[16384];
    const int n = SSL_read(ssl_, buffer, sizeof buffer);
    if (n <= 0) return false;
    in.append(buffer, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t end;
  while ((end = in.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) {
      r.error = "closed before a response head: " + openssl_errors();
      return r;
    }
  }
  r.head = in.substr(0, end);
  in.erase(0, end + 4);
  if (r.head.size() > 12) r.status = std::atoi(r.head.c_str() + 9);
  std::size_t length = 0;
  for (const char* name : {"\r\nContent-Length: ", "\r\ncontent-length: "}) {
    if (auto at = r.head.find(name); at != std::string::npos) {
      length = std::strtoul(r.head.c_str() + at + std::strlen(name), nullptr, 10);
    }
  }
  while (in.size() < length) {
    if (!fill()) {
      r.error = "closed mid-body";
      return r;
    }
  }
  r.body = in.substr(0, length);
  in.erase(0, length);
  return r;
}

}  // namespace ringproxy::test
