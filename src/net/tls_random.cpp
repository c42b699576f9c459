#include "net/tls_random.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <cstring>

namespace ringproxy {

namespace {

struct Pool {
  std::array<unsigned char, 512> bytes{};
  std::size_t used = 512;  // bytes[used..] not handed out yet
};

constinit thread_local Pool t_pool;

}  // namespace

bool TlsRandom::fill(unsigned char* out, std::size_t n) {
  Pool& pool = t_pool;
  if (n > pool.bytes.size()) return RAND_bytes(out, static_cast<int>(n)) == 1;
  if (pool.bytes.size() - pool.used < n) {
    if (RAND_bytes(pool.bytes.data(), static_cast<int>(pool.bytes.size())) != 1) return false;
    pool.used = 0;
  }
  std::memcpy(out, pool.bytes.data() + pool.used, n);
  OPENSSL_cleanse(pool.bytes.data() + pool.used, n);
  pool.used += n;
  return true;
}

int TlsRandom::generate_session_id(SSL* /*ssl*/, unsigned char* id, unsigned int* id_len) {
  return fill(id, *id_len) ? 1 : 0;
}

}  // namespace ringproxy
