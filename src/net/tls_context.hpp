// The TLS contexts of one config generation: the listeners' certificates (chosen by SNI) and
// the upstreams' client contexts, built and checked before a generation is installed.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/config_loader.hpp"
#include "policy/ticket_key_ring.hpp"

namespace ringproxy {

// The process's session ticket keys, shared by every worker and every generation (a reload
// keeps them, so tickets survive it); they rotate every 12 hours, the previous generation
// kept. Thread-safe (a mutex around the ring, held for a key copy).
class TlsTicketKeys {
 public:
  TlsTicketKeys();
  ~TlsTicketKeys();
  TlsTicketKeys(const TlsTicketKeys&) = delete;
  TlsTicketKeys& operator=(const TlsTicketKeys&) = delete;

  // The process's one set.
  static TlsTicketKeys& process();
  // Installs the ticket callback on ctx (SSL_CTX_set_tlsext_ticket_key_evp_cb).
  void install(SSL_CTX* ctx);
  void rotate();

 private:
  static int ticket_callback(SSL* ssl, unsigned char* name, unsigned char* iv,
                             EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc);
  int seal_or_open(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                   int enc);

  std::mutex mutex_;
  TicketKeyRing ring_;
  EVP_CIPHER* aes_;  // fetched once: no algorithm fetch (and its lock) per handshake
};

// The certificates of the TLS listeners of one generation, with SNI choosing among them
// (exact names before wildcards, the first certificate for no match). Immutable once built;
// any thread. A connection holds the set it was accepted with (shared_ptr) for its life.
class TlsServerContexts {
 public:
  // Reads and checks every file (readable, PEM, the key matches the certificate); nullptr
  // with errors naming the file and the reason at the key's line.
  static std::shared_ptr<const TlsServerContexts> build(const TlsConfig& cfg,
                                                        const std::string& file,
                                                        std::vector<ConfigError>* errors);
  TlsServerContexts() = default;
  TlsServerContexts(const TlsServerContexts&) = delete;
  TlsServerContexts& operator=(const TlsServerContexts&) = delete;

  SSL_CTX* default_context() const { return contexts_.front()->native_handle(); }
  // The context serving an SNI name (already lower-cased or not); the default when none does.
  SSL_CTX* context_for(std::string_view name) const;
  Duration handshake_timeout() const { return handshake_timeout_; }

 private:
  static int servername_callback(SSL* ssl, int* alert, void* arg);
  bool add_certificate(const TlsConfig& cfg, const TlsCertificateConfig& cert,
                       const std::string& file, std::vector<ConfigError>* errors);

  std::vector<std::unique_ptr<boost::asio::ssl::context>> contexts_;
  std::map<std::string, SSL_CTX*, std::less<>> exact_;
  std::vector<std::pair<std::string, SSL_CTX*>> wildcards_;  // ".example.com" suffixes
  Duration handshake_timeout_{};
};

// One upstream's TLS client context and what a connection sets on its SSL.
struct UpstreamTlsContext {
  std::unique_ptr<boost::asio::ssl::context> context;
  std::string server_name;  // empty: the backend's host
  bool verify = true;
};

// Everything TLS of one generation. Immutable once built; any thread.
struct TlsContexts {
  std::shared_ptr<const TlsServerContexts> server;                   // null without [tls]
  std::map<std::string, UpstreamTlsContext, std::less<>> upstreams;  // by upstream name

  const UpstreamTlsContext* upstream(std::string_view name) const {
    auto it = upstreams.find(name);
    return it == upstreams.end() ? nullptr : &it->second;
  }
};

// A client context for an upstream's tls = {...} (its CA file loaded and checked); nullptr with
// *error naming the file and the reason.
std::unique_ptr<boost::asio::ssl::context> make_upstream_tls_context(const UpstreamTlsConfig& cfg,
                                                                     std::string* error);
// The name a backend connection sends in SNI and verifies: server_name, else the backend's host.
inline const std::string& upstream_tls_name(const UpstreamTlsConfig& cfg, const HostPort& backend) {
  return cfg.server_name.empty() ? backend.host : cfg.server_name;
}

// Builds a generation's contexts from its config, checking every file; nullptr with errors.
std::shared_ptr<const TlsContexts> build_tls_contexts(const Config& config,
                                                      std::vector<ConfigError>* errors);

// The contexts in force: published whole by a reload, read at each handshake. Thread-safe.
class TlsStore {
 public:
  explicit TlsStore(std::shared_ptr<const TlsContexts> initial) : current_(std::move(initial)) {}
  std::shared_ptr<const TlsContexts> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void publish(std::shared_ptr<const TlsContexts> next) noexcept {
    std::lock_guard lock(mutex_);
    current_.swap(next);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const TlsContexts> current_;
};

// The reason of the most recent OpenSSL error in this thread's queue (which it empties), or
// fallback when the queue is empty.
std::string openssl_error_reason(std::string_view fallback);

}  // namespace ringproxy
