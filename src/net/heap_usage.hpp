// How much heap memory the process has allocated now, for /metrics and leak checks.
#pragma once

#include <cstddef>

namespace ringproxy {

// Bytes handed out by malloc and not yet freed (tcmalloc's count; glibc's mallinfo2 without it;
// the sanitizer allocator's count in sanitizer builds), and by SmallAlloc (OpenSSL's small
// blocks). Any thread; may walk the allocator's state, so it is for scrapes, not the request path.
std::size_t heap_bytes_in_use();

}  // namespace ringproxy
