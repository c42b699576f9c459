// A WebSocket client for tests: Beast's websocket::stream over TCP, every step bounded by a
// timeout so that a test never hangs.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "support/origin_server.hpp"

namespace ringproxy::test {

// One WebSocket connection. Several clients may share one io_context (given at construction)
// when they are used one at a time from one thread, which then runs it; not thread-safe.
class WsClient {
 public:
  explicit WsClient(boost::asio::io_context* shared = nullptr);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  // Connects to 127.0.0.1:port and upgrades at target, sending headers too. False (with
  // last_error(), and the answer's status and headers when one came) when it did not switch.
  bool connect(std::uint16_t port, std::string_view target, const HeaderList& headers = {});
  int status() const { return status_; }  // the upgrade answer's status (101 when it switched)
  const HeaderList& response_headers() const { return response_headers_; }

  bool send(std::string_view message, bool binary = true);
  // The next message; nullopt (with last_error()) on a close, an error or the timeout.
  std::optional<std::string> receive();
  // Sends a ping; the pong is seen by a later receive() (pongs() counts them).
  bool ping(std::string_view payload);
  std::size_t pongs() const { return *pongs_; }
  const std::string& last_pong() const { return *last_pong_; }
  // The close handshake with code 1000: true when the peer's close frame came back and the
  // connection ended; close_code() is then the peer's code.
  bool close();
  int close_code() const;
  // Waits until the peer ends the connection (a TCP close without a close frame included):
  // true when it did within `within`.
  bool wait_closed(std::chrono::milliseconds within);
  std::string last_error() const { return error_; }

 private:
  // Runs the io_context until done is set or the timeout passes (then the socket is closed).
  bool await(const bool& done, std::chrono::milliseconds timeout);
  boost::asio::io_context& ioc() { return shared_ ? *shared_ : *own_; }

  std::unique_ptr<boost::asio::io_context> own_;
  boost::asio::io_context* shared_;
  std::unique_ptr<boost::beast::websocket::stream<boost::asio::ip::tcp::socket>> ws_;
  std::chrono::milliseconds timeout_{10000};
  int status_ = 0;
  HeaderList response_headers_;
  std::string error_;
  std::shared_ptr<std::size_t> pongs_ = std::make_shared<std::size_t>(0);
  std::shared_ptr<std::string> last_pong_ = std::make_shared<std::string>();
};

}  // namespace ringproxy::test
