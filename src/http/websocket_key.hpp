// The WebSocket opening handshake's key and accept values (RFC 6455 §4.2.2), for a proxy that
// speaks the HTTP/1.1 handshake to a backend on an HTTP/2 client's behalf (RFC 8441).
#pragma once

#include <string>
#include <string_view>

namespace ringproxy {

// A fresh Sec-WebSocket-Key: 16 random bytes, base64 (24 characters).
std::string websocket_key();
// The Sec-WebSocket-Accept a backend must answer key with: base64(SHA-1(key + the GUID)).
std::string websocket_accept(std::string_view key);

}  // namespace ringproxy
