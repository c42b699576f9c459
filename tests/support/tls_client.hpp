// A blocking TLS client for tests, on OpenSSL directly: versions, SNI, client certificates and
// session resumption under the test's control, and what the server presented.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ringproxy::test {

// A TLS session a later connection may resume (shared: SSL_SESSION is reference-counted).
using TlsSession = std::shared_ptr<SSL_SESSION>;

struct TlsClientOptions {
  std::string sni{};    // empty: no SNI
  int min_version = 0;  // TLS1_VERSION...; 0: any the library allows
  int max_version = 0;
  bool legacy = false;  // allow TLS 1.0/1.1 on this side (SECLEVEL 0), to offer them
  std::string cert{};   // client certificate and key (PEM), for mutual TLS
  std::string key{};
  TlsSession session{};        // resume this session
  std::string ca{};            // verify the server against this PEM file (empty: no check)
  bool offer_h2 = false;       // ALPN offers "h2" before "http/1.1" (only to see it chosen: this
                               // client speaks HTTP/1.1)
  std::string tls13_suites{};  // TLS 1.3 suites offered, in order (empty: OpenSSL's default)
};

// A simple HTTP/1.1 exchange's result over TLS.
struct TlsResponse {
  int status = 0;
  std::string head;  // status line and fields
  std::string body;
  std::string error;
};

// One TLS connection to 127.0.0.1. One thread at a time.
class TlsClient {
 public:
  TlsClient() = default;
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // Connects and completes the handshake; false with error() set when either fails.
  bool connect(std::uint16_t port, const TlsClientOptions& options = {});
  const std::string& error() const { return error_; }

  std::string peer_common_name() const;  // the server certificate's CN
  std::string version() const;           // "TLSv1.3"
  std::string cipher() const;            // "TLS_AES_128_GCM_SHA256"
  std::string alpn() const;              // the protocol the server chose, "" for none
  bool resumed() const;
  TlsSession session() const;  // the session now (after a response, with its ticket)

  // GET target with Host host (and extra header lines), keep-alive; reads a Content-Length
  // response.
  TlsResponse get(const std::string& target, const std::string& host = "localhost",
                  const std::string& extra_headers = "");
  void close();

  // TLS 1.3: new sending keys with the next write (a KeyUpdate message), asking the server to
  // update its own too when request_peer; and how many KeyUpdates came from the server.
  bool key_update(bool request_peer);
  int key_updates_received() const { return key_updates_received_; }

 private:
  bool fail(const std::string& what);
  static void on_message(int write_p, int version, int content_type, const void* buf,
                         std::size_t len, SSL* ssl, void* arg);

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string error_;
  std::string pending_;  // bytes read past the last response
  int key_updates_received_ = 0;
};

}  // namespace ringproxy::test
