// Relaying a message body from one stream to another, the same for both directions (after
// Beast's relay<isRequest> example): through the parser and a bounded buffer, re-framed as
// chunks when the receiver needs it.
#pragma once

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

#include "http/trailer_section.hpp"
#include "net/relay_buffer.hpp"
#include "policy/function_ref.hpp"

namespace ringproxy {

// While it lives, a read through Beast's parser grows buffer to at most kParseBufferCap bytes
// (or what it holds already, when more). A chunked body's trailer section is parsed only once
// it is whole in the buffer, and Beast throws (from an I/O handler: the process ends) on a
// field of 64 KiB or more: with the cap such a section is a buffer_overflow error instead.
// Body bytes are taken from the buffer as they are parsed, so the cap does not hold a body
// back. A local of the coroutine that reads; restores the buffer's own limit when it ends.
template <class Buffer>
class ParseBufferCap {
 public:
  static constexpr std::size_t kParseBufferCap = 64 * 1024 - 1;
  explicit ParseBufferCap(Buffer& buffer) : buffer_(buffer), saved_(buffer.max_size()) {
    buffer_.max_size(std::min(saved_, std::max(buffer_.size(), kParseBufferCap)));
  }
  ~ParseBufferCap() { buffer_.max_size(saved_); }
  ParseBufferCap(const ParseBufferCap&) = delete;
  ParseBufferCap& operator=(const ParseBufferCap&) = delete;

 private:
  Buffer& buffer_;
  std::size_t saved_;
};

// How writing a piece of a body ended.
enum class PieceWrite {
  done,      // all of it was written
  failed,    // the receiver's stream failed
  answered,  // the receiver became readable while the write waited (watch): it answered
};

// Writes one piece of a relayed body, after head (when not empty), in one gather write: as is,
// or framed as a chunk when chunked, with end after it (the last chunk and trailer section,
// take_trailer_section's; empty while the body goes on). Nothing to write
// is no write. With answered (it reads what the receiver said, if anything, at once: true when
// it did), a write that has to wait also ends when the receiver speaks (a backend answering
// before it read the whole request).
template <class Stream>
boost::asio::awaitable<PieceWrite> write_body_piece(Stream& stream, std::string_view head,
                                                    const char* data, std::size_t n, bool chunked,
                                                    std::string_view end,
                                                    FunctionRef<bool()>* answered = nullptr) {
  namespace asio = boost::asio;
  using namespace boost::asio::experimental::awaitable_operators;
  static constexpr std::string_view kCrlf = "\r\n";
  std::array<asio::const_buffer, 5> pieces;
  std::size_t count = 0;
  char size_line[2 * sizeof(std::size_t) + 2];
  if (!head.empty()) pieces[count++] = asio::buffer(head.data(), head.size());
  if (n > 0) {
    if (chunked) {
      auto [line_end, ec] = std::to_chars(size_line, size_line + sizeof(size_line) - 2, n, 16);
      *line_end++ = '\r';
      *line_end++ = '\n';
      pieces[count++] = asio::buffer(size_line, static_cast<std::size_t>(line_end - size_line));
    }
    pieces[count++] = asio::buffer(data, n);
    if (chunked) pieces[count++] = asio::buffer(kCrlf.data(), kCrlf.size());
  }
  if (chunked && !end.empty()) pieces[count++] = asio::buffer(end.data(), end.size());
  if (count == 0) co_return PieceWrite::done;
  const std::span<const asio::const_buffer> buffers(pieces.data(), count);
  boost::system::error_code ec;
  const std::size_t done = stream.write_now(buffers, ec);
  if (!ec && done < asio::buffer_size(buffers)) {
    if (answered == nullptr) {
      ec = co_await stream.write_rest(buffers, done);
    } else if ((*answered)()) {
      co_return PieceWrite::answered;
    } else {
      constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
      auto which =
          co_await (stream.write_rest(buffers, done) || stream.async_wait_readable(use_nothrow));
      if (which.index() == 1 && !std::get<0>(std::get<1>(which))) co_return PieceWrite::answered;
      ec = which.index() == 0 ? std::get<0>(which) : std::get<0>(std::get<1>(which));
    }
  }
  co_return ec ? PieceWrite::failed : PieceWrite::done;
}

// How a relayed body ended.
struct RelayOutcome {
  boost::system::error_code read_error;  // the sender's stream or framing failed
  bool write_failed = false;             // the receiver's stream failed
  bool wrote = false;                    // anything (head or body) reached the receiver
  bool answered = false;  // watched: the receiver spoke first (an early response); body left
};

// What a relay arms before each step: the deadline for a read from the sender and for a write
// to the receiver, set through arm.
struct RelayDeadlines {
  std::chrono::steady_clock::duration read;
  std::chrono::steady_clock::duration write;
  FunctionRef<void(std::chrono::steady_clock::duration)> arm;
};

// Before the parser's read from source: what source holds now goes into buffer, and when
// nothing is there, waits until source is readable or sink is. False when the relay ends here:
// sink spoke first (answered() says so, at once or after the wait: out.answered) or source
// failed (out.read_error). Reactor waits see only readiness that comes after them, hence the
// direct reads first.
template <class Source, class Buffer, class Sink>
boost::asio::awaitable<bool> read_source_or_answer(Source& source, Buffer& buffer, Sink& sink,
                                                   FunctionRef<bool()>& answered,
                                                   RelayOutcome& out) {
  using namespace boost::asio::experimental::awaitable_operators;
  constexpr auto use_nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);
  constexpr std::size_t kReadSize = 4096;
  for (;;) {
    if (answered()) {
      out.answered = true;
      co_return false;
    }
    boost::system::error_code ec;
    const std::size_t n = source.read_now(buffer.prepare(kReadSize), ec);
    if (ec) {
      out.read_error = ec;
      co_return false;
    }
    if (n > 0) {
      buffer.commit(n);
      co_return true;
    }
    auto which =
        co_await (source.async_wait_readable(use_nothrow) || sink.async_wait_readable(use_nothrow));
    ec = which.index() == 0 ? std::get<0>(std::get<0>(which)) : std::get<0>(std::get<1>(which));
    if (ec) {
      out.read_error = ec;  // cancelled: the deadline passed
      co_return false;
    }
  }
}

// Relays the body of parser's message (its head already parsed) from source, read through
// buffer, to sink: piece by piece through relay, framed as chunks when chunked, after head
// (written with the first piece; may be empty), a chunked message's trailer section after the
// last chunk as trailers says (over its limit: a header_limit read error, the end unwritten).
// bytes counts the body bytes relayed. Ends when the parser is done or a side fails. With answered
// (see read_source_or_answer), every wait (for the source's next bytes, for the sink to take more)
// also ends when the sink speaks: a backend's early response (RFC 9112 §9.5), out.answered. Both
// streams on one worker thread.
template <class Source, class Buffer, class Parser, class Sink>
boost::asio::awaitable<RelayOutcome> relay_body(Source& source, Buffer& buffer, Parser& parser,
                                                Sink& sink, RelayBuffer& relay,
                                                std::string_view head, bool chunked,
                                                RelayDeadlines deadlines, std::uint64_t& bytes,
                                                TrailerRelay& trailers,
                                                FunctionRef<bool()>* answered = nullptr) {
  namespace http = boost::beast::http;
  constexpr auto use_nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);
  RelayOutcome out;
  auto& body = parser.get().body();
  do {
    std::size_t n = 0;
    if (!parser.is_done()) {
      if (answered != nullptr && buffer.size() == 0) {
        // Nothing buffered for the parser: its read would wait for the client, and the
        // backend may answer meanwhile.
        deadlines.arm(deadlines.read);
        if (!co_await read_source_or_answer(source, buffer, sink, *answered, out)) co_return out;
      }
      body.data = relay.data();
      body.size = relay.size();
      deadlines.arm(deadlines.read);
      const ParseBufferCap<Buffer> cap(buffer);
      auto [ec, read] = co_await http::async_read_some(source, buffer, parser, use_nothrow);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        out.read_error = ec;
        co_return out;
      }
      n = relay.size() - body.size;
      bytes += n;
    }
    std::string_view end;
    if (parser.is_done()) {
      end = kLastChunk;
      if (parser.chunked()) {
        if (!take_trailer_section(parser.get(), trailers.head, trailers.limit, trailers.pass,
                                  trailers.end)) {
          out.read_error = http::error::header_limit;
          co_return out;
        }
        end = trailers.end;
      }
    }
    deadlines.arm(deadlines.write);
    const PieceWrite wrote = co_await write_body_piece(sink, out.wrote ? std::string_view{} : head,
                                                       relay.data(), n, chunked, end, answered);
    if (wrote != PieceWrite::done) {
      out.answered = wrote == PieceWrite::answered;
      out.write_failed = !out.answered;
      co_return out;
    }
    out.wrote = true;
  } while (!parser.is_done());
  co_return out;
}

}  // namespace ringproxy
