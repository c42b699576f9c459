#include "net/heap_usage.hpp"

#include "runtime/small_alloc.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// From the sanitizer runtime (its header is not installed with g++'s libasan).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#elif defined(RINGPROXY_TCMALLOC)
#include <gperftools/malloc_extension_c.h>
#else
#include <malloc.h>
#endif

namespace ringproxy {

namespace {

// Bytes the process's malloc has handed out and not taken back.
std::size_t malloc_bytes_in_use() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return __sanitizer_get_current_allocated_bytes();
#elif defined(RINGPROXY_TCMALLOC)
  std::size_t bytes = 0;
  MallocExtension_GetNumericProperty("generic.current_allocated_bytes", &bytes);
  return bytes;
#else
  const struct mallinfo2 info = ::mallinfo2();
  return info.uordblks + info.hblkhd;  // small chunks in use + mmapped chunks
#endif
}

}  // namespace

std::size_t heap_bytes_in_use() {
  // OpenSSL's small blocks (net/tls_memory.hpp) are SmallAlloc's, apart from malloc's count.
  return malloc_bytes_in_use() + SmallAlloc::bytes_in_use();
}

}  // namespace ringproxy
