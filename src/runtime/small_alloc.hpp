// A thread-caching allocator for small blocks, given to OpenSSL (see docs/tls.md).
#pragma once

#include <cstddef>

namespace ringproxy {

// Blocks of up to kMaxSmall bytes from size classes, each thread taking from and giving back
// to its own free lists (no lock, no atomic read-modify-write); larger blocks go to malloc.
// Thread-safe: every member may be called from any thread, and a block may be released on
// another thread than the one that took it (it then joins that thread's lists, and lists that
// grow past their bound hand half to a shared list under a mutex per size class).
class SmallAlloc {
 public:
  static constexpr std::size_t kMaxSmall = 8192;

  // Reserves the address range the small blocks come from (address space only: memory is
  // committed as spans are needed). Before it, and if it fails, every block is malloc's.
  // Idempotent; returns whether the range is there.
  static bool reserve();
  // nullptr for 0 bytes (as OpenSSL's CRYPTO_malloc), else a 16-byte aligned block.
  static void* allocate(std::size_t bytes);
  // realloc's contract; a small block keeps its place when the new size fits its class.
  static void* reallocate(void* block, std::size_t bytes);
  // Any block from allocate or reallocate, or nullptr.
  static void release(void* block);

  // Bytes of small blocks taken and not yet released, all threads together (their classes'
  // sizes). Takes the mutex of the list of threads: for scrapes, not for a request path.
  static std::size_t bytes_in_use();
  // Whether block is a small block (from the reserved range).
  static bool owns(const void* block);
  // The usable size of a small block (its class), 0 for any other.
  static std::size_t block_size(const void* block);
};

}  // namespace ringproxy
