#include "support/ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

namespace ringproxy::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

WsClient::WsClient(asio::io_context* shared) : shared_(shared) {
  if (!shared_) own_ = std::make_unique<asio::io_context>();
}

WsClient::~WsClient() {
  if (ws_) {
    boost::system::error_code ignored;
    beast::get_lowest_layer(*ws_).close(ignored);
  }
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
  boost::system::error_code ignored;
  beast::get_lowest_layer(*ws_).close(ignored);  // the pending operation completes, aborted
  ioc().restart();
  while (!done) ioc().run_one();
  return false;
}

bool WsClient::connect(std::uint16_t port, std::string_view target, const HeaderList& headers) {
  ws_ = std::make_unique<websocket::stream<tcp::socket>>(ioc());
  ws_->read_message_max(64 * 1024 * 1024);
  ws_->write_buffer_bytes(64 * 1024);  // masking works through this buffer: 4 KiB by default
  status_ = 0;
  response_headers_.clear();
  boost::system::error_code ec;
  beast::get_lowest_layer(*ws_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                        ec);
  if (ec) {
    error_ = "connect: " + ec.message();
    return false;
  }
  ws_->set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  auto pongs = pongs_;
  auto last = last_pong_;
  ws_->control_callback([pongs, last](websocket::frame_type kind, beast::string_view payload) {
    if (kind != websocket::frame_type::pong) return;
    ++*pongs;
    last->assign(payload.data(), payload.size());
  });
  websocket::response_type res;
  bool done = false;
  ws_->async_handshake(res, "localhost", std::string(target), [&](boost::system::error_code e) {
    ec = e;
    done = true;
  });
  const bool in_time = await(done, timeout_);
  status_ = res.result_int();
  for (const auto& f : res) response_headers_.emplace_back(f.name_string(), f.value());
  if (!in_time) return false;
  if (ec) error_ = "handshake: " + ec.message();
  return !ec;
}

bool WsClient::send(std::string_view message, bool binary) {
  ws_->binary(binary);
  bool done = false;
  boost::system::error_code ec;
  ws_->async_write(asio::buffer(message.data(), message.size()),
                   [&](boost::system::error_code e, std::size_t) {
                     ec = e;
                     done = true;
                   });
  if (!await(done, timeout_)) return false;
  if (ec) error_ = "write: " + ec.message();
  return !ec;
}

std::optional<std::string> WsClient::receive() {
  beast::flat_buffer buffer;
  bool done = false;
  boost::system::error_code ec;
  ws_->async_read(buffer, [&](boost::system::error_code e, std::size_t) {
    ec = e;
    done = true;
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
  ws_->async_ping(websocket::ping_data(payload.data(), payload.size()),
                  [&](boost::system::error_code e) {
                    ec = e;
                    done = true;
                  });
  if (!await(done, timeout_)) return false;
  if (ec) error_ = "ping: " + ec.message();
  return !ec;
}

bool WsClient::close() {
  bool done = false;
  boost::system::error_code ec;
  ws_->async_close(websocket::close_code::normal, [&](boost::system::error_code e) {
    ec = e;
    done = true;
  });
  if (!await(done, timeout_)) return false;
  if (ec) error_ = "close: " + ec.message();
  return !ec;
}

int WsClient::close_code() const {
  return static_cast<int>(ws_->reason().code);
}

bool WsClient::wait_closed(std::chrono::milliseconds within) {
  beast::flat_buffer buffer;
  bool done = false;
  boost::system::error_code ec;
  ws_->async_read(buffer, [&](boost::system::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!await(done, within)) return false;
  return static_cast<bool>(ec);  // a message is not an end
}

}  // namespace ringproxy::test
