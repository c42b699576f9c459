// The proxy's own answers on a client connection: canned statuses, refusals, the lingering
// close (see downstream_connection.hpp).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>

#include "http/http_status.hpp"
#include "proxy/downstream_connection.hpp"
#include "proxy/request_log.hpp"
#include "proxy/tls_accept.hpp"

namespace ringproxy {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// Answers a connection over max_connections with 503 and closes it.
asio::awaitable<void> refuse(WorkerSocket socket) {
  static const std::string response = make_status_response(503, false, "Retry-After: 1\r\n");
  asio::steady_timer timer(socket.get_executor());
  timer.expires_after(std::chrono::seconds(1));
  timer.async_wait([&socket](boost::system::error_code ec) {
    if (!ec) socket.cancel(ec);
  });
  co_await asio::async_write(socket, asio::buffer(response), use_nothrow);
  boost::system::error_code ec;
  socket.shutdown(WorkerSocket::shutdown_send, ec);
  char sink[1024];
  while (!ec) {
    auto [rec, n] = co_await socket.async_read_some(asio::buffer(sink), use_nothrow);
    ec = rec;
  }
  timer.cancel();
  socket.close(ec);
}

}  // namespace

ConnectionHandlers downstream_handlers() {
  ConnectionHandlers h;
  h.start = [](Worker& worker, WorkerSocket socket,
               std::optional<std::chrono::steady_clock::time_point> deadline, bool resumed) {
    std::make_shared<DownstreamConnection<TcpStream>>(worker, TcpStream(std::move(socket)),
                                                      deadline, resumed)
        ->start();
  };
  h.start_tls = start_tls_connection;
  h.refuse = [](Worker& worker, WorkerSocket socket) {
    asio::co_spawn(worker.context(), refuse(std::move(socket)), asio::detached);
  };
  return h;
}

template <class Stream>
asio::awaitable<bool> DownstreamConnection<Stream>::write_client(std::string_view bytes) {
  arm(worker_.snapshot()->config().server.idle_timeout);
  const auto buffer = asio::buffer(bytes.data(), bytes.size());
  boost::system::error_code ec;
  const std::size_t done = stream_.write_now(buffer, ec);
  if (!ec && done < bytes.size()) ec = co_await stream_.write_rest(buffer, done);
  co_return !ec;
}

template <class Stream>
asio::awaitable<RequestEnd> DownstreamConnection<Stream>::respond_status(
    RequestContext& ctx, int status, bool keep_alive, std::string_view extra_headers) {
  const bool whole = request_ && request_->is_done();
  keep_alive = keep_alive && whole && !draining_;
  ctx.status = status;
  // An HTTP/2 stream's session answers a gRPC request's failure in gRPC terms.
  if constexpr (Stream::kMultiplexed) stream_.state().own_status = status;
  const std::string response = make_status_response(status, keep_alive, extra_headers);
  ctx.bytes_out += response.size() - (response.find("\r\n\r\n") + 4);  // the body
  if (!co_await write_client(response)) co_return RequestEnd::abort;
  co_return keep_alive ? RequestEnd::keep_alive : RequestEnd::close;
}

template <class Stream>
asio::awaitable<void> DownstreamConnection<Stream>::linger_close() {
  // Half-close, then read and drop what the client still sends for a moment, so that a
  // reset does not destroy the response we just wrote (nginx's lingering close).
  boost::system::error_code ec;
  stream_.shutdown_send(ec);
  if (ec) co_return;
  arm(std::chrono::seconds(2));
  char sink[4096];
  for (std::size_t total = 0; total < 1024 * 1024;) {
    auto [rec, n] = co_await stream_.async_read_some(asio::buffer(sink), use_nothrow);
    if (rec) break;
    total += n;
  }
}

template <class Stream>
asio::awaitable<void> DownstreamConnection<Stream>::answer_refusal(int status) {
  RequestContext ctx(request_arena_);
  co_await respond_status(ctx, status, false);
  // Logged like any request, with no method or target: the head was refused unparsed.
  log_refusal(worker_, ctx, client_.ip);
  co_await linger_close();
}

template <class Stream>
asio::awaitable<void> DownstreamConnection<Stream>::answer_head_error(
    boost::system::error_code ec) {
  int status = 0;
  if (timed_out_) {
    status = 408;  // some of a head arrived (the buffer was not empty), then time ran out
  } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    status = 431;
  } else if (ec == http::error::body_limit) {
    status = 413;
  } else if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
             ec == asio::error::eof || ec == asio::error::connection_reset ||
             ec == asio::error::operation_aborted) {
    status = 0;  // the client went away mid-head: nobody to answer
  } else {
    status = 400;
  }
  if (status == 0) co_return;
  co_await answer_refusal(status);
}

template asio::awaitable<bool> DownstreamConnection<TcpStream>::write_client(std::string_view);
template asio::awaitable<RequestEnd> DownstreamConnection<TcpStream>::respond_status(
    RequestContext&, int, bool, std::string_view);
template asio::awaitable<void> DownstreamConnection<TcpStream>::linger_close();
template asio::awaitable<void> DownstreamConnection<TcpStream>::answer_refusal(int);
template asio::awaitable<void> DownstreamConnection<TcpStream>::answer_head_error(
    boost::system::error_code);

template asio::awaitable<bool> DownstreamConnection<TlsStream>::write_client(std::string_view);
template asio::awaitable<RequestEnd> DownstreamConnection<TlsStream>::respond_status(
    RequestContext&, int, bool, std::string_view);
template asio::awaitable<void> DownstreamConnection<TlsStream>::linger_close();
template asio::awaitable<void> DownstreamConnection<TlsStream>::answer_refusal(int);
template asio::awaitable<void> DownstreamConnection<TlsStream>::answer_head_error(
    boost::system::error_code);

template asio::awaitable<bool> DownstreamConnection<PipeStream>::write_client(std::string_view);
template asio::awaitable<RequestEnd> DownstreamConnection<PipeStream>::respond_status(
    RequestContext&, int, bool, std::string_view);
template asio::awaitable<void> DownstreamConnection<PipeStream>::linger_close();
template asio::awaitable<void> DownstreamConnection<PipeStream>::answer_refusal(int);
template asio::awaitable<void> DownstreamConnection<PipeStream>::answer_head_error(
    boost::system::error_code);
}  // namespace ringproxy
