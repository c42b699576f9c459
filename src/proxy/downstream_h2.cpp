// An HTTP/2 stream's request taken as fields by its pipeline (see downstream_connection.hpp).
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
    return false;  // start() names serve_taken for every stream type; only a pipe takes one
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
asio::awaitable<void> DownstreamConnection<Stream>::serve_taken() {
  start_connection();
  if (reset_by_client(stream_)) {
    // Reset before this first step (an RST_STREAM right behind its HEADERS: rapid reset,
    // CVE-2023-44487): nobody to answer, and no backend hears of it.
  } else if (taken_refusal_ != 0) {
    co_await answer_refusal(taken_refusal_);
  } else if (taken_error_) {
    co_await answer_head_error(taken_error_);
  } else {
    const RequestEnd end = co_await serve();
    const bool read_whole = request_->is_done();
    finish_request();
    if (end == RequestEnd::close) co_await linger_close(read_whole);
  }
  closed_ = true;
  boost::system::error_code ignored;
  stream_.close(ignored);
}

// Taken only on a PipeStream; start() names serve_taken for every stream type.
template void DownstreamConnection<PipeStream>::take_h2_request(const H2RequestHead&, bool);
template asio::awaitable<void> DownstreamConnection<TcpStream>::serve_taken();
template asio::awaitable<void> DownstreamConnection<TlsStream>::serve_taken();
template asio::awaitable<void> DownstreamConnection<PipeStream>::serve_taken();

}  // namespace ringproxy
