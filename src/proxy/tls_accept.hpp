// A new connection on a TLS listener: its handshake, then a DownstreamConnection<TlsStream>.
#pragma once

#include <openssl/ssl.h>

#include "net/tls_metrics.hpp"
#include "net/worker.hpp"
#include "net/worker_socket.hpp"
#include "proxy/request_plan.hpp"

namespace ringproxy {

// Starts the handshake of a connection accepted on a TLS listener (the handlers' start_tls).
// Until the client's first bytes arrive it costs its descriptor and a small task; the SSL is
// made when they do. handshake_timeout bounds the whole handshake.
void start_tls_connection(Worker& worker, WorkerSocket socket, TlsListenerCounters& listener);

// Who is at the other end of socket: its address, and the authority it reached.
ClientIdentity identify_client(WorkerSocket& socket);

// Fills client's TLS facts from a connection's finished handshake.
void describe_tls(SSL* ssl, ClientIdentity& client);

}  // namespace ringproxy
