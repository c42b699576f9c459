// An HTTP/2 stream's request taken as fields by its pipeline (see downstream_connection.hpp).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <exception>

#include "log/log.hpp"
#include "proxy/downstream_connection.hpp"

namespace ringproxy {

namespace asio = boost::asio;

namespace {
template <class Stream>
bool reset_by_client(const Stream& stream) {
  if constexpr (Stream::kMultiplexed) {
    return stream.reset_by_client();
  } else {
    return false;  // start() names start_taken for every stream type; only a pipe takes one
  }
}
}  // namespace

template <class Stream>
void DownstreamConnection<Stream>::take_h2_request(const H2RequestHead& head, bool body) {
  taken_ = true;
  const ServerConfig::Limits limits = worker_.snapshot()->config().server.limits();
  const HeadVerdict verdict = validate_h2_request(head.facts(), kRequestHeadLimits);
  if (!verdict) {
    log::debug("refused a request head from " + client_.ip + ": " + std::string(verdict.reason));
    taken_refusal_ = verdict.status;
    return;
  }
  taken_error_ = start_h2_request(fresh_request(limits), head, body);
}

template <class Stream>
void DownstreamConnection<Stream>::start_taken() {
  start_connection();
  auto self = this->shared_from_this();
  const auto ex = stream_.get_executor();
  if (reset_by_client(stream_)) {
    // Reset before this first step (an RST_STREAM right behind its HEADERS: rapid reset,
    // CVE-2023-44487): nobody to answer, and no backend hears of it.
    close_taken();
  } else if (taken_refusal_ != 0 || taken_error_) {
    asio::co_spawn(
        ex, [self] { return self->refuse_taken(); }, asio::detached);
  } else {
    // The steady path: serve() is the stream's coroutine, with no frame of its own around it.
    asio::co_spawn(
        ex, [self] { return self->serve(); },
        [self](const std::exception_ptr&, RequestEnd end) { self->served_taken(end); });
  }
}

template <class Stream>
void DownstreamConnection<Stream>::served_taken(RequestEnd end) {
  const bool read_whole = request_->is_done();
  finish_request();
  if (end != RequestEnd::close) {
    close_taken();
    return;
  }
  asio::co_spawn(
      stream_.get_executor(),
      [self = this->shared_from_this(), read_whole] { return self->linger_taken(read_whole); },
      asio::detached);
}

template <class Stream>
asio::awaitable<void> DownstreamConnection<Stream>::refuse_taken() {
  if (taken_refusal_ != 0) {
    co_await answer_refusal(taken_refusal_);
  } else {
    co_await answer_head_error(taken_error_);
  }
  close_taken();
}

template <class Stream>
asio::awaitable<void> DownstreamConnection<Stream>::linger_taken(bool read_whole) {
  co_await linger_close(read_whole);
  close_taken();
}

template <class Stream>
void DownstreamConnection<Stream>::close_taken() {
  closed_ = true;
  boost::system::error_code ignored;
  stream_.close(ignored);
}

// Taken only on a PipeStream; start() names start_taken for every stream type, and the
// header's extern templates leave each member here to an explicit instantiation.
template void DownstreamConnection<PipeStream>::take_h2_request(const H2RequestHead&, bool);
template void DownstreamConnection<TcpStream>::start_taken();
template void DownstreamConnection<TcpStream>::served_taken(RequestEnd);
template asio::awaitable<void> DownstreamConnection<TcpStream>::refuse_taken();
template asio::awaitable<void> DownstreamConnection<TcpStream>::linger_taken(bool);
template void DownstreamConnection<TcpStream>::close_taken();
template void DownstreamConnection<TlsStream>::start_taken();
template void DownstreamConnection<TlsStream>::served_taken(RequestEnd);
template asio::awaitable<void> DownstreamConnection<TlsStream>::refuse_taken();
template asio::awaitable<void> DownstreamConnection<TlsStream>::linger_taken(bool);
template void DownstreamConnection<TlsStream>::close_taken();
template void DownstreamConnection<PipeStream>::start_taken();
template void DownstreamConnection<PipeStream>::served_taken(RequestEnd);
template asio::awaitable<void> DownstreamConnection<PipeStream>::refuse_taken();
template asio::awaitable<void> DownstreamConnection<PipeStream>::linger_taken(bool);
template void DownstreamConnection<PipeStream>::close_taken();

}  // namespace ringproxy
