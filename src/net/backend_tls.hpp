// TLS to a backend: the SSL for a new backend connection and its handshake.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "config/host_port.hpp"
#include "net/backend_stream.hpp"
#include "net/tls_context.hpp"

namespace ringproxy {

// Sets up TLS on a connected stream to backend (SNI and the name verified: the upstream's
// server_name, else the backend's host) and runs the handshake. Empty on success, else why it
// failed, naming the verification error when that was it. A cancel of the stream's socket
// (the caller's deadline) ends it. h2: ALPN offers "h2" alone, and the backend must take it.
boost::asio::awaitable<std::string> start_backend_tls(BackendStream& stream,
                                                      const UpstreamTlsContext& tls,
                                                      const HostPort& backend, bool h2 = false);

}  // namespace ringproxy
