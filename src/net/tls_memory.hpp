// OpenSSL's memory functions (see docs/tls.md, "What a full handshake costs").
#pragma once

namespace ringproxy {

// Gives OpenSSL's allocations to SmallAlloc (runtime/small_alloc.hpp): a TLS handshake makes
// about 700 small ones. To be called first thing in main, before OpenSSL allocates anything;
// returns whether they are installed (never in sanitizer builds, whose allocator is to see
// OpenSSL's blocks).
bool install_tls_memory();

}  // namespace ringproxy
