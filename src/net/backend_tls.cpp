// TLS to a backend (see backend_tls.hpp).
#include "net/backend_tls.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>

namespace ringproxy {

boost::asio::awaitable<std::string> start_backend_tls(BackendStream& stream,
                                                      const UpstreamTlsContext& tls,
                                                      const HostPort& backend, bool h2) {
  SSL* ssl = SSL_new(tls.context->native_handle());
  if (ssl == nullptr) co_return "cannot make an SSL: " + openssl_error_reason("out of memory");
  stream.start_tls(ssl);  // the stream owns it from here
  boost::system::error_code ec;
  stream.socket().non_blocking(true, ec);
  if (ec || SSL_set_fd(ssl, static_cast<int>(stream.socket().native_handle())) != 1) {
    co_return "cannot set up TLS on the socket";
  }
  SSL_set_connect_state(ssl);
  const std::string& name = tls.server_name.empty() ? backend.host : tls.server_name;
  boost::system::error_code not_ip;
  boost::asio::ip::make_address(name, not_ip);
  if (not_ip) {
    SSL_set_tlsext_host_name(ssl, name.c_str());
    if (tls.verify) SSL_set1_host(ssl, name.c_str());
  } else if (tls.verify) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
  }
  static constexpr unsigned char kH2[] = {2, 'h', '2'};
  if (h2) SSL_set_alpn_protos(ssl, kH2, sizeof(kH2));
  const auto [hec, error] = co_await tls_handshake(stream.tls());
  if (!hec && h2) {
    const unsigned char* chosen = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl, &chosen, &length);
    if (length != 2 || chosen[0] != 'h' || chosen[1] != '2') {
      co_return "the backend did not agree to HTTP/2 (ALPN h2)";
    }
  }
  if (!hec) co_return std::string();
  const long verify = SSL_get_verify_result(ssl);
  if (tls.verify && verify != X509_V_OK) {
    co_return std::string("certificate verification failed: ") +
        X509_verify_cert_error_string(verify);
  }
  if (error != 0) {
    const char* reason = ERR_reason_error_string(error);
    co_return std::string("handshake failed: ") + (reason != nullptr ? reason : "unknown");
  }
  co_return "handshake failed: " + hec.message();
}

}  // namespace ringproxy
