#include "support/ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace ringproxy::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

WsClient::WsClient(asio::io_context* shared, std::optional<WsTlsOptions> tls)
    : shared_(shared), tls_(std::move(tls)) {
  if (!shared_) own_ = std::make_unique<asio::io_context>();
  if (tls_) {
    ssl_ctx_ = std::make_unique<ssl::context>(ssl::context::tls_client);
    if (!tls_->ca.empty()) {
      ssl_ctx_->load_verify_file(tls_->ca);
      ssl_ctx_->set_verify_mode(ssl::verify_peer);
    }
  }
}

WsClient::~WsClient() {
  close_socket();
}

void WsClient::close_socket() {
  std::visit(
      [](auto& ws) {
        if (!ws) return;
        boost::system::error_code ignored;
        beast::get_lowest_layer(*ws).close(ignored);
      },
      ws_);
}

bool WsClient::await(const bool& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ioc().restart();
  while (!done && std::chrono::steady_clock::now() < deadline) {
    ioc().run_one_until(deadline);
    if (ioc().stopped()) ioc().restart();
  }
  if (done) return true;
  error_ = "timeout";
  close_socket();  // the pending operation completes, aborted
  ioc().restart();
  while (!done) ioc().run_one();
  return false;
}

bool WsClient::open_tcp(std::uint16_t port) {
  boost::system::error_code ec;
  if (!tls_) {
    ws_ = std::make_unique<Tcp>(ioc());
  } else {
    ws_ = std::make_unique<Tls>(ioc(), *ssl_ctx_);
  }
  with([&](auto& ws) {
    beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                        ec);
  });
  if (ec) {
    error_ = "connect: " + ec.message();
    return false;
  }
  if (!tls_) return true;
  auto& stream = std::get<std::unique_ptr<Tls>>(ws_)->next_layer();
  SSL_set_tlsext_host_name(stream.native_handle(), tls_->server_name.c_str());
  if (!tls_->ca.empty()) stream.set_verify_callback(ssl::host_name_verification(tls_->server_name));
  bool done = false;
  stream.async_handshake(ssl::stream_base::client, [&](boost::system::error_code e) {
    ec = e;
    done = true;
  });
  if (!await(done, timeout_)) return false;
  if (ec) error_ = "TLS handshake: " + ec.message();
  return !ec;
}

std::string WsClient::tls_version() const {
  if (!tls_ || !std::get<std::unique_ptr<Tls>>(ws_)) return "";
  return SSL_get_version(std::get<std::unique_ptr<Tls>>(ws_)->next_layer().native_handle());
}

bool WsClient::connect(std::uint16_t port, std::string_view target, const HeaderList& headers) {
  status_ = 0;
  response_headers_.clear();
  if (!open_tcp(port)) return false;
  websocket::response_type res;
  bool done = false;
  boost::system::error_code ec;
  auto pongs = pongs_;
  auto last = last_pong_;
  const std::string host = tls_ ? tls_->server_name : "localhost";
  with([&](auto& ws) {
    ws.read_message_max(64 * 1024 * 1024);
    ws.write_buffer_bytes(64 * 1024);  // masking works through this buffer: 4 KiB by default
    ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      for (const auto& [name, value] : headers) req.set(name, value);
    }));
    ws.control_callback([pongs, last](websocket::frame_type kind, beast::string_view payload) {
      if (kind != websocket::frame_type::pong) return;
      ++*pongs;
      last->assign(payload.data(), payload.size());
    });
    ws.async_handshake(res, host, std::string(target), [&](boost::system::error_code e) {
      ec = e;
      done = true;
    });
  });
  const bool in_time = await(done, timeout_);
  status_ = res.result_int();
  for (const auto& f : res) response_headers_.emplace_back(f.name_string(), f.value());
  if (!in_time) return false;
  if (ec) error_ = "handshake: " + ec.message();
  return !ec;
}

bool WsClient::send(std::string_view message, bool binary) {
  bool done = false;
  boost::system::error_code ec;
  with([&](auto& ws) {
    ws.binary(binary);
    ws.async_write(asio::buffer(message.data(), message.size()),
                   [&](boost::system::error_code e, std::size_t) {
                     ec = e;
                     done = true;
                   });
  });
  if (!await(done, timeout_)) return false;
  if (ec) error_ = "write: " + ec.message();
  return !ec;
}

std::optional<std::string> WsClient::receive() {
  beast::flat_buffer buffer;
  bool done = false;
  boost::system::error_code ec;
  with([&](auto& ws) {
    ws.async_read(buffer, [&](boost::system::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
  });
  if (!await(done, timeout_)) return std::nullopt;
  if (ec) {
    error_ = "read: " + ec.message();
    return std::nullopt;
  }
  return beast::buffers_to_string(buffer.data());
}

bool WsClient::ping(std::string_view payload) {
  bool done = false;
  boost::system::error_code ec;
  with([&](auto& ws) {
    ws.async_ping(websocket::ping_data(payload.data(), payload.size()),
                  [&](boost::system::error_code e) {
                    ec = e;
                    done = true;
                  });
  });
  if (!await(done, timeout_)) return false;
  if (ec) error_ = "ping: " + ec.message();
  return !ec;
}

bool WsClient::close() {
  bool done = false;
  boost::system::error_code ec;
  with([&](auto& ws) {
    ws.async_close(websocket::close_code::normal, [&](boost::system::error_code e) {
      ec = e;
      done = true;
    });
  });
  if (!await(done, timeout_)) return false;
  if (ec) error_ = "close: " + ec.message();
  return !ec;
}

int WsClient::close_code() const {
  return std::visit([](const auto& ws) { return static_cast<int>(ws->reason().code); }, ws_);
}

bool WsClient::wait_closed(std::chrono::milliseconds within) {
  beast::flat_buffer buffer;
  bool done = false;
  boost::system::error_code ec;
  with([&](auto& ws) {
    ws.async_read(buffer, [&](boost::system::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
  });
  if (!await(done, within)) return false;
  return static_cast<bool>(ec);  // a message is not an end
}

}  // namespace ringproxy::test
