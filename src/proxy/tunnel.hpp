// The two-way byte tunnel a 101 (Upgrade: websocket...) turns a client and a backend
// connection into.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/pipe_stream.hpp"
#include "net/relay_buffer.hpp"
#include "net/tcp_stream.hpp"
#include "net/tls_stream.hpp"
#include "net/upstream_pool.hpp"
#include "net/worker.hpp"
#include "net/worker_metrics.hpp"
#include "runtime/backend_lease.hpp"
#include "runtime/backend_state.hpp"

namespace ringproxy {

// What an upgraded request hands from its exchange to its tunnel: the backend connection,
// the hold on the backend (kept past any reload that removes it), and what the tunnel's log
// line says. Moved once, on the worker's thread.
struct TunnelStart {
  TunnelStart(std::unique_ptr<UpstreamConnection> b, std::shared_ptr<BackendState> s,
              BackendLease&& l, WorkerMetrics::BackendCounts* c)
      : backend(std::move(b)), state(std::move(s)), lease(std::move(l)), counts(c) {}

  std::unique_ptr<UpstreamConnection> backend;
  std::shared_ptr<BackendState> state;  // keeps the backend's state (and key) alive
  BackendLease lease;                   // one request in flight for max_concurrent, bounded load
  WorkerMetrics::BackendCounts* counts = nullptr;  // this worker's, for the in-flight gauge
  std::chrono::steady_clock::time_point started;   // the upgrade request's start
  std::string client;
  std::string target;
  std::string upstream;
  std::string request_id;
  unsigned attempts = 0;
  // The client connection's TLS (OpenSSL's static names; empty on cleartext): an HTTP/2
  // stream's tunnel has no TLS stream of its own to ask.
  std::string_view tls_version;
  std::string_view tls_cipher;
};

// Relays bytes both ways between a client's Stream and a backend's TcpStream until either
// side ends it, the tunnel idles for server.tunnel_idle_timeout or a drain's deadline passes.
// One relay for both directions (pump), with at most one buffer each way: a buffer is taken
// from the worker's pool only while bytes are in transit, and nothing more is read from a
// side until the other has taken what came (backpressure). Holds no snapshot: reloads do not
// touch it. A worker task (drained, its deadline checked by the worker's tick); lives on its
// worker's thread, kept alive by its pending operations (shared_from_this).
template <class Stream>
class Tunnel final : public DownstreamTask, public std::enable_shared_from_this<Tunnel<Stream>> {
 public:
  // early: bytes the client sent after its upgrade request, for the backend first.
  Tunnel(Worker& worker, Stream client, TunnelStart start, std::string_view early);
  ~Tunnel();
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  void start();
  void drain() override;
  void expire_if_due(std::chrono::steady_clock::time_point now) override;

 private:
  using Clock = std::chrono::steady_clock;
  // One direction's bytes in transit: [begin, end) of data still to write.
  struct Flow {
    std::unique_ptr<char[]> data;  // from the worker's relay pool, only while needed
    std::size_t begin = 0;
    std::size_t end = 0;
    std::uint64_t total = 0;  // bytes relayed this way
    bool eof = false;         // the source sent its FIN
    bool done = false;        // ... and the FIN was passed on
  };

  // Relays what from has to to, until it must wait (then a handler goes on) or the tunnel
  // ends. to_backend: the direction, for the metrics and who closed.
  template <class From, class To>
  void pump(Flow& f, From& from, To& to, bool to_backend);
  void pump_up() { pump(up_, client_, backend(), true); }
  void pump_down() { pump(down_, backend(), client_, false); }
  BackendStream& backend() { return start_.backend->stream; }
  void wrote(Flow& f, std::size_t n, bool to_backend);
  void give_back(Flow& f);
  // Ends the tunnel (once): both sockets closed, the log line written.
  void finish(std::string_view closed_by);

  // Buffers move this much at most before the other connections of the worker get a turn.
  static constexpr int kTurnBuffers = 16;

  Worker& worker_;
  Stream client_;
  TunnelStart start_;
  Flow up_;    // client to backend
  Flow down_;  // backend to client
  Clock::time_point last_active_;
  Clock::duration idle_timeout_;
  Clock::time_point close_at_ = Clock::time_point::max();  // a drain's deadline
  std::string_view first_eof_;                             // the side whose FIN came first
  bool closed_ = false;
};

extern template class Tunnel<TcpStream>;
extern template class Tunnel<TlsStream>;
extern template class Tunnel<PipeStream>;  // WebSocket over HTTP/2 (one stream)

}  // namespace ringproxy
