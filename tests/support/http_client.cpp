#include "support/http_client.hpp"

#include <array>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/optional.hpp>

namespace ringproxy::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 1024 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool is_interim(int status) {
  return status >= 100 && status < 200 && status != 101;
}

bool is_peer_close(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message ||
         ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted;
}

template <class Fields>
void copy_headers(const Fields& fields, HeaderList& out) {
  out.clear();
  for (const auto& field : fields)
    out.emplace_back(std::string(field.name_string()), std::string(field.value()));
}

// What a request writer sends after the head.
struct RequestBody {
  std::string_view text;                       // sent as is
  std::optional<std::uint64_t> pattern_bytes;  // or this many pattern bytes
  bool chunked = false;                        // frame the pattern bytes as chunks
};

// Coordinates a request writer and a response reader running at once on one socket.
struct Exchange {
  bool writer_done = false;
  bool reader_done = false;
  bool writer_cut = false;  // the response was complete before the request was sent
  error_code write_error;
};

}  // namespace

// The client's io_context, socket and read buffer; used only from the owner's thread.
struct HttpClient::Impl {
  asio::io_context ioc_{1};
  tcp::socket socket_{ioc_};
  beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_{10000};
  std::string last_error_;
  bool peer_closed_ = false;

  // Runs `work` on the client's io_context until it is done. With `absolute`, the limit is a
  // deadline; otherwise the limit restarts whenever a handler runs (an inactivity timeout).
  // On expiry the socket is closed, which ends the work; returns false then.
  bool run(asio::awaitable<void> work, std::chrono::milliseconds limit, bool absolute = false) {
    using Clock = std::chrono::steady_clock;
    bool failed = false;
    asio::co_spawn(ioc_, std::move(work), [&failed](std::exception_ptr e) {
      if (e) failed = true;
    });
    ioc_.restart();
    auto deadline = Clock::now() + limit;
    for (;;) {
      if (ioc_.stopped()) return !failed;
      if (ioc_.run_one_until(deadline) > 0) {
        if (!absolute) deadline = Clock::now() + limit;
        continue;
      }
      if (ioc_.stopped()) return !failed;
      if (Clock::now() >= deadline) {
        error_code ignored;
        socket_.close(ignored);
        ioc_.restart();
        ioc_.run();
        return false;
      }
    }
  }

  void note_error(const error_code& ec) {
    if (is_peer_close(ec)) peer_closed_ = true;
  }

  asio::awaitable<void> write_request(const std::string& head, RequestBody body, Exchange& ex) {
    if (!body.pattern_bytes) {
      std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(body.text)};
      auto [ec, n] = co_await asio::async_write(socket_, buffers, kUseTuple);
      ex.write_error = ec;
    } else {
      std::uint64_t total = *body.pattern_bytes;
      std::uint64_t offset = 0;
      bool first = true;
      char chunk_line[24];
      while (first || offset < total) {
        auto piece =
            static_cast<std::size_t>(std::min<std::uint64_t>(kPatternPiece, total - offset));
        bool last = offset + piece == total;
        std::array<asio::const_buffer, 5> buffers;
        std::size_t count = 0;
        if (first) buffers[count++] = asio::buffer(head);
        if (body.chunked && piece > 0) {
          int len = std::snprintf(chunk_line, sizeof chunk_line, "%zx\r\n", piece);
          buffers[count++] = asio::buffer(chunk_line, static_cast<std::size_t>(len));
        }
        if (piece > 0) buffers[count++] = asio::buffer(pattern_at(offset), piece);
        if (body.chunked && piece > 0) buffers[count++] = asio::buffer("\r\n", 2);
        if (body.chunked && last) buffers[count++] = asio::buffer("0\r\n\r\n", 5);
        auto [ec, n] = co_await asio::async_write(
            socket_, std::span<const asio::const_buffer>(buffers.data(), count), kUseTuple);
        if (ec) {
          ex.write_error = ec;
          break;
        }
        offset += piece;
        first = false;
      }
    }
    ex.writer_done = true;
  }

  // Reads one response (including a 1xx one) into `out`.
  asio::awaitable<void> read_message(HttpResponse& out, bool head_request) {
    out = HttpResponse{};
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    parser.header_limit(kHeaderLimit);
    if (head_request) parser.skip(true);
    auto [ec, n] = co_await http::async_read(socket_, buffer_, parser, kUseTuple);
    if (parser.is_header_done()) {
      const auto& msg = parser.get();
      out.status = static_cast<int>(msg.result_int());
      out.reason = std::string(msg.reason());
      out.version = static_cast<int>(msg.version());
      copy_headers(msg, out.headers);
      out.keep_alive = msg.keep_alive();
      out.chunked = parser.chunked();
      out.body = parser.release().body();
    }
    if (ec) {
      note_error(ec);
      out.status = 0;
      out.keep_alive = false;
      out.error = ec.message();
    }
  }

  // Reads responses until a final one; when the request writer is still busy by then (the
  // server answered early), cancels it.
  asio::awaitable<void> read_final(HttpResponse& out, bool head_request, Exchange* ex) {
    do {
      co_await read_message(out, head_request);
    } while (out.status != 0 && is_interim(out.status));
    if (ex) {
      ex->reader_done = true;
      if (!ex->writer_done && out.status != 0) {
        ex->writer_cut = true;
        error_code ignored;
        socket_.cancel(ignored);
      }
    }
  }

  asio::awaitable<void> read_stream(StreamResult& out, bool head_request, Exchange& ex) {
    std::vector<char> buffer(kPatternPiece);
    std::optional<http::response_parser<http::buffer_body>> parser;
    error_code ec;
    for (;;) {
      parser.emplace();
      parser->body_limit(boost::none);
      parser->header_limit(kHeaderLimit);
      if (head_request) parser->skip(true);
      auto [hec, n] = co_await http::async_read_header(socket_, buffer_, *parser, kUseTuple);
      ec = hec;
      if (ec) break;
      out.status = static_cast<int>(parser->get().result_int());
      if (!is_interim(out.status)) break;
      if (!parser->is_done()) {  // a 1xx never has a body; this is defensive
        ec = http::error::bad_status;
        break;
      }
    }
    if (!ec) {
      const auto& msg = parser->get();
      copy_headers(msg, out.headers);
      out.keep_alive = msg.keep_alive();
      out.chunked = parser->chunked();
      out.pattern_ok = true;
      auto& body = parser->get().body();
      while (!parser->is_done()) {
        body.data = buffer.data();
        body.size = buffer.size();
        auto [rec, n] = co_await http::async_read(socket_, buffer_, *parser, kUseTuple);
        ec = rec == http::error::need_buffer ? error_code{} : rec;
        std::size_t got = buffer.size() - body.size;
        if (got > 0 && std::memcmp(buffer.data(), pattern_at(out.bytes), got) != 0)
          out.pattern_ok = false;
        out.bytes += got;
        if (ec) break;
      }
      out.complete = !ec && parser->is_done();
    }
    if (ec) {
      note_error(ec);
      if (out.headers.empty()) out.status = 0;
      out.keep_alive = false;
      out.error = ec.message();
    }
    ex.reader_done = true;
    if (!ex.writer_done && out.status != 0) {
      ex.writer_cut = true;
      error_code ignored;
      socket_.cancel(ignored);
    }
  }

  std::string build_head(std::string_view method, std::string_view target,
                         const HeaderList& headers, std::optional<std::uint64_t> content_length,
                         bool chunked) {
    std::string head;
    head.reserve(256);
    head.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
    bool has_host = false;
    bool has_framing = false;
    for (const auto& [name, value] : headers) {
      head.append(name).append(": ").append(value).append("\r\n");
      if (iequals(name, "host")) has_host = true;
      if (iequals(name, "content-length") || iequals(name, "transfer-encoding")) has_framing = true;
    }
    if (!has_host) head += "Host: localhost\r\n";
    if (!has_framing) {
      if (chunked)
        head += "Transfer-Encoding: chunked\r\n";
      else if (content_length)
        head.append("Content-Length: ").append(std::to_string(*content_length)).append("\r\n");
    }
    head += "\r\n";
    return head;
  }

  bool ensure_open(std::string& error) {
    if (socket_.is_open()) return true;
    error = "not connected";
    return false;
  }

  // Runs a request writer and a response reader together; fills `out` with the result.
  HttpResponse exchange(const std::string& head, RequestBody body, bool head_request) {
    HttpResponse out;
    if (!ensure_open(out.error)) return out;
    Exchange ex;
    auto both = [this, &head, body, head_request, &out, &ex]() -> asio::awaitable<void> {
      asio::co_spawn(co_await asio::this_coro::executor, write_request(head, body, ex),
                     asio::detached);
      co_await read_final(out, head_request, &ex);
    };
    bool ok = run(both(), timeout_);
    if (!ok) {
      out.status = 0;
      out.keep_alive = false;
      out.error = "timeout";
    } else if (out.status == 0 && ex.write_error && out.error.empty()) {
      out.error = ex.write_error.message();
    }
    if (ex.writer_cut) {
      out.keep_alive = false;
      error_code ignored;
      socket_.close(ignored);
    }
    return out;
  }
};

HttpClient::HttpClient() : impl_(std::make_unique<Impl>()) {
  // Beast reads at most the buffer's free capacity at a time: leave room for big reads.
  impl_->buffer_.reserve(kPatternPiece);
}

HttpClient::~HttpClient() {
  close();
}

void HttpClient::set_timeout(std::chrono::milliseconds timeout) {
  impl_->timeout_ = timeout;
}

std::chrono::milliseconds HttpClient::timeout() const {
  return impl_->timeout_;
}

bool HttpClient::connect(std::uint16_t port, std::string host, std::string source_ip) {
  close();
  auto& impl = *impl_;
  impl.last_error_.clear();
  error_code ec;
  auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) {
    impl.last_error_ = "bad host address " + host + ": " + ec.message();
    return false;
  }
  tcp::endpoint endpoint(address, port);
  impl.socket_.open(endpoint.protocol(), ec);
  if (!ec && !source_ip.empty()) {
    auto source = asio::ip::make_address(source_ip, ec);
    if (!ec) impl.socket_.bind(tcp::endpoint(source, 0), ec);
  }
  if (ec) {
    impl.last_error_ = ec.message();
    close();
    return false;
  }
  error_code connect_ec;
  auto work = [&impl, endpoint, &connect_ec]() -> asio::awaitable<void> {
    auto [e] = co_await impl.socket_.async_connect(endpoint, kUseTuple);
    connect_ec = e;
  };
  bool ok = impl.run(work(), impl.timeout_);
  if (!ok || connect_ec) {
    impl.last_error_ = ok ? connect_ec.message() : "timeout";
    close();
    return false;
  }
  impl.socket_.set_option(tcp::no_delay(true), ec);
  return true;
}

bool HttpClient::is_open() const {
  return impl_->socket_.is_open();
}

std::uint16_t HttpClient::local_port() const {
  error_code ec;
  auto endpoint = impl_->socket_.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

std::string HttpClient::last_error() const {
  return impl_->last_error_;
}

HttpResponse HttpClient::request(std::string_view method, std::string_view target,
                                 const HeaderList& headers, std::string_view body) {
  bool wants_length = !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
  std::string head = impl_->build_head(
      method, target, headers,
      wants_length ? std::optional<std::uint64_t>(body.size()) : std::nullopt, false);
  RequestBody request_body;
  request_body.text = body;
  auto out = impl_->exchange(head, request_body, method == "HEAD");
  impl_->last_error_ = out.error;
  return out;
}

bool HttpClient::send_raw(std::string_view bytes) {
  auto& impl = *impl_;
  if (!impl.ensure_open(impl.last_error_)) return false;
  error_code write_ec;
  auto work = [&impl, bytes, &write_ec]() -> asio::awaitable<void> {
    auto [ec, n] = co_await asio::async_write(impl.socket_, asio::buffer(bytes), kUseTuple);
    write_ec = ec;
  };
  bool ok = impl.run(work(), impl.timeout_);
  if (!ok || write_ec) {
    impl.last_error_ = ok ? write_ec.message() : "timeout";
    return false;
  }
  return true;
}

HttpResponse HttpClient::read_response(bool head_request) {
  auto& impl = *impl_;
  HttpResponse out;
  if (!impl.ensure_open(out.error)) return out;
  bool ok = impl.run(impl.read_message(out, head_request), impl.timeout_);
  if (!ok) {
    out.status = 0;
    out.keep_alive = false;
    out.error = "timeout";
  }
  impl.last_error_ = out.error;
  return out;
}

bool HttpClient::wait_closed(std::chrono::milliseconds within) {
  auto& impl = *impl_;
  if (impl.peer_closed_ || !impl.socket_.is_open()) return impl.peer_closed_;
  impl.buffer_.clear();
  bool closed = false;
  auto work = [&impl, &closed]() -> asio::awaitable<void> {
    std::array<char, 16384> scratch;
    for (;;) {
      auto [ec, n] = co_await impl.socket_.async_read_some(asio::buffer(scratch), kUseTuple);
      if (ec) {
        closed = ec != asio::error::operation_aborted && ec != asio::error::bad_descriptor;
        if (closed) impl.peer_closed_ = true;
        co_return;
      }
    }
  };
  bool ok = impl.run(work(), within, /*absolute=*/true);
  return ok && closed;
}

void HttpClient::close() {
  auto& impl = *impl_;
  error_code ignored;
  if (impl.socket_.is_open()) {
    impl.socket_.shutdown(tcp::socket::shutdown_both, ignored);
    impl.socket_.close(ignored);
  }
  impl.buffer_.clear();
  impl.buffer_.reserve(kPatternPiece);
  impl.peer_closed_ = false;
}

HttpResponse HttpClient::upload(std::string_view target, std::uint64_t bytes, bool chunked,
                                const HeaderList& headers, std::string_view method) {
  std::string head =
      impl_->build_head(method, target, headers,
                        chunked ? std::nullopt : std::optional<std::uint64_t>(bytes), chunked);
  RequestBody body;
  body.pattern_bytes = bytes;
  body.chunked = chunked;
  auto out = impl_->exchange(head, body, false);
  impl_->last_error_ = out.error;
  return out;
}

StreamResult HttpClient::download(std::string_view target, const HeaderList& headers,
                                  std::string_view method) {
  auto& impl = *impl_;
  StreamResult out;
  if (!impl.ensure_open(out.error)) return out;
  std::string head = impl.build_head(method, target, headers, std::nullopt, false);
  Exchange ex;
  bool head_request = method == "HEAD";
  auto both = [&impl, &head, head_request, &out, &ex]() -> asio::awaitable<void> {
    asio::co_spawn(co_await asio::this_coro::executor, impl.write_request(head, RequestBody{}, ex),
                   asio::detached);
    co_await impl.read_stream(out, head_request, ex);
  };
  bool ok = impl.run(both(), impl.timeout_);
  if (!ok) {
    out.complete = false;
    out.keep_alive = false;
    out.error = "timeout";
  }
  if (ex.writer_cut) {
    out.keep_alive = false;
    error_code ignored;
    impl.socket_.close(ignored);
  }
  impl.last_error_ = out.error;
  return out;
}

}  // namespace ringproxy::test
