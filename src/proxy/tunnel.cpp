// The two-way byte tunnel after a 101 (see tunnel.hpp).
#include "proxy/tunnel.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <cstring>

#include "log/log.hpp"

namespace ringproxy {

namespace asio = boost::asio;

template <class Stream>
Tunnel<Stream>::Tunnel(Worker& worker, Stream client, TunnelStart start, std::string_view early)
    : worker_(worker),
      client_(std::move(client)),
      start_(std::move(start)),
      last_active_(Clock::now()),
      idle_timeout_(worker.snapshot()->config().server.tunnel_idle_timeout) {
  worker_.session_started(this);
  worker_.metrics().add_tunnel(1);
  WorkerMetrics::add_in_flight(start_.counts, 1);
  start_.backend->buffer.shrink_to_fit();  // its bytes went to the client with the 101
  if (worker_.draining()) close_at_ = worker_.drain_deadline();
  if (!early.empty()) {
    // What the client sent after its request head (at most one client read): for the backend.
    up_.data = worker_.relay_buffers().take();
    up_.end = std::min(early.size(), RelayBuffer::size());
    std::memcpy(up_.data.get(), early.data(), up_.end);
  }
}

template <class Stream>
Tunnel<Stream>::~Tunnel() {
  give_back(up_);
  give_back(down_);
  WorkerMetrics::add_in_flight(start_.counts, -1);
  worker_.metrics().add_tunnel(-1);
  worker_.session_ended(this);
  // A stream's tunnel: its HTTP/2 connection counts itself.
  if constexpr (!Stream::kMultiplexed) worker_.connections().closed();
}

template <class Stream>
void Tunnel<Stream>::start() {
  pump_up();
  pump_down();
}

template <class Stream>
void Tunnel<Stream>::drain() {
  close_at_ = worker_.drain_deadline();
}

template <class Stream>
void Tunnel<Stream>::expire_if_due(Clock::time_point now) {
  if (closed_) return;
  if (now >= close_at_) {
    finish("drain");
  } else if (now - last_active_ >= idle_timeout_) {
    finish("idle");
  }
}

template <class Stream>
void Tunnel<Stream>::give_back(Flow& f) {
  if (f.data) worker_.relay_buffers().give_back(std::move(f.data));
}

template <class Stream>
void Tunnel<Stream>::wrote(Flow& f, std::size_t n, bool to_backend) {
  f.begin += n;
  f.total += n;
  worker_.metrics().count_tunnel_bytes(to_backend, n);
  last_active_ = Clock::now();
}

template <class Stream>
template <class From, class To>
void Tunnel<Stream>::pump(Flow& f, From& from, To& to, bool to_backend) {
  const std::string_view source = to_backend ? "client" : "backend";
  const std::string_view sink = to_backend ? "backend" : "client";
  for (int turn = 0; !closed_; ++turn) {
    boost::system::error_code ec;
    if (f.begin < f.end) {
      const std::size_t n = to.write_now(asio::buffer(f.data.get() + f.begin, f.end - f.begin), ec);
      if (ec) return finish(sink);
      wrote(f, n, to_backend);
      if (f.begin < f.end) {
        // The other side is slow: nothing more is read from this one until it takes this.
        to.async_write_some(asio::buffer(f.data.get() + f.begin, f.end - f.begin),
                            [self = this->shared_from_this(), &f, &from, &to, to_backend, sink](
                                boost::system::error_code wec, std::size_t n) {
                              if (self->closed_) return;
                              if (wec) return self->finish(sink);
                              self->wrote(f, n, to_backend);
                              self->pump(f, from, to, to_backend);
                            });
        return;
      }
    }
    f.begin = f.end = 0;  // all written (here, or by the write that brought us back)
    if (f.eof) {
      // Everything before the FIN is through: passed on as a half-close; the tunnel ends
      // when the other way has ended too.
      give_back(f);
      to.shutdown_send(ec);
      f.done = true;
      if ((to_backend ? down_ : up_).done) finish(first_eof_);
      return;
    }
    if (turn >= kTurnBuffers) {
      asio::post(client_.get_executor(), [self = this->shared_from_this(), &f, &from, &to,
                                          to_backend] { self->pump(f, from, to, to_backend); });
      return;
    }
    if (!f.data) f.data = worker_.relay_buffers().take();
    const std::size_t n = from.read_now(asio::buffer(f.data.get(), RelayBuffer::size()), ec);
    if (ec == asio::error::eof) {
      if (first_eof_.empty()) first_eof_ = source;
      f.eof = true;
      continue;
    }
    if (ec) return finish(source);
    if (n == 0) {
      // Nothing to relay: the buffer goes back while this side is quiet.
      give_back(f);
      from.async_wait_readable([self = this->shared_from_this(), &f, &from, &to, to_backend,
                                source](boost::system::error_code rec) {
        if (self->closed_) return;
        if (rec) return self->finish(source);
        self->pump(f, from, to, to_backend);
      });
      return;
    }
    f.end = n;
    last_active_ = Clock::now();
  }
}

template <class Stream>
void Tunnel<Stream>::finish(std::string_view closed_by) {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  client_.close(ignored);  // pending operations complete with operation_aborted
  backend().close(ignored);
  const TunnelStart& s = start_;
  // On a TLS listener the line carries the client connection's TLS fields, as a request's does.
  worker_.access_log().append(AccessRecord{s.client, "GET", s.target, 101, s.upstream, s.state->key,
                                           up_.total, down_.total, Clock::now() - s.started,
                                           s.request_id, s.attempts, false, false, s.tls_version,
                                           s.tls_cipher, closed_by});
  log::debug("tunnel to " + s.state->key + " closed by " + std::string(closed_by));
}

template class Tunnel<TcpStream>;
template class Tunnel<TlsStream>;
template class Tunnel<PipeStream>;

}  // namespace ringproxy
