// How much heap memory the process has allocated now, for /metrics and leak checks.
#pragma once

#include <cstddef>

namespace ringproxy {

// Bytes handed out by malloc and not yet freed (glibc's mallinfo2, or the sanitizer
// allocator's count in sanitizer builds), and by SmallAlloc (OpenSSL's small blocks). Any thread;
// walks the allocator's arenas, so it is for scrapes, not for the request path.
std::size_t heap_bytes_in_use();

}  // namespace ringproxy
