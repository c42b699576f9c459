// Random bytes for TLS session ids and ticket IVs (see docs/tls.md).
#pragma once

#include <openssl/ssl.h>

#include <cstddef>

namespace ringproxy {

// OpenSSL's public random generator (RAND_bytes) drawn 512 bytes at a time rather than per
// session id or IV: each RAND_bytes call costs about 6,000 instructions however few bytes it
// gives. A byte is handed out once, and wiped from the pool as it is. Thread-safe: each
// thread has its own pool.
class TlsRandom {
 public:
  // Fills out with n random bytes; false if the generator failed.
  static bool fill(unsigned char* out, std::size_t n);
  // SSL_CTX_set_generate_session_id's callback: *id_len random bytes (OpenSSL's default
  // generator, from the pool).
  static int generate_session_id(SSL* ssl, unsigned char* id, unsigned int* id_len);
};

}  // namespace ringproxy
