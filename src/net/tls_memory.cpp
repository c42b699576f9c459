#include "net/tls_memory.hpp"

#include <openssl/crypto.h>

#include "runtime/small_alloc.hpp"

namespace ringproxy {

namespace {

void* tls_malloc(std::size_t bytes, const char* /*file*/, int /*line*/) {
  return SmallAlloc::allocate(bytes);
}
void* tls_realloc(void* block, std::size_t bytes, const char* /*file*/, int /*line*/) {
  return SmallAlloc::reallocate(block, bytes);
}
void tls_free(void* block, const char* /*file*/, int /*line*/) {
  SmallAlloc::release(block);
}

}  // namespace

bool install_tls_memory() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return false;
#else
  if (!SmallAlloc::reserve()) return false;
  return CRYPTO_set_mem_functions(tls_malloc, tls_realloc, tls_free) == 1;
#endif
}

}  // namespace ringproxy
