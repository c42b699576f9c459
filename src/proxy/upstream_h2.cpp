// HTTP/2 to a backend: the attempts and the request's fields (see upstream_h2.hpp).
#include "proxy/upstream_h2.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <cctype>

#include "http/http_status.hpp"
#include "log/log.hpp"
#include "policy/http_fields.hpp"

namespace ringproxy {

namespace asio = boost::asio;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// A stream refused (GOAWAY, REFUSED_STREAM) goes again on another connection this often.
constexpr unsigned kMaxRefusals = 3;

// Fields an HTTP/2 request must not carry (RFC 9113 §8.2.2), or that go as pseudo-headers.
bool dropped_for_h2(std::string_view lower_name) {
  static constexpr std::string_view kDropped[] = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
      "te",         "host",       "http2-settings"};
  for (std::string_view d : kDropped) {
    if (lower_name == d) return true;
  }
  return false;
}

// grpc-timeout (gRPC over HTTP/2: up to 8 digits and a unit H M S m u n) as a duration.
std::optional<std::chrono::nanoseconds> grpc_timeout(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  std::int64_t n = 0;
  for (char c : v.substr(0, v.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  using namespace std::chrono;
  switch (v.back()) {
    case 'H':
      return hours(n);
    case 'M':
      return minutes(n);
    case 'S':
      return seconds(n);
    case 'm':
      return milliseconds(n);
    case 'u':
      return microseconds(n);
    case 'n':
      return nanoseconds(n);
    default:
      return std::nullopt;
  }
}
}  // namespace

template <class Stream>
asio::awaitable<RequestEnd> UpstreamExchange<Stream>::run_h2() {
  H2Leg leg(*this);
  co_return co_await leg.run();
}

template <class Stream>
UpstreamExchange<Stream>::H2Leg::H2Leg(UpstreamExchange& x)
    : x_(x),
      response_signal_(x.conn_.stream_.get_executor()),
      upload_signal_(x.conn_.stream_.get_executor()) {}

template <class Stream>
UpstreamExchange<Stream>::H2Leg::~H2Leg() {
  // Ended before its stream did (the worker stopped): the session lets go of it.
  if (h2_ && stream_) h2_->session().cancel(*stream_);
}

template <class Stream>
void UpstreamExchange<Stream>::H2Leg::build_request() {
  const auto& req = x_.conn_.request_->get();
  for (const auto& f : req) {
    if (iequals(f.name_string(), "te")) {
      const std::string_view v = f.value();
      for (std::size_t at = 0; at + 8 <= v.size(); ++at) {
        if (iequals(v.substr(at, 8), "trailers")) trailers_ok_ = true;
      }
    } else if (iequals(f.name_string(), "grpc-timeout")) {
      if (const auto t = grpc_timeout(f.value())) grpc_deadline_ = x_.ctx_.started + *t;
    }
  }
  // The head begin() wrote: "METHOD TARGET HTTP/1.1\r\n" then "Name: value\r\n" lines.
  const std::string_view head = x_.conn_.upstream_head_;
  const std::size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = line.rfind(' ');
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // (name, value) offsets in fields_
  fields_.clear();
  fields_.reserve(head.size() + 64);
  auto add = [&](std::string_view name, std::string_view value) {
    spans.emplace_back(fields_.size(), name.size());
    fields_.append(name);
    spans.emplace_back(fields_.size(), value.size());
    fields_.append(value);
  };
  const std::string_view authority =
      x_.ctx_.host.empty() ? std::string_view(x_.conn_.client_.local_authority) : x_.ctx_.host;
  add(":method", line.substr(0, sp1));
  add(":scheme", x_.ucfg_.protocol == UpstreamProtocol::h2 ? "https" : "http");
  add(":authority", authority);
  add(":path", line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::string lower;
  for (std::size_t at = line_end + 2; at < head.size();) {
    const std::size_t end = head.find("\r\n", at);
    if (end == std::string_view::npos || end == at) break;
    const std::string_view field = head.substr(at, end - at);
    at = end + 2;
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos) continue;
    lower.assign(field.substr(0, colon));
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (dropped_for_h2(lower)) continue;
    std::string_view value = field.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    add(lower, value);
  }
  if (trailers_ok_) add("te", "trailers");
  nva_.clear();
  for (std::size_t i = 0; i + 1 < spans.size(); i += 2) {
    nva_.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(fields_.data() + spans[i].first),
                              reinterpret_cast<uint8_t*>(fields_.data() + spans[i + 1].first),
                              spans[i].second, spans[i + 1].second, NGHTTP2_NV_FLAG_NONE});
  }
}

template <class Stream>
asio::awaitable<RequestEnd> UpstreamExchange<Stream>::H2Leg::run() {
  build_request();
  unsigned refusals = 0;
  bool fresh_retry_used = false;
  while (!x_.body_consumed_) {
    BackendState* const backend = x_.selection_.next(x_.last_ == Failure::stale_before_reply);
    if (!backend) break;
    x_.start_attempt(*backend);
    for (;;) {
      h2_ = co_await connection(*backend);
      if (!h2_) break;  // the next backend
      const Outcome outcome = co_await attempt(*h2_);
      h2_->remove_stream();
      h2_.reset();
      if (outcome == Outcome::done) co_return end_;
      if (outcome == Outcome::refused && !x_.body_consumed_ && ++refusals < kMaxRefusals) {
        continue;  // not processed: again on a connection that is not going away
      }
      if (outcome == Outcome::refused) x_.last_ = Failure::stale_before_reply;
      // Lost before any response byte (the connection died under it): an idempotent request
      // goes once more on another connection, as a stale HTTP/1.1 one does.
      const AfterFailure next = x_.after_head_failure(!fresh_retry_used);
      fresh_retry_used = true;
      if (next == AfterFailure::fresh_connection) continue;
      if (next == AfterFailure::next_backend) break;
      co_return co_await x_.conn_.respond_status(
          x_.ctx_, x_.last_ == Failure::response_timeout ? 504 : 502, x_.ctx_.keep_alive);
    }
  }
  co_return co_await x_.answer_no_backend();
}

template <class Stream>
asio::awaitable<std::shared_ptr<H2ClientConnection>> UpstreamExchange<Stream>::H2Leg::connection(
    BackendState& backend) {
  std::unique_ptr<MultiplexedPool>& owned = x_.conn_.worker_.h2_pool();
  if (!owned) {
    owned = std::make_unique<H2ConnectionPool>(x_.conn_.worker_.context().get_executor(),
                                               x_.conn_.worker_.metrics());
  }
  auto& pool = static_cast<H2ConnectionPool&>(*owned);
  const bool tls = x_.ucfg_.tls.has_value();
  if (auto h2 = pool.place(backend.slot, tls, x_.ucfg_.max_idle_per_backend)) {
    if (h2->state() == H2ClientConnection::State::connecting) {
      // Another request opens it; its connect deadline ends the wait either way.
      co_await h2->ready().async_wait(use_nothrow);
    }
    if (h2->state() == H2ClientConnection::State::open) co_return h2;
    h2->remove_stream();
    x_.last_ = Failure::connect_refused;
    x_.fail_attempt();
    x_.selection_.lease().reset();
    co_return nullptr;
  }
  auto h2 = pool.add(backend.slot, tls);
  std::unique_ptr<UpstreamConnection> c = co_await x_.connect(backend);
  if (!c) {
    h2->fail();
    h2->remove_stream();
    co_return nullptr;
  }
  h2->start(std::move(c));
  co_return h2;
}

template <class Stream>
asio::awaitable<typename UpstreamExchange<Stream>::H2Leg::Outcome>
UpstreamExchange<Stream>::H2Leg::attempt(H2ClientConnection& h2) {
  using namespace asio::experimental::awaitable_operators;
  auto& request = *x_.conn_.request_;
  stream_ = std::make_shared<H2Stream>();
  stream_->on_response = [this] { response_signal_.cancel(); };
  stream_->on_upload = [this] { upload_signal_.cancel(); };
  if (x_.buffered_.data != nullptr) stream_->upload.assign(x_.buffered_.data, x_.buffered_.size);
  stream_->upload_end = request.is_done();
  if (request.is_done() && !take_request_trailers()) {  // the body came whole before a stream
    end_ = co_await x_.answer_body_error(boost::beast::http::error::header_limit);
    co_return Outcome::done;
  }
  const bool with_body = !request.is_done() || x_.buffered_.size > 0;
  outcome_ = Outcome::failed;
  upload_stopped_ = false;
  upload_error_ = {};
  if (!h2.session().submit(stream_, nva_, with_body)) {
    x_.last_ = Failure::stale_before_reply;
    co_return Outcome::failed;
  }
  WorkerMetrics::count_request(x_.counts_);
  WorkerMetrics::count_h2_upstream_stream(x_.counts_);
  WorkerMetrics::add_in_flight(x_.counts_, 1);
  h2.flush();
  if (!request.is_done() && x_.ctx_.expect_continue && !x_.continue_sent_) {
    x_.continue_sent_ = true;
    if (!co_await x_.conn_.write_client(kContinueResponse)) {
      upload_error_ = asio::error::broken_pipe;
    }
  }
  if (!request.is_done() && !upload_error_) {
    co_await (upload(h2) && download(h2));
  } else {
    co_await download(h2);
  }
  WorkerMetrics::add_in_flight(x_.counts_, -1);
  const bool open = !stream_->closed;
  h2.session().cancel(*stream_);  // its callbacks dropped; RST_STREAM when still open
  if (open) h2.flush();
  co_return outcome_;
}

template <class Stream>
asio::awaitable<typename UpstreamExchange<Stream>::H2Leg::Outcome>
UpstreamExchange<Stream>::H2Leg::await_head() {
  const Clock::time_point deadline =
      std::min(Clock::now() + x_.ucfg_.response_timeout, grpc_deadline_);
  for (;;) {
    if (upload_error_) co_return Outcome::done;
    if (stream_->head) co_return Outcome::done;
    if (stream_->closed) {
      if (stream_->refused) co_return Outcome::refused;
      x_.last_ = Failure::stale_before_reply;  // reset or lost before any response byte
      log::debug("HTTP/2 stream to " + x_.backend_->key + " closed before a response (error " +
                 std::to_string(stream_->error) + ", stream " + std::to_string(stream_->id) +
                 (h2_->session().going_away() ? ", going away" : "") + ")");
      co_return Outcome::failed;
    }
    if (!co_await wait_response(deadline)) {
      x_.last_ = Failure::response_timeout;
      co_return Outcome::failed;
    }
  }
}

template <class Stream>
asio::awaitable<bool> UpstreamExchange<Stream>::H2Leg::wait_response(Clock::time_point deadline) {
  response_signal_.expires_at(deadline);
  auto [ec] = co_await response_signal_.async_wait(use_nothrow);
  co_return ec || Clock::now() < deadline;  // cancelled: the stream had news
}

template <class Stream>
typename UpstreamExchange<Stream>::H2Leg::Clock::time_point
UpstreamExchange<Stream>::H2Leg::next_deadline() const {
  return std::min(Clock::now() + x_.ucfg_.response_timeout, grpc_deadline_);
}

template <class Stream>
void UpstreamExchange<Stream>::H2Leg::stop_upload() {
  upload_stopped_ = true;
  upload_signal_.cancel();
  if (upload_reading_) {
    boost::system::error_code ignored;
    x_.conn_.stream_.cancel(ignored);
  }
}

template class UpstreamExchange<TcpStream>::H2Leg;
template class UpstreamExchange<TlsStream>::H2Leg;
template class UpstreamExchange<PipeStream>::H2Leg;
template asio::awaitable<RequestEnd> UpstreamExchange<TcpStream>::run_h2();
template asio::awaitable<RequestEnd> UpstreamExchange<TlsStream>::run_h2();
template asio::awaitable<RequestEnd> UpstreamExchange<PipeStream>::run_h2();

}  // namespace ringproxy
