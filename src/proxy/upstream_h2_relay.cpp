// HTTP/2 to a backend: the request body and the response relayed at the same time (see
// upstream_h2.hpp).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <cctype>
#include <charconv>
#include <tuple>

#include "http/body_relay.hpp"
#include "http/forwarded_head.hpp"
#include "http/trailer_section.hpp"
#include "log/log.hpp"
#include "policy/http_fields.hpp"
#include "proxy/upstream_h2.hpp"

namespace ringproxy {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// Request body bytes held for the stream at most; past it the client is not read until the
// backend's flow control lets the session take some.
constexpr std::size_t kUploadRoom = 64 * 1024;

void append_chunk(std::string& out, std::string_view data) {
  char size[2 * sizeof(std::size_t)];
  const auto [end, ec] = std::to_chars(size, size + sizeof(size), data.size(), 16);
  out.append(size, end).append("\r\n").append(data).append("\r\n");
}
}  // namespace

template <class Stream>
asio::awaitable<void> UpstreamExchange<Stream>::H2Leg::upload(H2ClientConnection& h2) {
  auto& request = *x_.conn_.request_;
  auto& body = request.get().body();
  const auto idle = x_.snap_.config().server.idle_timeout;
  while (!request.is_done() && !upload_stopped_ && !stream_->closed) {
    if (stream_->upload.size() - stream_->upload_taken >= kUploadRoom) {
      upload_signal_.expires_at(Clock::time_point::max());
      co_await upload_signal_.async_wait(use_nothrow);
      continue;
    }
    x_.body_consumed_ = true;
    RelayBuffer& buffer = x_.relay();
    body.data = buffer.data();
    body.size = RelayBuffer::size();
    x_.conn_.arm(idle);
    upload_reading_ = true;
    const ParseBufferCap<decltype(x_.conn_.buffer_)> cap(x_.conn_.buffer_);
    auto [ec, n] =
        co_await http::async_read_some(x_.conn_.stream_, x_.conn_.buffer_, request, use_nothrow);
    upload_reading_ = false;
    const std::size_t got = RelayBuffer::size() - body.size;
    if (upload_stopped_ || stream_->closed) break;
    stream_->upload.append(buffer.data(), got);
    x_.ctx_.bytes_in += got;
    if (ec && ec != http::error::need_buffer) {
      upload_error_ = ec;
      h2.session().cancel(*stream_);
      h2.flush();
      response_signal_.cancel();
      co_return;
    }
    if (request.is_done() && !take_request_trailers()) {
      upload_error_ = http::error::header_limit;  // 431, as for a request read whole
      h2.session().cancel(*stream_);
      h2.flush();
      response_signal_.cancel();
      co_return;
    }
    if (request.is_done()) stream_->upload_end = true;
    h2.session().resume(*stream_);
    h2.flush();
  }
}

template <class Stream>
bool UpstreamExchange<Stream>::H2Leg::take_request_trailers() {
  auto& request = *x_.conn_.request_;
  if (trailers_taken_ || !request.chunked() || x_.request_trailers_.head.size() == 0) {
    stream_->upload_trailers = request_trailers_;
    return true;
  }
  trailers_taken_ = true;
  const bool within =
      take_trailers(request.get(), x_.request_trailers_.head, x_.request_trailers_.limit, true,
                    [&](auto name, auto value) {
                      std::string lower(name);
                      for (char& c : lower) {
                        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                      }
                      request_trailers_.emplace_back(std::move(lower), value);
                    });
  stream_->upload_trailers = request_trailers_;
  return within;
}

template <class Stream>
asio::awaitable<void> UpstreamExchange<Stream>::H2Leg::download(H2ClientConnection& h2) {
  outcome_ = co_await await_head();
  if (upload_error_) {
    outcome_ = Outcome::done;
    end_ = co_await x_.answer_body_error(upload_error_);
    co_return;
  }
  if (outcome_ != Outcome::done) {
    stop_upload();
    co_return;
  }
  filter_head();
  co_await relay_body(h2);
  stop_upload();
}

template <class Stream>
void UpstreamExchange<Stream>::H2Leg::filter_head() {
  auto& conn = x_.conn_;
  conn.response_arena_.reset();
  http::header<false, MessageFields> res{ArenaAllocator<char>(conn.response_arena_)};
  res.version(11);
  res.result(static_cast<unsigned>(stream_->status));
  bool known_length = false;
  for (const auto& [name, value] : stream_->headers) {
    if (name == "content-length") known_length = true;
    res.insert(name, value);
  }
  const int status = stream_->status;
  BackendLease& lease = x_.selection_.lease();
  if (status >= 500) {
    x_.fail_attempt();
  } else if (lease.success(Clock::now())) {
    log::info("breaker for " + log_name(*x_.backend_) + " closed: the trial succeeded");
  }
  no_body_ = conn.request_->get().method() == http::verb::head || status == 204 || status == 304;
  // A response that ended with its head (gRPC's trailers-only status) says so by its length,
  // not by an empty chunked body: an HTTP/2 client then gets it as one HEADERS frame.
  if (!no_body_ && !known_length && stream_->ended && stream_->body.empty()) {
    res.insert(http::field::content_length, "0");
    known_length = true;
  }
  bool keep = x_.ctx_.keep_alive && !conn.draining_;
  chunked_ = !no_body_ && !known_length && x_.ctx_.version >= 11;
  if (!no_body_ && !known_length && x_.ctx_.version < 11) keep = false;  // close-delimited
  std::string_view connection;
  if (x_.ctx_.version == 10) {
    connection = keep ? "keep-alive" : "close";
  } else if (!keep) {
    connection = "close";
  }
  x_.keep_client_ = keep;
  write_client_response_head(
      res,
      ClientResponseHead{
          chunked_, connection, x_.ctx_.rate_limit_policy, x_.ctx_.rate_limit_value, {}},
      conn.response_head_);
  x_.ctx_.status = status;
}

template <class Stream>
asio::awaitable<void> UpstreamExchange<Stream>::H2Leg::relay_body(H2ClientConnection& h2) {
  // Two buffers that trade places with the stream's: no allocation per piece relayed.
  std::string out = x_.conn_.response_head_;
  std::string data;
  outcome_ = Outcome::done;
  for (;;) {
    data.clear();
    data.swap(stream_->body);
    // A response to HEAD (or a 204, 304) is whole with its head, whatever else comes.
    const bool ended = stream_->ended || no_body_;
    if (!data.empty() && !no_body_) {
      if (chunked_) {
        append_chunk(out, data);
      } else {
        out.append(data);
      }
      x_.ctx_.bytes_out += data.size();
    }
    if (ended && chunked_) {
      out.append("0\r\n");
      // An HTTP/2 client (a pipe's) takes trailers without asking; HTTP/1.1 ones by TE.
      if (trailers_ok_ || Stream::kMultiplexed) {
        for (const auto& [name, value] : stream_->trailers) {
          if (is_forbidden_trailer(name)) continue;
          out.append(name).append(": ").append(value).append("\r\n");
        }
      }
      out.append("\r\n");
    }
    if (!out.empty()) {
      if (!co_await x_.conn_.write_client(out)) {
        end_ = RequestEnd::abort;
        co_return;
      }
      wrote_ = true;
      out.clear();
    }
    // Relayed: the backend may send as much again (flow control holds it back otherwise).
    h2.session().consume(*stream_, data.size());
    h2.flush();
    if (ended) break;
    if (stream_->closed) {
      // Reset or lost before the end: never passed off as complete.
      WorkerMetrics::count_failure(x_.counts_);
      log::debug("HTTP/2 response from " + x_.backend_->key + " cut off (error " +
                 std::to_string(stream_->error) + ")");
      x_.ctx_.aborted = true;
      end_ = RequestEnd::close;
      co_return;
    }
    if (stream_->body.empty() && !stream_->ended && !co_await wait_response(next_deadline())) {
      log::debug("HTTP/2 response from " + x_.backend_->key + " timed out");
      x_.ctx_.aborted = true;
      end_ = RequestEnd::close;
      co_return;
    }
  }
  end_ =
      x_.keep_client_ && x_.conn_.request_->is_done() ? RequestEnd::keep_alive : RequestEnd::close;
}

#define RINGPROXY_H2_RELAY(S)                                                               \
  template asio::awaitable<void> UpstreamExchange<S>::H2Leg::upload(H2ClientConnection&);   \
  template asio::awaitable<void> UpstreamExchange<S>::H2Leg::download(H2ClientConnection&); \
  template void UpstreamExchange<S>::H2Leg::filter_head();                                  \
  template bool UpstreamExchange<S>::H2Leg::take_request_trailers();                        \
  template asio::awaitable<void> UpstreamExchange<S>::H2Leg::relay_body(H2ClientConnection&);
RINGPROXY_H2_RELAY(TcpStream)
RINGPROXY_H2_RELAY(TlsStream)
RINGPROXY_H2_RELAY(PipeStream)
#undef RINGPROXY_H2_RELAY

}  // namespace ringproxy
