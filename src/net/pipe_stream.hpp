// An in-memory byte stream with TcpStream's members: one multiplexed exchange (an HTTP/2
// stream) presented to the HTTP/1.1 request pipeline as if it were a connection of its own.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/worker_socket.hpp"
#include "policy/http_fields.hpp"

namespace ringproxy {

// One pending wait of a pipe (a read waiting for bytes, a write for room): a timer that never
// expires, cancelled by notify (which sets the wait's outcome), or by the wait's own
// cancellation slot (the `||` of awaitable operators). The timer is made by the first wait that
// blocks (most streams' waits find their bytes ready). Completions are never inline.
// Worker thread only.
class PipeWaiter {
 public:
  using Executor = boost::asio::io_context::executor_type;
  explicit PipeWaiter(const Executor& ex) : ex_(ex) {}

  // Completes when notified (with its error), at once (posted) when ready; keep is held by
  // the operation (the owner of this waiter).
  template <class Token>
  auto wait(bool ready, std::shared_ptr<const void> keep, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        [this, ready, keep = std::move(keep), step = 0](auto& self,
                                                        boost::system::error_code ec = {}) mutable {
          if (step++ == 0) {
            if (ready) {
              boost::asio::post(ex_, std::move(self));
              return;
            }
            if (!timer_) timer_.emplace(ex_, WorkerTimer::time_point::max());
            waiting_ = true;
            notified_.reset();
            timer_->async_wait(std::move(self));
            return;
          }
          if (ready) {
            self.complete({});
            return;
          }
          waiting_ = false;
          const boost::system::error_code result = notified_ ? *notified_ : ec;
          notified_.reset();
          self.complete(result);
        },
        token, ex_);
  }
  // Completes the pending wait, if any, with ec.
  void notify(boost::system::error_code ec = {}) {
    if (!waiting_ || notified_) return;
    notified_ = ec;
    timer_->cancel();
  }
  bool pending() const { return waiting_; }

 private:
  Executor ex_;
  std::optional<WorkerTimer> timer_;  // made by the first wait that blocks
  std::optional<boost::system::error_code> notified_;
  bool waiting_ = false;
};

// What a pipe tells the session that feeds it (an HTTP/2 connection). Worker thread only;
// never called from inside the session's own callbacks (pipe operations run in the
// pipeline's coroutine).
class PipeEvents {
 public:
  // The pipeline read n request bytes: room for more (flow control).
  virtual void request_bytes_read(std::uint32_t id, std::size_t n) = 0;
  // Response bytes came (or the response side ended: out_shut).
  virtual void response_bytes(std::uint32_t id) = 0;
  // The final response head as fields (names lower-case), before any of its body, which is
  // length bytes (none for a response that has no body): true when the session took it, false
  // when it must come as text (nothing was done).
  virtual bool response_head(std::uint32_t id, int status, const std::vector<FieldView>& fields,
                             std::uint64_t length) = 0;

 protected:
  ~PipeEvents() = default;
};

// The two byte queues of one exchange, shared by the session (which fills `in` and drains
// `out`) and the pipeline's PipeStream. Worker thread only.
struct PipeState {
  PipeState(const PipeWaiter::Executor& executor, std::uint32_t stream_id, PipeEvents* e,
            std::size_t out_capacity)
      : ex(executor),
        id(stream_id),
        events(e),
        out_cap(out_capacity),
        reader(executor),
        writer(executor) {}

  bool readable() const { return in_off < in.size() || in_end || in_error; }
  // Request bytes from the session; end: no more will come.
  void feed(const char* data, std::size_t n);
  void feed(std::string&& bytes);
  void end_request();
  // The client is gone (reset): every operation fails from now on.
  void reset();
  // Response bytes the session took (room again for the pipeline's writes).
  void consumed_output(std::size_t n);
  // Drops a queue's front that was already taken (see pipe_stream.cpp).
  static void drop_taken(std::string& queue, std::size_t& off);

  PipeWaiter::Executor ex;
  std::uint32_t id;
  PipeEvents* events;  // null once the session is gone
  std::string in;      // request bytes for the pipeline, from in_off on
  std::size_t in_off = 0;
  bool in_end = false;
  boost::system::error_code in_error;
  std::string out;  // response bytes from the pipeline, from out_off on, not yet taken
  std::size_t out_off = 0;
  std::size_t out_cap;
  bool out_shut = false;     // the pipeline ended its response side (shutdown or close)
  int own_status = 0;        // the status of the proxy's own answer (not a backend's), if any
  bool pipe_closed = false;  // the pipeline closed the stream (its connection object ends)
  PipeWaiter reader;
  PipeWaiter writer;
};

// The stream type DownstreamConnection runs over for one multiplexed exchange: reads give the
// request's bytes (HTTP/1.1 text made by the session), writes take the response's, at most
// out_cap buffered (the session's flow control drains them). Worker thread only.
class PipeStream {
 public:
  using executor_type = boost::asio::io_context::executor_type;
  static constexpr bool kTls = false;
  static constexpr bool kMultiplexed = true;

  explicit PipeStream(std::shared_ptr<PipeState> state) : state_(std::move(state)) {}

  executor_type get_executor() { return state_->ex; }
  PipeState& state() { return *state_; }

  template <class MutableBuffers>
  std::size_t read_now(const MutableBuffers& buffers, boost::system::error_code& ec) {
    const boost::asio::mutable_buffer b = *boost::asio::buffer_sequence_begin(buffers);
    return read_into(static_cast<char*>(b.data()), b.size(), ec);
  }
  template <class ConstBuffers>
  std::size_t write_now(const ConstBuffers& buffers, boost::system::error_code& ec) {
    return write_from(buffers, 0, ec);
  }
  template <class ConstBuffers>
  boost::asio::awaitable<boost::system::error_code> write_rest(const ConstBuffers& buffers,
                                                               std::size_t done);
  bool may_be_readable() const { return state_->readable(); }
  void note_drained() {}
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return state_->reader.wait(state_->readable(), state_, std::forward<Token>(token));
  }
  template <class Token>
  auto async_wait_writable(Token&& token) {
    const PipeState& s = *state_;
    const bool ready = s.out.size() - s.out_off < s.out_cap || s.in_error || s.out_shut;
    return state_->writer.wait(ready, state_, std::forward<Token>(token));
  }
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        [s = state_, buffers, started = false](auto& self,
                                               boost::system::error_code ec = {}) mutable {
          PipeStream pipe(s);
          if (started || ec) {
            std::size_t n = 0;
            if (!ec) n = pipe.read_now(buffers, ec);
            if (ec || n > 0 || boost::asio::buffer_size(buffers) == 0) {
              self.complete(ec, n);
              return;
            }
          }
          started = true;
          pipe.async_wait_readable(std::move(self));
        },
        token, state_->ex);
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        [s = state_, buffers, started = false](auto& self,
                                               boost::system::error_code ec = {}) mutable {
          PipeStream pipe(s);
          if (started || ec) {
            std::size_t n = 0;
            if (!ec) n = pipe.write_now(buffers, ec);
            if (ec || n > 0) {
              self.complete(ec, n);
              return;
            }
          }
          started = true;
          pipe.async_wait_writable(std::move(self));
        },
        token, state_->ex);
  }

  void cancel(boost::system::error_code&) {
    state_->reader.notify(boost::asio::error::operation_aborted);
    state_->writer.notify(boost::asio::error::operation_aborted);
  }
  // Hands the final response head to the session as fields (PipeEvents::response_head) when
  // nothing is waiting in the pipe before it; false: write it as text.
  bool hand_response_head(int status, const std::vector<FieldView>& fields, std::uint64_t length) {
    PipeState& s = *state_;
    if (s.events == nullptr || s.in_error || s.out_shut || s.out_off < s.out.size()) return false;
    return s.events->response_head(s.id, status, fields, length);
  }
  // The response is complete (or cut off, when the session has not seen its end).
  void shutdown_send(boost::system::error_code&);
  void close(boost::system::error_code&);
  bool is_open() const { return !state_->pipe_closed; }
  // The session reset the exchange (the client's RST_STREAM, or its connection is gone).
  bool reset_by_client() const { return static_cast<bool>(state_->in_error); }

 private:
  std::size_t read_into(char* data, std::size_t size, boost::system::error_code& ec);
  std::size_t write_piece(const char* data, std::size_t size, boost::system::error_code& ec);
  template <class ConstBuffers>
  std::size_t write_from(const ConstBuffers& buffers, std::size_t done,
                         boost::system::error_code& ec) {
    std::size_t skip = done;
    std::size_t wrote = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::const_buffer b = *it;
      if (skip >= b.size()) {
        skip -= b.size();
        continue;
      }
      b += skip;
      skip = 0;
      const std::size_t n = write_piece(static_cast<const char*>(b.data()), b.size(), ec);
      wrote += n;
      if (ec || n < b.size()) break;
    }
    if (wrote > 0 && state_->events != nullptr) state_->events->response_bytes(state_->id);
    return wrote;
  }

  std::shared_ptr<PipeState> state_;
};

template <class ConstBuffers>
boost::asio::awaitable<boost::system::error_code> PipeStream::write_rest(
    const ConstBuffers& buffers, std::size_t done) {
  const std::size_t total = boost::asio::buffer_size(buffers);
  for (;;) {
    boost::system::error_code ec;
    done += write_from(buffers, done, ec);
    if (ec || done >= total) co_return ec;
    auto [wec] = co_await async_wait_writable(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (wec) co_return wec;
  }
}

}  // namespace ringproxy
