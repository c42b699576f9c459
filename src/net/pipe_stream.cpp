// An in-memory exchange's byte queues (see pipe_stream.hpp).
#include "net/pipe_stream.hpp"

#include <algorithm>
#include <cstring>

namespace ringproxy {

namespace asio = boost::asio;

void PipeState::feed(const char* data, std::size_t n) {
  if (in_off == in.size()) {
    in.clear();
    in_off = 0;
  }
  in.append(data, n);
  reader.notify();
}

void PipeState::feed(std::string&& bytes) {
  if (in_off == in.size()) {
    in = std::move(bytes);  // the usual case, a request's head: taken, not copied
    in_off = 0;
    reader.notify();
    return;
  }
  feed(bytes.data(), bytes.size());
}

void PipeState::end_request() {
  in_end = true;
  reader.notify();
}

void PipeState::reset() {
  in_error = asio::error::connection_reset;
  reader.notify();
  writer.notify();
}

void PipeState::consumed_output(std::size_t n) {
  out_off += n;
  drop_taken(out, out_off);
  writer.notify();
}

// Drops a queue's taken front: all of it when all was taken, else once it is large, so that a
// queue appended to while it is read never grows with the whole body.
void PipeState::drop_taken(std::string& queue, std::size_t& off) {
  constexpr std::size_t kCompactAt = 64 * 1024;
  if (off == queue.size()) {
    queue.clear();
    off = 0;
  } else if (off >= kCompactAt) {
    queue.erase(0, off);
    off = 0;
  }
}

std::size_t PipeStream::read_into(char* data, std::size_t size, boost::system::error_code& ec) {
  PipeState& s = *state_;
  if (s.in_error) {
    ec = s.in_error;
    return 0;
  }
  const std::size_t n = std::min(size, s.in.size() - s.in_off);
  if (n == 0) {
    if (s.in_end && size > 0) ec = asio::error::eof;
    return 0;
  }
  std::memcpy(data, s.in.data() + s.in_off, n);
  s.in_off += n;
  PipeState::drop_taken(s.in, s.in_off);
  if (s.events != nullptr) s.events->request_bytes_read(s.id, n);
  return n;
}

std::size_t PipeStream::write_piece(const char* data, std::size_t size,
                                    boost::system::error_code& ec) {
  PipeState& s = *state_;
  if (s.in_error) {
    ec = s.in_error;
    return 0;
  }
  if (s.out_shut || s.events == nullptr) {
    ec = asio::error::broken_pipe;
    return 0;
  }
  const std::size_t held = s.out.size() - s.out_off;
  const std::size_t n = held >= s.out_cap ? 0 : std::min(size, s.out_cap - held);
  // A head and a small body, written one after the other, fit the first allocation.
  constexpr std::size_t kFirstRoom = 1024;
  if (s.out.capacity() < kFirstRoom) s.out.reserve(std::min(s.out_cap, std::max(n, kFirstRoom)));
  s.out.append(data, n);
  return n;
}

void PipeStream::shutdown_send(boost::system::error_code&) {
  PipeState& s = *state_;
  if (s.out_shut) return;
  s.out_shut = true;
  if (s.events != nullptr) s.events->response_bytes(s.id);
}

void PipeStream::close(boost::system::error_code&) {
  PipeState& s = *state_;
  if (s.pipe_closed) return;
  s.pipe_closed = true;
  s.out_shut = true;
  s.reader.notify(asio::error::operation_aborted);
  s.writer.notify(asio::error::operation_aborted);
  // Always said, even after shutdown_send: the session drops the exchange once both are done.
  if (s.events != nullptr) s.events->response_bytes(s.id);
}

}  // namespace ringproxy
