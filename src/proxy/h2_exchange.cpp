// One HTTP/2 connection's streams: each request's header block and DATA into a PipeStream
// for the HTTP/1.1 pipeline, and the pipeline's response back into frames (see
// h2_connection.hpp).
#include <algorithm>
#include <charconv>

#include "http/websocket_key.hpp"
#include "net/coarse_clock.hpp"
#include "policy/http_fields.hpp"
#include "proxy/downstream_connection.hpp"
#include "proxy/h2_connection.hpp"

namespace ringproxy {

namespace {
// Response bytes a pipeline may write ahead of the client's flow control, per stream.
constexpr std::size_t kOutCapacity = 64 * 1024;
// Streams reset or closed while their pipeline still runs: beyond this, new streams are
// refused (REFUSED_STREAM) until some finish, so resets cannot pile up backend work.
constexpr std::size_t kMaxOrphans = 100;
constexpr std::uint32_t kRefusedStream = 0x7;
constexpr std::string_view kAllow = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS";
constexpr std::uint32_t kInternalError = 0x2;
constexpr std::uint8_t kData = 0x0, kHeaders = 0x1, kPriority = 0x2, kRstStream = 0x3,
                       kSettings = 0x4, kPing = 0x6, kContinuation = 0x9;
constexpr std::uint8_t kFlagEndStream = 0x1, kFlagAck = 0x1, kFlagEndHeaders = 0x4;
}  // namespace

template <class Stream>
bool H2Connection<Stream>::on_frame_start(std::uint8_t type, std::size_t length, std::uint8_t flags,
                                          std::int32_t) {
  const auto now = coarse_now();
  switch (type) {
    case kRstStream:
      return guard_.allow(H2Event::reset, now);
    case kPing:
      return (flags & kFlagAck) != 0 || guard_.allow(H2Event::ping, now);
    case kSettings:
      return (flags & kFlagAck) != 0 || guard_.allow(H2Event::settings, now);
    case kPriority:
      return guard_.allow(H2Event::priority, now);
    case kData:
      return length > 0 || (flags & kFlagEndStream) != 0 || guard_.allow(H2Event::empty_frame, now);
    case kHeaders:
      if (length == 0 && (flags & kFlagEndHeaders) == 0 &&
          !guard_.allow(H2Event::empty_frame, now)) {
        return false;
      }
      return guard_.header_block_start(length);
    case kContinuation:
      if (length == 0 && (flags & kFlagEndHeaders) == 0 &&
          !guard_.allow(H2Event::empty_frame, now)) {
        return false;
      }
      return guard_.continuation(length);
    default:
      return true;
  }
}

template <class Stream>
void H2Connection<Stream>::on_request_begin(std::int32_t stream_id) {
  Exchange& x = exchanges_[stream_id];
  if (orphans_ >= kMaxOrphans) {
    x.refused = true;
    session_.reset(stream_id, kRefusedStream);
    guard_.allow(H2Event::reset, Clock::now());
    return;
  }
  head_.clear();
  head_stream_ = stream_id;
  idle_deadline_ = Clock::time_point::max();
}

template <class Stream>
void H2Connection<Stream>::on_field(std::int32_t stream_id, std::string_view name,
                                    std::string_view value) {
  Exchange* const found = find_exchange(stream_id);
  if (found == nullptr) return;
  Exchange& x = *found;
  if (head_stream_ == stream_id) {
    head_.add(name, value, max_header_bytes_);
  } else if (x.chunked && x.trailers.size() + name.size() + value.size() < max_header_bytes_ &&
             !is_forbidden_trailer(name)) {
    // Request trailers go on as the chunked body's trailer section (RFC 9113 §8.1: framing
    // and connection fields have no place there).
    x.trailers.append(name).append(": ").append(value).append("\r\n");
  }
}

template <class Stream>
void H2Connection<Stream>::on_request_head(std::int32_t stream_id, bool end_stream, bool trailers) {
  Exchange* const found = find_exchange(stream_id);
  if (found == nullptr || found->refused) return;
  Exchange& x = *found;
  if (trailers) {
    on_request_end(stream_id);
    return;
  }
  if (head_stream_ != stream_id) return;
  head_stream_ = 0;  // the block is whole: the next stream's may begin
  if (head_.too_large()) {
    const bool grpc = head_.grpc();
    if (grpc) {
      answer_grpc(stream_id, 431);
    } else {
      session_.submit_head(stream_id, 431, {}, false);
    }
    return;
  }
  // Extended CONNECT for WebSocket while upgrade_protocols lists it (a reload may have removed
  // it since the SETTINGS): an HTTP/1.1 upgrade. For any other protocol: 405 here (there is no
  // HTTP/1.1 form to give the pipeline); a plain CONNECT goes on as one (405 there).
  const auto& allowed = worker_.snapshot()->config().server.upgrade_protocols;
  x.websocket =
      head_.websocket() && std::find(allowed.begin(), allowed.end(), "websocket") != allowed.end();
  if (head_.extended_connect() && !x.websocket) {
    session_.submit_head(stream_id, 405, {{"allow", kAllow}}, false);
    return;
  }
  start_pipeline(stream_id, x, end_stream);
}

template <class Stream>
void H2Connection<Stream>::start_pipeline(std::int32_t id, Exchange& x, bool end_stream) {
  x.grpc = head_.grpc();
  x.response.emplace(head_.method() == "HEAD", head_scratch_);
  x.pipe = std::make_shared<PipeState>(stream_.get_executor(), static_cast<std::uint32_t>(id), this,
                                       kOutCapacity);
  auto conn =
      std::make_shared<DownstreamConnection<PipeStream>>(worker_, PipeStream(x.pipe), client_);
  if (x.websocket) {
    // An HTTP/1.1 upgrade, as text: the pipeline reads it as any client's.
    x.ws_key = websocket_key();
    x.pipe->feed(head_.take_websocket_text(x.ws_key));
  } else {
    // The head goes to the pipeline as fields; the pipe carries the body alone.
    x.chunked = !end_stream && !head_.has_content_length();
    conn->take_h2_request(head_, !end_stream);
  }
  if (end_stream) x.pipe->end_request();
  worker_.metrics().count_h2_stream();
  // Started outside nghttp2's callback, once this frame is through (take_input).
  starting_.push_back(std::move(conn));
}

template <class Stream>
void H2Connection<Stream>::on_request_data(std::int32_t stream_id, const std::uint8_t* data,
                                           std::size_t n) {
  Exchange* const found = find_exchange(stream_id);
  if (found == nullptr || !found->pipe || found->pipe->pipe_closed || found->ws_refused) {
    session_.consume(stream_id, n);  // nobody reads it: the window opens at once
    return;
  }
  Exchange& x = *found;
  if (x.chunked && n > 0) {
    char line[20];
    auto [end, ec] = std::to_chars(line, line + 16, n, 16);
    *end++ = '\r';
    *end++ = '\n';
    x.pipe->feed(line, static_cast<std::size_t>(end - line));
  }
  x.pipe->feed(reinterpret_cast<const char*>(data), n);
  if (x.chunked && n > 0) x.pipe->feed("\r\n", 2);
  x.uncredited += n;
}

template <class Stream>
void H2Connection<Stream>::on_request_end(std::int32_t stream_id) {
  Exchange* const found = find_exchange(stream_id);
  if (found == nullptr || !found->pipe) return;
  Exchange& x = *found;
  if (x.chunked) {
    x.pipe->feed("0\r\n", 3);
    x.pipe->feed(x.trailers.data(), x.trailers.size());
    x.pipe->feed("\r\n", 2);
    x.trailers.clear();
  }
  x.pipe->end_request();
}

template <class Stream>
void H2Connection<Stream>::on_stream_close(std::int32_t stream_id, std::uint32_t error_code) {
  Exchange* const found = find_exchange(stream_id);
  if (found == nullptr) return;
  Exchange& x = *found;
  x.stream_closed = true;
  // Reset (by the client or by us), or closed before the request was whole: the pipeline's
  // next step on its pipe fails, and it ends.
  if (x.pipe && (error_code != 0 || !x.pipe->in_end)) x.pipe->reset();
  settle(stream_id);
}

template <class Stream>
void H2Connection<Stream>::settle(std::int32_t id) {
  Exchange* const found = find_exchange(id);
  if (found == nullptr) return;
  Exchange& x = *found;
  if (!x.stream_closed) return;
  if (x.pipe && !x.pipe->pipe_closed) {
    if (!x.orphan) {
      x.orphan = true;
      ++orphans_;
    }
    return;
  }
  if (x.orphan) --orphans_;
  if (x.pipe) x.pipe->events = nullptr;
  last_ = nullptr;
  exchanges_.erase(id);
  if (exchanges_.empty()) idle_deadline_ = Clock::now() + idle_timeout_;
}

template <class Stream>
void H2Connection<Stream>::request_bytes_read(std::uint32_t id, std::size_t n) {
  Exchange* const found = find_exchange(static_cast<std::int32_t>(id));
  if (found == nullptr) return;
  Exchange& x = *found;
  const std::size_t credit = std::min(x.uncredited, n);
  if (credit == 0) return;
  x.uncredited -= credit;
  if (!x.stream_closed) session_.consume(static_cast<std::int32_t>(id), credit);
  wake_writer();
}

template <class Stream>
void H2Connection<Stream>::response_bytes(std::uint32_t id) {
  const auto sid = static_cast<std::int32_t>(id);
  Exchange* const found = find_exchange(sid);
  if (found == nullptr) return;
  Exchange& x = *found;
  if (x.stream_closed) {
    settle(sid);
    return;
  }
  pump(sid, x);
  if (x.tunnel && x.eof_sent && x.pipe->pipe_closed) end_tunnel_stream(sid);
  pack_soon();
}

template <class Stream>
bool H2Connection<Stream>::response_head(std::uint32_t id, int status,
                                         const std::vector<FieldView>& fields,
                                         std::uint64_t length) {
  const auto sid = static_cast<std::int32_t>(id);
  Exchange* const found = find_exchange(sid);
  // A WebSocket exchange's head decides what its stream becomes: websocket_head reads it.
  if (found == nullptr || found->stream_closed || found->head_sent || found->websocket) {
    return false;
  }
  Exchange& x = *found;
  x.head_sent = true;
  x.response->take_final_head(status, length);
  session_.submit_head(sid, status, fields, !x.response->done());
  pack_soon();
  return true;
}

template <class Stream>
void H2Connection<Stream>::pump(std::int32_t id, Exchange& x) {
  PipeState& p = *x.pipe;
  if (x.discard) {
    p.consumed_output(p.out.size() - p.out_off);
    return;
  }
  while (!x.head_sent) {
    const std::string_view bytes(p.out.data() + p.out_off, p.out.size() - p.out_off);
    std::size_t used = 0;
    const H2ResponseReader::Head head = x.response->read_head(bytes, &used);
    if (head == H2ResponseReader::Head::partial && !p.out_shut) return;
    if (head == H2ResponseReader::Head::partial || head == H2ResponseReader::Head::bad) {
      // The pipeline ended without a whole answer (its client went away, or it broke off).
      session_.reset(id, kInternalError);
      return;
    }
    p.consumed_output(used);
    if (x.grpc && p.own_status >= 400 && x.response->status() == p.own_status) {
      x.head_sent = x.discard = true;
      answer_grpc(id, p.own_status);
      p.consumed_output(p.out.size() - p.out_off);
      return;
    }
    const bool interim = head == H2ResponseReader::Head::interim;
    if (x.websocket && !interim && websocket_head(id, x)) break;
    x.head_sent = !interim;
    session_.submit_head(id, x.response->status(), x.response->fields(),
                         interim || !x.response->done());
  }
  session_.resume(id);
}

template <class Stream>
long H2Connection<Stream>::read_response(std::int32_t stream_id, std::uint8_t* buf,
                                         std::size_t length, bool* eof) {
  Exchange* const found = find_exchange(stream_id);
  if (found == nullptr || !found->pipe) return kFailed;
  Exchange& x = *found;
  if (x.tunnel) return read_tunnel(stream_id, x, buf, length, eof);
  PipeState& p = *x.pipe;
  const std::string_view bytes(p.out.data() + p.out_off, p.out.size() - p.out_off);
  std::size_t used = 0;
  bool bad = false;
  const std::size_t n =
      x.response->read_body(bytes, &used, reinterpret_cast<char*>(buf), length, &bad);
  if (used > 0) p.consumed_output(used);
  if (bad) return kFailed;
  // The pipeline is through and read_body took all it could: nothing more will come (bytes
  // left unparsed, the CRLF after a chunk of a response cut off, cannot complete it).
  if (n == 0 && p.out_shut) x.response->end_of_input();
  if (x.response->done()) {
    *eof = true;
    // A chunked response's trailers (gRPC's status) end the stream after the DATA.
    if (const auto& trailers = x.response->trailers(); !trailers.empty()) {
      session_.submit_trailers(stream_id, trailers);
    }
    return static_cast<long>(n);
  }
  if (n > 0) return static_cast<long>(n);
  return p.out_shut ? kFailed : kDeferred;
}

template <class Stream>
void H2Connection<Stream>::answer_grpc(std::int32_t id, int status) {
  const GrpcStatus g = grpc_status_for(status);
  const std::string code = std::to_string(g.code);
  const std::vector<H2Field> fields{
      {"content-type", "application/grpc"}, {"grpc-status", code}, {"grpc-message", g.message}};
  session_.submit_head(id, 200, fields, false);
}

template class H2Connection<TcpStream>;
template class H2Connection<TlsStream>;

}  // namespace ringproxy
