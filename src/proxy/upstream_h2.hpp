// HTTP/2 to a backend for one request: the H2Leg of an UpstreamExchange (private to
// upstream_h2*.cpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/h2_client_connection.hpp"
#include "proxy/upstream_exchange.hpp"

namespace ringproxy {

// One request sent as one HTTP/2 stream per attempt on the worker's shared connections to
// the backend: the attempts (retries on streams the backend did not process, breaker and
// in-flight counts as for HTTP/1.1), then the request body and the response relayed at the
// same time (full duplex), trailers included. A local of run_h2() on its connection's worker
// thread.
template <class Stream>
class UpstreamExchange<Stream>::H2Leg {
 public:
  explicit H2Leg(UpstreamExchange& x);
  ~H2Leg();
  H2Leg(const H2Leg&) = delete;
  H2Leg& operator=(const H2Leg&) = delete;

  boost::asio::awaitable<RequestEnd> run();

 private:
  using Clock = std::chrono::steady_clock;
  // How one attempt's stream ended.
  enum class Outcome {
    done,     // answered (end_ says how the client connection goes on)
    refused,  // the backend did not process it: another connection may take it
    failed,   // no response head: x_.last_ says why
  };

  // The request's fields for HTTP/2 (pseudo-headers first), from the HTTP/1.1 head begin()
  // wrote: hop-by-hop fields dropped, Host as :authority, "te: trailers" when the client
  // accepts trailers; and the grpc-timeout deadline.
  void build_request();
  // A connection to backend with this stream counted on it (waiting while it connects), or
  // nullptr when connecting failed (counted as for HTTP/1.1).
  boost::asio::awaitable<std::shared_ptr<H2ClientConnection>> connection(BackendState& backend);
  boost::asio::awaitable<Outcome> attempt(H2ClientConnection& h2);
  // The client's body into the stream while it has room (flow control backs the client off).
  boost::asio::awaitable<void> upload(H2ClientConnection& h2);
  // Waits for the response head, then relays head, body and trailers to the client.
  boost::asio::awaitable<void> download(H2ClientConnection& h2);
  boost::asio::awaitable<Outcome> await_head();
  // The client's response head in conn_.response_head_ (response filter), and the breaker.
  void filter_head();
  boost::asio::awaitable<void> relay_body(H2ClientConnection& h2);
  // Waits for the stream's next event until deadline: false when the deadline passed first.
  boost::asio::awaitable<bool> wait_response(Clock::time_point deadline);
  Clock::time_point next_deadline() const;
  // Ends the upload coroutine (its read from the client cancelled) when the response is over.
  void stop_upload();
  // Once the client's chunked body is read whole: its trailer section out of the message into
  // the stream's upload_trailers (kept for a retry's stream); false when over the head limit.
  bool take_request_trailers();

  UpstreamExchange& x_;
  std::shared_ptr<H2Stream> stream_;        // this attempt's stream
  std::shared_ptr<H2ClientConnection> h2_;  // the connection it is on
  WorkerTimer response_signal_;
  WorkerTimer upload_signal_;
  std::string fields_;  // names and values, nva_ points into it
  std::vector<nghttp2_nv> nva_;
  H2Stream::Fields request_trailers_;  // what take_request_trailers took, for every attempt
  bool trailers_taken_ = false;
  Clock::time_point grpc_deadline_ = Clock::time_point::max();
  bool trailers_ok_ = false;  // the client sent TE: trailers
  bool upload_reading_ = false;
  bool upload_stopped_ = false;
  bool wrote_ = false;  // bytes of the response reached the client
  bool chunked_ = false;
  bool no_body_ = false;
  boost::system::error_code upload_error_;
  Outcome outcome_ = Outcome::failed;
  RequestEnd end_ = RequestEnd::abort;
};

}  // namespace ringproxy
