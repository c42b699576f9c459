// WebSocket over HTTP/2 (RFC 8441) on one HTTP/2 connection: the backend's answer to the
// HTTP/1.1 upgrade the stream became, and the tunnel's bytes as DATA (see docs/http2.md; the
// tunnel itself is the HTTP/1.1 one, Tunnel<PipeStream>).
#include <boost/asio/post.hpp>
#include <cstring>

#include "http/websocket_key.hpp"
#include "log/log.hpp"
#include "proxy/h2_connection.hpp"

namespace ringproxy {

namespace asio = boost::asio;

namespace {
constexpr std::uint32_t kNoError = 0x0;
}  // namespace

template <class Stream>
bool H2Connection<Stream>::websocket_head(std::int32_t id, Exchange& x) {
  PipeState& p = *x.pipe;
  if (x.response->status() != 101) {
    // Refused (or answered) by the backend or the proxy: an ordinary response, and nothing
    // the client still sends goes to the pipeline as a next request.
    x.ws_refused = true;
    p.in.clear();
    p.in_off = 0;
    p.end_request();
    if (x.response->status() < 200 || x.response->status() >= 300) return false;
    // A 2xx would tell the client its tunnel is open (RFC 8441 §5, RFC 9113 §8.5), yet the
    // backend did not switch (an h2 upstream, or an origin ignoring Upgrade): 502, the rest
    // of its answer dropped.
    x.head_sent = x.discard = true;
    session_.submit_head(id, 502, {}, false);
    p.consumed_output(p.out.size() - p.out_off);
    return true;
  }
  std::vector<H2Field> fields;
  bool accepted = false;
  for (const H2Field& f : x.response->fields()) {
    if (f.name == "sec-websocket-accept") {
      accepted = f.value == websocket_accept(x.ws_key);
      continue;  // HTTP/2 has no key and no accept (RFC 8441 §5)
    }
    fields.push_back(f);
  }
  x.head_sent = true;
  if (!accepted) {
    // Not the answer to the key sent: the tunnel ends (its pipe fails), the client gets 502.
    log::debug("a backend's 101 to a WebSocket over HTTP/2 carried a wrong Sec-WebSocket-Accept");
    session_.submit_head(id, 502, {}, false);
    p.reset();
    return true;
  }
  x.tunnel = true;
  session_.submit_head(id, 200, fields, true);
  return true;
}

template <class Stream>
long H2Connection<Stream>::read_tunnel(std::int32_t id, Exchange& x, std::uint8_t* buf,
                                       std::size_t length, bool* eof) {
  PipeState& p = *x.pipe;
  const std::size_t n = std::min(length, p.out.size() - p.out_off);
  if (n > 0) {
    std::memcpy(buf, p.out.data() + p.out_off, n);
    p.consumed_output(n);  // the tunnel may write more (backpressure: the client's window)
    return static_cast<long>(n);
  }
  if (!p.out_shut) return kDeferred;
  // The backend's side ended (or the tunnel did): END_STREAM.
  *eof = true;
  x.eof_sent = true;
  if (p.pipe_closed) {
    asio::post(stream_.get_executor(),
               [self = this->shared_from_this(), id] { self->end_tunnel_stream(id); });
  }
  return 0;
}

template <class Stream>
void H2Connection<Stream>::end_tunnel_stream(std::int32_t id) {
  Exchange* const found = find_exchange(id);
  if (found == nullptr || found->stream_closed) return;
  const PipeState& p = *found->pipe;
  if (p.in_end || p.in_error) return;  // the client ended its side: the stream closes itself
  session_.reset(id, kNoError);
  wake_writer();
}

template class H2Connection<TcpStream>;
template class H2Connection<TlsStream>;

}  // namespace ringproxy
