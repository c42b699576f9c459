// A WebSocket client for tests: Beast's websocket::stream over TCP, or over TLS (wss) when
// given TLS options, every step bounded by a timeout so that a test never hangs.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "support/origin_server.hpp"

namespace ringproxy::test {

// wss: the server name sent (SNI and Host) and the PEM file its certificate is checked
// against (empty: not checked).
struct WsTlsOptions {
  std::string server_name = "localhost";
  std::string ca;
};

// One WebSocket connection. Several clients may share one io_context (given at construction)
// when they are used one at a time from one thread, which then runs it; not thread-safe.
class WsClient {
 public:
  explicit WsClient(boost::asio::io_context* shared = nullptr,
                    std::optional<WsTlsOptions> tls = std::nullopt);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  // Connects to 127.0.0.1:port (with a TLS handshake first for wss) and upgrades at target,
  // sending headers too. False (with last_error(), and the answer's status and headers when
  // one came) when it did not switch.
  bool connect(std::uint16_t port, std::string_view target, const HeaderList& headers = {});
  int status() const { return status_; }  // the upgrade answer's status (101 when it switched)
  const HeaderList& response_headers() const { return response_headers_; }
  // wss: the TLS version the connection speaks ("TLSv1.3"); "" for ws.
  std::string tls_version() const;

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
  using Tcp = boost::beast::websocket::stream<boost::asio::ip::tcp::socket>;
  using Tls =
      boost::beast::websocket::stream<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>>;

  // Runs the io_context until done is set or the timeout passes (then the socket is closed).
  bool await(const bool& done, std::chrono::milliseconds timeout);
  boost::asio::io_context& ioc() { return shared_ ? *shared_ : *own_; }
  // Calls f with the websocket stream, whichever its layers.
  template <class F>
  decltype(auto) with(F&& f) {
    return std::visit([&](auto& ws) -> decltype(auto) { return f(*ws); }, ws_);
  }
  void close_socket();
  bool open_tcp(std::uint16_t port);

  std::unique_ptr<boost::asio::io_context> own_;
  boost::asio::io_context* shared_;
  std::optional<WsTlsOptions> tls_;
  std::unique_ptr<boost::asio::ssl::context> ssl_ctx_;
  std::variant<std::unique_ptr<Tcp>, std::unique_ptr<Tls>> ws_;
  std::chrono::milliseconds timeout_{10000};
  int status_ = 0;
  HeaderList response_headers_;
  std::string error_;
  std::shared_ptr<std::size_t> pongs_ = std::make_shared<std::size_t>(0);
  std::shared_ptr<std::string> last_pong_ = std::make_shared<std::string>();
};

}  // namespace ringproxy::test
