// One request's upstream phases: the request side, the first chunk's check and the body sent
// to the backend while watching for its early answer (see upstream_exchange.hpp).
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <tuple>
#include <variant>

#include "http/body_relay.hpp"
#include "http/chunk_line.hpp"
#include "http/head_reader.hpp"
#include "http/http_status.hpp"
#include "http/trailer_section.hpp"
#include "proxy/upstream_exchange.hpp"

namespace ringproxy {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kClientReadSize = 4096;
constexpr std::size_t kAnswerReadSize = 16 * 1024;
// How long an Expect: 100-continue request waits for the backend's own answer to its head
// before the client is told to go on (a backend that refuses on the head alone answers well
// within it; clients themselves wait about 1 s for a 100 before sending anyway).
constexpr std::chrono::milliseconds kContinueGrace{200};

// Bytes of request bodies buffered now, over every worker (server.request_buffer_total).
std::atomic<std::uint64_t> buffered_total{0};
}  // namespace

BufferedRequestBody::~BufferedRequestBody() {
  if (claimed > 0) buffered_total.fetch_sub(claimed, std::memory_order_relaxed);
}

bool BufferedRequestBody::claim(std::uint64_t bytes, std::uint64_t total) {
  std::uint64_t now = buffered_total.load(std::memory_order_relaxed);
  do {
    if (bytes > total || now > total - bytes) return false;
  } while (!buffered_total.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
  claimed = bytes;
  return true;
}

template <class Stream>
asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<Stream>::buffer_body() {
  auto& request = *conn_.request_;
  const auto length = request.content_length();
  const std::uint64_t room = length ? *length : ctx_.request_buffer_bytes;
  if (room > ctx_.request_buffer_bytes) co_return std::nullopt;  // too large: it streams
  const ServerConfig& server = snap_.config().server;
  if (!buffered_.claim(room, server.request_buffer_total)) co_return std::nullopt;
  if (room <= RelayBuffer::size()) {
    buffered_.data = relay().data();  // sent before any streaming reuses the relay buffer
  } else {
    buffered_.own.reset(new char[room]);
    buffered_.data = buffered_.own.get();
  }
  if (ctx_.expect_continue && !continue_sent_) {
    continue_sent_ = true;
    if (!co_await conn_.write_client(kContinueResponse)) co_return RequestEnd::abort;
  }
  auto& body = request.get().body();
  // A chunked body that fills the room before its end streams the rest (send_body).
  while (!request.is_done() && buffered_.size < room) {
    body.data = buffered_.data + buffered_.size;
    body.size = static_cast<std::size_t>(room - buffered_.size);
    conn_.arm(server.idle_timeout);
    const ParseBufferCap<decltype(conn_.buffer_)> cap(conn_.buffer_);
    auto [ec, n] =
        co_await http::async_read_some(conn_.stream_, conn_.buffer_, request, use_nothrow);
    const std::size_t got = static_cast<std::size_t>(room - buffered_.size) - body.size;
    buffered_.size += got;
    ctx_.bytes_in += got;
    if (ec && ec != http::error::need_buffer) co_return co_await answer_body_error(ec);
  }
  // Read whole: its trailer section is taken out of the message before begin() writes the head.
  if (request.is_done() && request.chunked() && !take_request_trailers()) {
    co_return co_await conn_.respond_status(ctx_, 431, false);
  }
  co_return std::nullopt;
}

template <class Stream>
void UpstreamExchange<Stream>::note_request_head() {
  // Any HTTP/1.1 server takes a chunked request's trailer section, within the head limit.
  request_trailers_.head.note(conn_.request_->get());
  request_trailers_.limit = snap_.config().server.max_header_bytes;
  request_trailers_.pass = true;
}

template <class Stream>
bool UpstreamExchange<Stream>::take_request_trailers() {
  return take_trailer_section(conn_.request_->get(), request_trailers_.head,
                              request_trailers_.limit, request_trailers_.pass,
                              request_trailers_.end);
}

template <class Stream>
asio::awaitable<bool> UpstreamExchange<Stream>::send_buffered_body(UpstreamConnection& c) {
  conn_.arm(ucfg_.response_timeout);
  const PieceWrite wrote = co_await write_body_piece(
      c.stream, {}, buffered_.data, buffered_.size, conn_.request_->chunked(),
      conn_.request_->is_done() ? std::string_view(request_trailers_.end) : std::string_view{});
  co_return wrote == PieceWrite::done;
}

template <class Stream>
asio::awaitable<RequestEnd> UpstreamExchange<Stream>::answer_body_error(
    boost::system::error_code ec) {
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    // A trailer section over the head limit (or one that does not fit the read buffer).
    co_return co_await conn_.respond_status(ctx_, 431, false);
  }
  if (ec == http::error::body_limit) {
    // Too large while streaming (chunked): abort upstream, 413 if nothing answered.
    co_return co_await conn_.respond_status(ctx_, 413, false);
  }
  if (ec.category() == http::make_error_code(http::error::bad_chunk).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    // Broken framing in the body (a bad or overflowing chunk size, ...): a backend that got
    // part of it has its connection dropped; the client gets 400 and a close.
    co_return co_await conn_.respond_status(ctx_, 400, false);
  }
  // A client too slow with its body gets 408 (nothing has been answered yet), as from
  // nginx's client_body_timeout; one that is gone gets nothing.
  if (conn_.timed_out()) co_return co_await conn_.respond_status(ctx_, 408, false);
  co_return RequestEnd::abort;
}

template <class Stream>
asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<Stream>::check_first_chunk() {
  const ServerConfig& server = snap_.config().server;
  conn_.arm(server.client_header_timeout);
  for (;;) {
    switch (first_chunk_line(buffered_text(conn_.buffer_), server.max_body_bytes)) {
      case ChunkLine::ok:
        co_return std::nullopt;
      case ChunkLine::bad:
        co_return co_await conn_.respond_status(ctx_, 400, false);
      case ChunkLine::too_large:
        co_return co_await conn_.respond_status(ctx_, 413, false);
      case ChunkLine::partial:
        break;
    }
    auto [ec, n] =
        co_await conn_.stream_.async_read_some(conn_.buffer_.prepare(kClientReadSize), use_nothrow);
    if (ec && conn_.timed_out()) co_return co_await conn_.respond_status(ctx_, 408, false);
    if (ec) co_return RequestEnd::abort;
    conn_.buffer_.commit(n);
  }
}

template <class Stream>
bool UpstreamExchange<Stream>::read_answer_now(UpstreamConnection& c) {
  if (c.buffer.size() > 0) return true;
  boost::system::error_code ec;
  const std::size_t n = c.stream.read_now(c.buffer.prepare(kAnswerReadSize), ec);
  c.buffer.commit(n);
  return n > 0 || ec;
}

template <class Stream>
bool UpstreamExchange<Stream>::interim_before_body(UpstreamConnection& c) {
  const HeadStep step = start_response_head(c);
  if (step == HeadStep::interim) return true;
  early_step_ = step;
  return false;
}

template <class Stream>
asio::awaitable<bool> UpstreamExchange<Stream>::answered_before_continue(UpstreamConnection& c) {
  using namespace asio::experimental::awaitable_operators;
  conn_.arm(kContinueGrace);
  while (!read_answer_now(c)) {
    // The client did not wait for the 100 (body bytes are here), or the grace ran out.
    if (conn_.buffer_.size() > 0 || conn_.timed_out()) co_return false;
    auto which = co_await (c.stream.async_wait_readable(use_nothrow) ||
                           conn_.stream_.async_wait_readable(use_nothrow));
    if (which.index() == 1) co_return false;
  }
  co_return true;
}

template <class Stream>
asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<Stream>::send_body(
    UpstreamConnection& c) {
  if (ctx_.expect_continue && !continue_sent_) {
    continue_sent_ = true;
    // A final status instead of 100: relayed as the answer, the body is never asked for.
    while (co_await answered_before_continue(c)) {
      if (!interim_before_body(c)) co_return std::nullopt;
      if (!co_await conn_.write_client(conn_.response_head_)) co_return RequestEnd::abort;
    }
    if (!co_await conn_.write_client(kContinueResponse)) co_return RequestEnd::abort;
  }
  body_consumed_ = true;
  auto& request = *conn_.request_;
  const auto arm = [this](std::chrono::steady_clock::duration d) { conn_.arm(d); };
  const RelayDeadlines deadlines{snap_.config().server.idle_timeout, ucfg_.response_timeout, arm};
  const auto answered_now = [this, &c] { return read_answer_now(c); };
  FunctionRef<bool()> answered(answered_now);
  RelayOutcome out;
  for (;;) {
    out = co_await relay_body(conn_.stream_, conn_.buffer_, request, c.stream, relay(), {},
                              request.chunked(), deadlines, ctx_.bytes_in, request_trailers_,
                              &answered);
    if (!out.answered) break;
    // The backend answered before the body was through: an interim response goes to the
    // client and the upload goes on; a final one ends it (the rest is not sent), is read and
    // relayed, and the client connection closes after it.
    if (!interim_before_body(c)) co_return std::nullopt;
    if (!co_await conn_.write_client(conn_.response_head_)) co_return RequestEnd::abort;
  }
  if (out.read_error) co_return co_await answer_body_error(out.read_error);
  if (out.write_failed) {
    fail_attempt();
    co_return co_await conn_.respond_status(ctx_, conn_.timed_out() ? 504 : 502, ctx_.keep_alive);
  }
  co_return std::nullopt;
}

template asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<TcpStream>::buffer_body();
template void UpstreamExchange<TcpStream>::note_request_head();
template bool UpstreamExchange<TcpStream>::take_request_trailers();
template asio::awaitable<bool> UpstreamExchange<TcpStream>::send_buffered_body(UpstreamConnection&);
template asio::awaitable<RequestEnd> UpstreamExchange<TcpStream>::answer_body_error(
    boost::system::error_code);
template asio::awaitable<std::optional<RequestEnd>>
UpstreamExchange<TcpStream>::check_first_chunk();
template bool UpstreamExchange<TcpStream>::read_answer_now(UpstreamConnection&);
template bool UpstreamExchange<TcpStream>::interim_before_body(UpstreamConnection&);
template asio::awaitable<bool> UpstreamExchange<TcpStream>::answered_before_continue(
    UpstreamConnection&);
template asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<TcpStream>::send_body(
    UpstreamConnection&);

template asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<TlsStream>::buffer_body();
template void UpstreamExchange<TlsStream>::note_request_head();
template bool UpstreamExchange<TlsStream>::take_request_trailers();
template asio::awaitable<bool> UpstreamExchange<TlsStream>::send_buffered_body(UpstreamConnection&);
template asio::awaitable<RequestEnd> UpstreamExchange<TlsStream>::answer_body_error(
    boost::system::error_code);
template asio::awaitable<std::optional<RequestEnd>>
UpstreamExchange<TlsStream>::check_first_chunk();
template bool UpstreamExchange<TlsStream>::read_answer_now(UpstreamConnection&);
template bool UpstreamExchange<TlsStream>::interim_before_body(UpstreamConnection&);
template asio::awaitable<bool> UpstreamExchange<TlsStream>::answered_before_continue(
    UpstreamConnection&);
template asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<TlsStream>::send_body(
    UpstreamConnection&);

template asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<PipeStream>::buffer_body();
template void UpstreamExchange<PipeStream>::note_request_head();
template bool UpstreamExchange<PipeStream>::take_request_trailers();
template asio::awaitable<bool> UpstreamExchange<PipeStream>::send_buffered_body(
    UpstreamConnection&);
template asio::awaitable<RequestEnd> UpstreamExchange<PipeStream>::answer_body_error(
    boost::system::error_code);
template bool UpstreamExchange<PipeStream>::read_answer_now(UpstreamConnection&);
template bool UpstreamExchange<PipeStream>::interim_before_body(UpstreamConnection&);
template asio::awaitable<bool> UpstreamExchange<PipeStream>::answered_before_continue(
    UpstreamConnection&);
template asio::awaitable<std::optional<RequestEnd>> UpstreamExchange<PipeStream>::send_body(
    UpstreamConnection&);
template asio::awaitable<std::optional<RequestEnd>>
UpstreamExchange<PipeStream>::check_first_chunk();
}  // namespace ringproxy
