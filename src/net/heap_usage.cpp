#include "net/heap_usage.hpp"

#include "runtime/small_alloc.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RINGPROXY_SANITIZER_HEAP 1
// From the sanitizer runtime (its header is not installed with g++'s libasan).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

namespace ringproxy {

std::size_t heap_bytes_in_use() {
#ifdef RINGPROXY_SANITIZER_HEAP
  return __sanitizer_get_current_allocated_bytes() + SmallAlloc::bytes_in_use();
#else
  const struct mallinfo2 info = ::mallinfo2();
  // small chunks in use + mmapped chunks + OpenSSL's small blocks (net/tls_memory.hpp)
  return info.uordblks + info.hblkhd + SmallAlloc::bytes_in_use();
#endif
}

}  // namespace ringproxy
