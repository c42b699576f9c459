// The process's session ticket keys (see tls_context.hpp).
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "net/tls_context.hpp"
#include "net/tls_random.hpp"

namespace ringproxy {

namespace {

constexpr std::chrono::hours kRotateEvery{12};

void random_key(TicketKey& key) {
  RAND_bytes(key.name.data(), static_cast<int>(key.name.size()));
  RAND_bytes(key.aes.data(), static_cast<int>(key.aes.size()));
  RAND_bytes(key.hmac.data(), static_cast<int>(key.hmac.size()));
}

}  // namespace

TlsTicketKeys::TlsTicketKeys()
    : ring_(kRotateEvery, random_key), aes_(EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr)) {}

TlsTicketKeys::~TlsTicketKeys() {
  EVP_CIPHER_free(aes_);
}

TlsTicketKeys& TlsTicketKeys::process() {
  static TlsTicketKeys keys;
  return keys;
}

void TlsTicketKeys::install(SSL_CTX* ctx) {
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &TlsTicketKeys::ticket_callback);
}

void TlsTicketKeys::rotate() {
  std::lock_guard lock(mutex_);
  ring_.rotate(TicketKeyRing::Clock::now());
}

int TlsTicketKeys::ticket_callback(SSL* ssl, unsigned char* name, unsigned char* iv,
                                   EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
  const int result = process().seal_or_open(name, iv, cipher, mac, enc);
  // A TLS 1.3 client uses a ticket once (RFC 8446 §C.4; OpenSSL's client does): a resumption
  // gets a fresh ticket (2: renew), else the client's next connection is a full handshake.
  if (result == 1 && enc == 0 && SSL_version(ssl) == TLS1_3_VERSION) return 2;
  return result;
}

// OpenSSL's contract: sealing fills name and iv and returns 1 (or -1 on failure); opening
// returns 0 for an unknown key (a full handshake follows), 1 for a good one, 2 for one to
// renew.
int TlsTicketKeys::seal_or_open(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                                EVP_MAC_CTX* mac, int enc) {
  if (aes_ == nullptr) return -1;
  TicketKey key;
  int result = 1;
  const auto now = TicketKeyRing::Clock::now();
  if (enc == 1) {
    {
      std::lock_guard lock(mutex_);
      key = ring_.sealing_key(now);
    }
    const int iv_length = EVP_CIPHER_get_iv_length(aes_);
    if (iv_length <= 0 || !TlsRandom::fill(iv, static_cast<std::size_t>(iv_length))) return -1;
    std::copy(key.name.begin(), key.name.end(), name);
    if (EVP_EncryptInit_ex(cipher, aes_, nullptr, key.aes.data(), iv) != 1) return -1;
  } else {
    bool renew = false;
    std::optional<TicketKey> found;
    {
      std::lock_guard lock(mutex_);
      found = ring_.find(name, now, &renew);
    }
    if (!found) return 0;
    key = *found;
    result = renew ? 2 : 1;
    if (EVP_DecryptInit_ex(cipher, aes_, nullptr, key.aes.data(), iv) != 1) return -1;
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac.data(), key.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  return result;
}

}  // namespace ringproxy
